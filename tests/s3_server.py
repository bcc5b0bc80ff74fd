"""A real S3 server on loopback for the storage tests: moto's `ThreadedMotoServer` (the `moto[server]`
test extra), driven with boto3 exactly as an S3 or MinIO deployment is.

`s3_server()` yields the endpoint URL; `bucket_env(monkeypatch, endpoint)` sets the standard ``AWS_*``
settings openasr's S3 store reads (as an operator would) and creates a fresh bucket for one test.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

REGION = "us-east-1"
ACCESS_KEY = "openasr-test"
SECRET_KEY = "openasr-test-secret"


@contextmanager
def s3_server() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def s3_client(endpoint: str) -> Any:
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
    )


def bucket_env(monkeypatch: pytest.MonkeyPatch, endpoint: str) -> str:
    """Point the AWS settings at `endpoint` for this test and create an empty bucket; returns its name."""
    for name, value in {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)
    bucket = f"openasr-{uuid.uuid4().hex[:12]}"
    s3_client(endpoint).create_bucket(Bucket=bucket)
    return bucket


def object_keys(endpoint: str, bucket: str) -> list[str]:
    """Every key in `bucket`, sorted."""
    pages = s3_client(endpoint).get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return sorted(item["Key"] for page in pages for item in page.get("Contents", ()))
