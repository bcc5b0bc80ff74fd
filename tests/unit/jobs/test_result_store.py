"""ResultStore: atomic result files, signed expiring URLs, purge by age."""

from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from openasr.jobs.errors import ResultNotFoundError
from openasr.jobs.results import ResultStore
from openasr.storage import LocalBlobStore

SECRET = bytes(range(32))
NOW = 1_767_261_600
KEY = "d3a9c6e2-1f4b-4b8e-a0c7-7e5f2d9b1c04"
DOC = {"file_url": "https://example.org/a.m4a", "transcripts": [{"channel_id": 0, "text": "你好 world"}]}


def _parts(url: str) -> tuple[str, str, str]:
    split = urlsplit(url)
    query = parse_qs(split.query, strict_parsing=True)
    key = split.path.rsplit("/", 1)[1].removesuffix(".json")
    return key, query["Expires"][0], query["Signature"][0]


def test_write_is_atomic_and_readable(tmp_path: Path) -> None:
    results = ResultStore(LocalBlobStore(tmp_path / "results"), SECRET)
    results.write(KEY, DOC)
    path = tmp_path / "results" / f"{KEY}.json"
    assert json.loads(path.read_text(encoding="utf-8")) == DOC
    assert "你好" in path.read_text(encoding="utf-8")  # UTF-8, not \\u escapes
    results.write(KEY, {"replaced": True})
    assert results.read(KEY) == {"replaced": True}
    assert sorted(p.name for p in (tmp_path / "results").iterdir()) == [f"{KEY}.json"]  # no temp files left
    with results.open(KEY) as stream:
        assert json.load(stream) == {"replaced": True}
    assert results.exists(KEY) and not results.exists("other")


def test_failed_write_leaves_nothing_behind(tmp_path: Path) -> None:
    results = ResultStore(LocalBlobStore(tmp_path / "results"), SECRET)
    results.write(KEY, DOC)
    with pytest.raises(TypeError):
        results.write(KEY, {"not json": object()})
    assert results.read(KEY) == DOC
    assert sorted(p.name for p in (tmp_path / "results").iterdir()) == [f"{KEY}.json"]


@pytest.mark.parametrize("key", ["../etc/passwd", "a/b", "", ".hidden", "a..b", "x" * 200, "sp ace"])
def test_keys_cannot_escape_the_directory(tmp_path: Path, key: str) -> None:
    results = ResultStore(LocalBlobStore(tmp_path), SECRET)
    with pytest.raises(ValueError):
        results.write(key, DOC)
    with pytest.raises(ResultNotFoundError):
        results.open(key)
    assert not results.verify(key, NOW + 10, results.signature("ok", NOW + 10), now=NOW)


def test_missing_result_is_a_typed_404(tmp_path: Path) -> None:
    with pytest.raises(ResultNotFoundError) as info:
        ResultStore(LocalBlobStore(tmp_path), SECRET).open(KEY)
    assert info.value.http_status == 404


def test_signed_url_verifies_until_it_expires(tmp_path: Path) -> None:
    results = ResultStore(LocalBlobStore(tmp_path), SECRET)
    url = results.signed_url("http://127.0.0.1:8080/", KEY, NOW + 3600)
    assert url.startswith(f"http://127.0.0.1:8080/results/{KEY}.json?Expires={NOW + 3600}&Signature=")
    key, expires, signature = _parts(url)
    assert key == KEY and len(signature) == 43  # 32 bytes, base64url without padding: no escaping needed
    assert results.verify(key, expires, signature, now=NOW)
    assert results.verify(key, expires, signature, now=NOW + 3600)  # valid through the second it names
    assert not results.verify(key, expires, signature, now=NOW + 3601)


def test_forged_or_altered_urls_are_refused(tmp_path: Path) -> None:
    results = ResultStore(LocalBlobStore(tmp_path), SECRET)
    key, expires, signature = _parts(results.signed_url("http://h", KEY, NOW + 60))
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    assert not results.verify(key, expires, flipped, now=NOW)
    assert not results.verify("another-task", expires, signature, now=NOW)  # reuse for another key
    assert not results.verify(key, str(int(expires) + 86400), signature, now=NOW)  # stretched expiry
    assert not results.verify(key, "soon", signature, now=NOW)
    assert not results.verify(key, expires, "", now=NOW)
    other = ResultStore(LocalBlobStore(tmp_path), bytes(32))  # same key and expiry, another server's secret
    assert not results.verify(key, expires, other.signature(key, int(expires)), now=NOW)
    with pytest.raises(ValueError):
        ResultStore(LocalBlobStore(tmp_path), b"short")


def test_purge_removes_results_older_than_the_cutoff(tmp_path: Path) -> None:
    results = ResultStore(LocalBlobStore(tmp_path / "r"), SECRET)
    results.write("old", DOC)
    results.write("new", DOC)
    old, new = tmp_path / "r" / "old.json", tmp_path / "r" / "new.json"
    stray = tmp_path / "r" / "old.json.0123abcd.part"  # what a write killed mid-way leaves
    stray.write_text("half")
    (tmp_path / "r" / "README").write_text("not ours")
    for path in (old, stray):
        os.utime(path, (NOW - 90_000, NOW - 90_000))
    os.utime(new, (NOW - 60, NOW - 60))
    assert results.purge(NOW - 86_400) == 2
    assert not old.exists() and not stray.exists() and new.exists()
    assert (tmp_path / "r" / "README").exists()
    assert ResultStore(LocalBlobStore(tmp_path / "absent"), SECRET).purge(NOW) == 0
