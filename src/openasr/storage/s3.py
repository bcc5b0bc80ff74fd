"""Blobs in an S3-compatible bucket (AWS S3, MinIO, Ceph …): ``OPENASR_STORAGE_URL=s3://bucket/prefix``.

What several API nodes must share lives here: uploads, task audio and results. boto3 reads the standard
AWS settings itself (``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
``AWS_REGION`` …); it is imported only when an ``s3://`` URL is configured (``pip install
"openasr[cluster]"``), so the default install does without it.

Writes go through boto3's managed transfer (`upload_fileobj`: multipart above 8 MB, parts in parallel)
and are atomic as S3 makes every completed object: a failed or killed write leaves no object, only an
unfinished multipart upload that `remove_partials` aborts (a bucket lifecycle rule may do the same).
``overwrite=False`` is checked before writing, not enforced by S3: callers use it on keys they made
unique (uploads go to a fresh random directory per policy), so the check catches repeats, not races;
`create` (small blobs) is a conditional PUT, atomic between nodes.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import IO, Any, cast

from openasr.storage.base import BlobExistsError, BlobInfo, BlobNotFoundError, CappedReader, check_key, join_prefix

PARTIAL_MIN_AGE_S = 3600.0
"""Multipart uploads younger than this are never aborted: another node may still be writing them."""


class S3BlobStore:
    """Blobs under `prefix` of `bucket`, through a boto3 S3 `client`.

    `presign`: result links are S3 presigned URLs (clients fetch from the bucket directly) rather than
    openasr's own signed links. `scratch_dir`: where `local_file` puts its temporary downloads.
    """

    def __init__(self, client: Any, bucket: str, prefix: str = "", *, presign: bool, scratch_dir: Path) -> None:
        self._client = client
        self.bucket = bucket
        self.prefix = check_key(prefix.strip("/")) if prefix.strip("/") else ""
        self.presign = presign
        self.scratch_dir = scratch_dir

    @classmethod
    def from_url(cls, url: str, *, presign: bool, scratch_dir: Path) -> S3BlobStore:
        """The store of ``s3://bucket/prefix``, with a client configured from the AWS environment."""
        bucket, _, prefix = url.removeprefix("s3://").partition("/")
        if not url.startswith("s3://") or not bucket:
            raise ValueError(f"storage URL {url!r} is not s3://bucket[/prefix]")
        try:
            import boto3
        except ImportError as exc:
            raise ValueError('s3:// storage needs boto3: pip install "openasr[cluster]"') from exc
        return cls(boto3.client("s3"), bucket, prefix, presign=presign, scratch_dir=scratch_dir)

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def child(self, prefix: str) -> S3BlobStore:
        nested = join_prefix(self.prefix, check_key(prefix))
        return S3BlobStore(self._client, self.bucket, nested, presign=self.presign, scratch_dir=self.scratch_dir)

    def write(self, key: str, stream: IO[bytes], *, max_bytes: int | None = None, overwrite: bool = True) -> BlobInfo:
        name = self._name(key)
        if not overwrite and self.info(key) is not None:
            raise BlobExistsError(key)
        reader = CappedReader(stream, max_bytes)
        # s3transfer aborts the multipart upload when a read fails, and re-raises the reader's own error
        self._client.upload_fileobj(reader, self.bucket, name)
        return self._head(key, name) or BlobInfo(key, reader.size_bytes, 0.0)

    def create(self, key: str, data: bytes) -> bool:
        """A conditional PUT (``If-None-Match: *``, S3's and MinIO's put-if-absent)."""
        try:
            self._client.put_object(Bucket=self.bucket, Key=self._name(key), Body=data, IfNoneMatch="*")
        except self._client.exceptions.ClientError as exc:
            if _status(exc) in (409, 412):  # taken (412), or a concurrent conditional write (409)
                return False
            raise
        return True

    def write_file(self, key: str, path: Path) -> BlobInfo:
        name = self._name(key)
        self._client.upload_file(str(path), self.bucket, name)
        return self._head(key, name) or BlobInfo(key, path.stat().st_size, 0.0)

    def open(self, key: str) -> IO[bytes]:
        try:
            answer = self._client.get_object(Bucket=self.bucket, Key=self._name(key))
        except self._client.exceptions.NoSuchKey as exc:
            raise BlobNotFoundError(key) from exc
        return cast(IO[bytes], answer["Body"])

    @contextlib.contextmanager
    def local_file(self, key: str) -> Iterator[Path]:
        self.scratch_dir.mkdir(parents=True, exist_ok=True)
        suffix = PurePosixPath(key).suffix  # the decoder reads .pcm/.raw by their extension
        fd, name = tempfile.mkstemp(prefix="openasr-blob-", suffix=suffix, dir=self.scratch_dir)
        os.close(fd)
        path = Path(name)
        try:
            try:
                self._client.download_file(self.bucket, self._name(key), name)
            except self._client.exceptions.ClientError as exc:
                if _status(exc) == 404:
                    raise BlobNotFoundError(key) from exc
                raise
            yield path
        finally:
            path.unlink(missing_ok=True)

    def info(self, key: str) -> BlobInfo | None:
        return self._head(key, self._name(key))

    def delete(self, key: str) -> None:
        self._client.delete_object(Bucket=self.bucket, Key=self._name(key))

    def list(self, prefix: str = "") -> Iterator[BlobInfo]:
        base = f"{self.prefix}/" if self.prefix else ""
        pages = self._client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=base + prefix)
        for page in pages:
            for item in page.get("Contents", ()):
                modified = cast(datetime, item["LastModified"])
                yield BlobInfo(item["Key"][len(base) :], int(item["Size"]), modified.timestamp())

    def presigned_url(self, key: str, expires_in_s: int) -> str | None:
        if not self.presign:
            return None
        params = {"Bucket": self.bucket, "Key": self._name(key)}
        return cast(str, self._client.generate_presigned_url("get_object", Params=params, ExpiresIn=expires_in_s))

    def remove_partials(self, older_than_s: float) -> int:
        """Abort multipart uploads under the prefix started before `older_than_s`, and at least
        `PARTIAL_MIN_AGE_S` ago (another node may be writing a younger one)."""
        cutoff = min(older_than_s, time.time() - PARTIAL_MIN_AGE_S)
        base = f"{self.prefix}/" if self.prefix else ""
        removed = 0
        pages = self._client.get_paginator("list_multipart_uploads").paginate(Bucket=self.bucket, Prefix=base)
        for page in pages:
            for upload in page.get("Uploads", ()):
                if cast(datetime, upload["Initiated"]).timestamp() < cutoff:
                    self._client.abort_multipart_upload(
                        Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                    )
                    removed += 1
        return removed

    # -------------------------------------------------------------------------------------- helpers

    def _name(self, key: str) -> str:
        return join_prefix(self.prefix, check_key(key))

    def _head(self, key: str, name: str) -> BlobInfo | None:
        try:
            head = self._client.head_object(Bucket=self.bucket, Key=name)
        except self._client.exceptions.ClientError as exc:
            if _status(exc) == 404:
                return None
            raise
        return BlobInfo(key, int(head["ContentLength"]), cast(datetime, head["LastModified"]).timestamp())


def _status(exc: Exception) -> int | None:
    response = getattr(exc, "response", None) or {}
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return int(status) if status is not None else None
