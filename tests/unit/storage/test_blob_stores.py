"""The blob store contract, run against both implementations: a local directory and a real S3 server
(moto's, on loopback, through boto3 as with AWS or MinIO)."""

from __future__ import annotations

import io
import os
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from client_streams import DroppedClient
from openasr.storage import (
    BlobExistsError,
    BlobNotFoundError,
    BlobStore,
    BlobTooLargeError,
    LocalBlobStore,
    StorageConfig,
    open_store,
)
from openasr.storage.base import BLOCK_BYTES
from s3_server import bucket_env, object_keys, s3_client

MB = 1024 * 1024


@pytest.fixture(params=["local", "s3"])
def blobs(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[BlobStore]:
    """The root store of each kind, built as the server builds it (`open_store` of the settings)."""
    if request.param == "local":
        yield open_store(StorageConfig(data_dir=tmp_path / "data"))
        return
    endpoint = request.getfixturevalue("s3_endpoint")
    bucket = bucket_env(monkeypatch, endpoint)
    yield open_store(StorageConfig(data_dir=tmp_path / "data", url=f"s3://{bucket}/deploy/a"))


def test_write_read_info_and_delete(blobs: BlobStore) -> None:
    before = time.time()
    info = blobs.write("results/t1.json", io.BytesIO(b'{"a":1}'))
    assert (info.key, info.size_bytes) == ("results/t1.json", 7)
    assert before - 5 <= info.modified_at <= time.time() + 5  # S3 keeps whole seconds
    with blobs.open("results/t1.json") as stream:
        assert stream.read() == b'{"a":1}'
    assert blobs.info("results/t1.json") == info
    blobs.write("results/t1.json", io.BytesIO(b"{}"))  # replaced whole
    with blobs.open("results/t1.json") as stream:
        assert stream.read() == b"{}"
    blobs.delete("results/t1.json")
    blobs.delete("results/t1.json")  # deleting what is gone is fine
    assert blobs.info("results/t1.json") is None
    with pytest.raises(BlobNotFoundError):
        blobs.open("results/t1.json")


def test_overwrite_false_refuses_a_taken_key(blobs: BlobStore) -> None:
    blobs.write("u/a.bin", io.BytesIO(b"first"), overwrite=False)
    with pytest.raises(BlobExistsError):
        blobs.write("u/a.bin", io.BytesIO(b"second"), overwrite=False)
    with blobs.open("u/a.bin") as stream:
        assert stream.read() == b"first"


def test_create_claims_a_free_key_once(blobs: BlobStore) -> None:
    assert blobs.create("signing.key", b"first\n") is True
    assert blobs.create("signing.key", b"second\n") is False
    with blobs.open("signing.key") as stream:
        assert stream.read() == b"first\n"


def test_size_cap_and_failing_streams_leave_nothing(blobs: BlobStore) -> None:
    with pytest.raises(BlobTooLargeError) as info:
        blobs.write("u/big.bin", io.BytesIO(b"\0" * (3 * BLOCK_BYTES)), max_bytes=2 * BLOCK_BYTES + 1)
    assert info.value.max_bytes == 2 * BLOCK_BYTES + 1
    with pytest.raises(ConnectionResetError):
        blobs.write("u/cut.bin", io.BufferedReader(DroppedClient(3)))
    assert list(blobs.list()) == []
    exact = blobs.write("u/exact.bin", io.BytesIO(b"\2" * 1000), max_bytes=1000)  # the cap itself is allowed
    assert exact.size_bytes == 1000


def test_list_by_prefix_with_ages(blobs: BlobStore) -> None:
    for key in ("work/t1/source.wav", "work/t10/source.mp3", "work/t2/source.wav", "results/t1.json"):
        blobs.write(key, io.BytesIO(key.encode()))
    assert sorted(b.key for b in blobs.list("work/t1/")) == ["work/t1/source.wav"]
    assert sorted(b.key for b in blobs.list("work/t1")) == ["work/t1/source.wav", "work/t10/source.mp3"]
    assert sorted(b.key for b in blobs.list()) == [
        "results/t1.json",
        "work/t1/source.wav",
        "work/t10/source.mp3",
        "work/t2/source.wav",
    ]
    assert all(abs(b.modified_at - time.time()) < 60 for b in blobs.list())
    assert list(blobs.list("nothing/")) == []


def test_child_scopes_keys(blobs: BlobStore) -> None:
    results = blobs.child("results")
    results.write("t1.json", io.BytesIO(b"{}"))
    assert [b.key for b in results.list()] == ["t1.json"]
    assert [b.key for b in blobs.list()] == ["results/t1.json"]
    assert results.info("t1.json") == blobs.child("results").info("t1.json")
    assert blobs.info("t1.json") is None


@pytest.mark.parametrize("key", ["../escape", "a/../../b", "/abs", "a//b", "", "a\\b", "./a"])
def test_keys_never_leave_the_store(blobs: BlobStore, key: str) -> None:
    with pytest.raises(ValueError):
        blobs.write(key, io.BytesIO(b"x"))
    with pytest.raises(ValueError):
        blobs.child(key)


def test_local_file_keeps_the_suffix_and_the_bytes(blobs: BlobStore, tmp_path: Path) -> None:
    audio = tmp_path / "take.pcm"
    audio.write_bytes(os.urandom(3000))
    blobs.write_file("work/t1/source.pcm", audio)
    audio.unlink()  # the store's copy outlives the caller's file
    with blobs.local_file("work/t1/source.pcm") as path:
        assert path.suffix == ".pcm"  # the decoder reads headerless PCM by its extension
        assert path.stat().st_size == 3000
    with pytest.raises(BlobNotFoundError), blobs.local_file("work/t1/missing.wav"):
        pass


def test_big_blob_goes_in_parts_and_comes_back_whole(blobs: BlobStore) -> None:
    """9 MB: over boto3's 8 MB multipart threshold, so S3 gets a multipart upload."""
    data = os.urandom(64 * 1024) * 144
    info = blobs.write("uploads/big.bin", io.BufferedReader(io.BytesIO(data)), max_bytes=10 * MB)  # type: ignore[arg-type]
    assert info.size_bytes == len(data)
    with blobs.open("uploads/big.bin") as stream:
        assert stream.read() == data


def test_links_are_the_stores_own_only_when_it_makes_them(blobs: BlobStore) -> None:
    blobs.write("results/t1.json", io.BytesIO(b'{"ok":true}'))
    assert blobs.presigned_url("results/t1.json", 60) is None  # openasr signs links to its own route


def test_presigned_s3_links_fetch_without_credentials(
    s3_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = bucket_env(monkeypatch, s3_endpoint)
    config = StorageConfig(data_dir=tmp_path, url=f"s3://{bucket}/p", presigned_links=True)
    results = open_store(config).child("results")
    results.write("t1.json", io.BytesIO(b'{"ok":true}'))
    url = results.presigned_url("t1.json", 60)
    assert url is not None and url.startswith(f"{s3_endpoint}/{bucket}/p/results/t1.json?")
    with urllib.request.urlopen(url, timeout=10) as answer:
        assert answer.read() == b'{"ok":true}'
    assert object_keys(s3_endpoint, bucket) == ["p/results/t1.json"]


def test_partials_of_killed_writes_are_removed_when_old(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    store.write("u/a.bin", io.BytesIO(b"whole"))
    stale = tmp_path / "u" / "b.bin.0123abcd.part"
    fresh = tmp_path / "u" / "c.bin.4567cdef.part"
    for path in (stale, fresh):
        path.write_bytes(b"half")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    assert [b.key for b in store.list()] == ["u/a.bin"]  # partials are never listed
    assert store.remove_partials(time.time() - 3600) == 1
    assert sorted(p.name for p in (tmp_path / "u").iterdir()) == ["a.bin", fresh.name]


def test_s3_aborts_unfinished_multipart_uploads_under_its_prefix(
    s3_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a node killed mid-upload leaves. moto reports every upload as initiated in 2010, so both count
    as old here; the age rule (`PARTIAL_MIN_AGE_S`) itself is not exercised against moto."""
    bucket = bucket_env(monkeypatch, s3_endpoint)
    store = open_store(StorageConfig(data_dir=tmp_path, url=f"s3://{bucket}/mine"))
    client = s3_client(s3_endpoint)
    client.create_multipart_upload(Bucket=bucket, Key="mine/uploads/killed.bin")
    client.create_multipart_upload(Bucket=bucket, Key="theirs/uploads/other.bin")
    assert store.remove_partials(time.time()) == 1
    left = client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    assert [u["Key"] for u in left] == ["theirs/uploads/other.bin"]


def test_settings_name_the_store(tmp_path: Path) -> None:
    """Read at the top (`Settings`), handed down as a plain `StorageConfig`; a bad URL stops the start."""
    from pydantic import ValidationError

    from openasr.settings import Settings

    config = Settings(data_dir=tmp_path, storage_url=" s3://bucket/deploy ").storage_config()
    assert config == StorageConfig(data_dir=tmp_path, url="s3://bucket/deploy", presigned_links=False)
    assert Settings(data_dir=tmp_path, storage_url="").storage_config().url is None
    for bad in ("/srv/blobs", "s3://", "gs://bucket"):
        with pytest.raises(ValidationError, match="OPENASR_STORAGE_URL must be s3://bucket"):
            Settings(data_dir=tmp_path, storage_url=bad)


def test_unknown_storage_urls_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unsupported storage URL"):
        open_store(StorageConfig(data_dir=tmp_path, url="ftp://host/dir"))
    with pytest.raises(ValueError, match="s3://bucket"):
        open_store(StorageConfig(data_dir=tmp_path, url="s3:///no-bucket"))
