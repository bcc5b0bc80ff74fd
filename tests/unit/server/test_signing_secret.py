"""OPENASR_SIGNING_SECRET: nodes with data directories of their own (blobs in S3) but one secret accept
each other's upload policies; without it each data directory makes its own secret and they do not."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from pydantic import ValidationError

from live_server import shared_engines
from openasr.core.errors import AccessDeniedError
from openasr.server.app import build_context
from openasr.server.dashscope.uploads import policy_data
from openasr.server.deps import AppContext
from openasr.settings import Settings

SECRET_HEX = "5f" * 32
HOST = "http://127.0.0.1:8080/api/v1/uploads/oss"


@contextmanager
def _node(data_dir: Path, **settings: object) -> Iterator[AppContext]:
    config = Settings(data_dir=data_dir, **settings)  # type: ignore[arg-type]
    ctx = build_context(config, shared_engines(config.cache_dir))
    try:
        yield ctx
    finally:
        assert ctx.tasks is not None
        ctx.tasks.store.close()


def _upload_across(a: AppContext, b: AppContext) -> None:
    """A policy node A issued, used to upload to node B."""
    assert a.uploads is not None and b.uploads is not None
    cert = policy_data(a.uploads.issue_policy("sk-key", "qwen3-asr-flash-filetrans"), HOST)
    fields = {
        "OSSAccessKeyId": cert["oss_access_key_id"],
        "Signature": cert["signature"],
        "policy": cert["policy"],
        "key": cert["upload_dir"] + "/a.wav",
        "x-oss-object-acl": cert["x_oss_object_acl"],
        "x-oss-forbid-overwrite": cert["x_oss_forbid_overwrite"],
        "success_action_status": "200",
    }
    b.uploads.accept(fields, "a.wav", io.BytesIO(b"RIFF" + bytes(64)))


def test_nodes_sharing_the_secret_accept_each_others_upload_policies(tmp_path: Path) -> None:
    with _node(tmp_path / "a", signing_secret=SECRET_HEX) as a, _node(tmp_path / "b", signing_secret=SECRET_HEX) as b:
        _upload_across(a, b)
    assert not (tmp_path / "a" / "signing.key").exists()  # the configured secret, not a file


def test_nodes_with_secrets_of_their_own_refuse_each_others_policies(tmp_path: Path) -> None:
    with _node(tmp_path / "a") as a, _node(tmp_path / "b") as b, pytest.raises(AccessDeniedError):
        _upload_across(a, b)


@pytest.mark.parametrize(
    ("value", "message"), [("not-hex", "hex digits"), ("ab" * 8 + "c", "hex digits"), ("ab" * 15, "16 bytes")]
)
def test_a_malformed_secret_is_refused_at_start(value: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings(signing_secret=value)  # type: ignore[arg-type]
