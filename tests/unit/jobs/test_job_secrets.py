"""The signing secret file and API key ids."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

import pytest

from openasr.jobs.secrets import SECRET_FILE, load_or_create_secret


def test_secret_is_created_once_with_private_permissions(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    secret = load_or_create_secret(data_dir)
    path = data_dir / SECRET_FILE
    assert len(secret) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_secret(data_dir) == secret  # survives restarts
    assert load_or_create_secret(data_dir, "uploads.key") != secret
    assert sorted(p.name for p in data_dir.iterdir()) == sorted([SECRET_FILE, "uploads.key"])


def test_concurrent_creation_agrees_on_one_secret(tmp_path: Path) -> None:
    found: list[bytes] = []
    barrier = threading.Barrier(8)

    def load() -> None:
        barrier.wait()
        found.append(load_or_create_secret(tmp_path))

    threads = [threading.Thread(target=load) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(found) == 8 and len(set(found)) == 1
    assert [p.name for p in tmp_path.iterdir()] == [SECRET_FILE]  # no temp files left


def test_loose_permissions_are_tightened_and_garbage_refused(tmp_path: Path) -> None:
    secret = load_or_create_secret(tmp_path)
    path = tmp_path / SECRET_FILE
    path.chmod(0o644)
    assert load_or_create_secret(tmp_path) == secret
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.write_text("not hex\n")
    with pytest.raises(ValueError, match="delete it"):
        load_or_create_secret(tmp_path)
    path.write_text("abcd\n")
    with pytest.raises(ValueError, match="shorter"):
        load_or_create_secret(tmp_path)


def test_nodes_on_one_s3_store_share_one_secret(
    s3_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Four nodes start at once on one bucket: one secret is created, all of them read it, and it is
    not any node's data-directory secret."""
    from openasr.jobs.secrets import load_or_create_store_secret
    from openasr.storage import StorageConfig, open_store
    from s3_server import bucket_env, object_keys

    bucket = bucket_env(monkeypatch, s3_endpoint)
    nodes = [open_store(StorageConfig(data_dir=tmp_path / f"n{i}", url=f"s3://{bucket}/openasr")) for i in range(4)]
    found: list[bytes] = []
    threads = [threading.Thread(target=lambda b=b: found.append(load_or_create_store_secret(b))) for b in nodes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(found) == 4 and len(set(found)) == 1 and len(found[0]) == 32
    assert object_keys(s3_endpoint, bucket) == ["openasr/signing.key"]
    assert load_or_create_store_secret(nodes[0]) == found[0]  # survives restarts
    assert load_or_create_secret(tmp_path / "n0") != found[0]
