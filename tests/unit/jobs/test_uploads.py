"""Tests of openasr.jobs.uploads: signed policies, form uploads, oss:// resolution, retention (real files)."""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from client_streams import DroppedClient
from openasr.audio.sources import SourcePolicy, fetch_audio
from openasr.core.errors import (
    AccessDeniedError,
    InvalidParameterError,
    SourceNotFoundError,
    UploadExistsError,
    UploadTooLargeError,
)
from openasr.core.keys import key_id
from openasr.jobs.uploads import MB, UploadStore
from openasr.server.dashscope.uploads import policy_data
from openasr.storage import LocalBlobStore
from openasr.storage.base import BLOCK_BYTES

SECRET = b"0123456789abcdef0123456789abcdef"
KEY = "sk-local-test"
OTHER = "sk-other"
HOST = "http://127.0.0.1:8080/api/v1/uploads/oss"
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
AUDIO = b"RIFF" + bytes(range(256)) * 16


@pytest.fixture
def store(tmp_path: Path) -> UploadStore:
    return UploadStore(LocalBlobStore(tmp_path / "uploads"), SECRET, retention_s=48 * 3600, max_file_bytes=8 * MB)


def form(cert: dict, name: str = "a.wav", **overrides: str) -> dict[str, str]:
    """The text fields the SDK posts (spec §6.3), in its order."""
    fields = {
        "OSSAccessKeyId": cert["oss_access_key_id"],
        "Signature": cert["signature"],
        "policy": cert["policy"],
        "key": cert["upload_dir"] + "/" + name,
        "x-oss-object-acl": cert["x_oss_object_acl"],
        "x-oss-forbid-overwrite": cert["x_oss_forbid_overwrite"],
        "success_action_status": "200",
        "x-oss-content-type": "audio/x-wav",
    }
    fields.update(overrides)
    return fields


def upload(store: UploadStore, cert: dict, name: str = "a.wav", data: bytes = AUDIO, now: float | None = T0 + 1) -> str:
    fields = form(cert, name)
    store.accept(fields, name, io.BytesIO(data), now=now)
    return fields["key"]


def issue(store: UploadStore, api_key: str | None, model: str, host: str, **kw: object) -> dict:
    """The E2 answer's ``data`` as the server words it (`policy_data`), as the SDK reads it."""
    return policy_data(store.issue_policy(api_key, model, **kw), host)  # type: ignore[arg-type]


def read_upload(store: UploadStore, key: str, api_key: str | None, **kw: float) -> bytes:
    with store.open_upload(key, api_key, **kw) as path:
        return path.read_bytes()


def read_as_owner(store: UploadStore, owner: str, key: str) -> bytes:
    with store.for_owner(owner).open_upload(key, None) as path:
        return path.read_bytes()


def files_in(directory: Path) -> list[str]:
    """What the store left on disk (its directory appears with the first write)."""
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


# ------------------------------------------------------------------------------------------- policies


def test_policy_has_every_field_the_sdk_reads(store: UploadStore) -> None:
    cert = issue(store, KEY, "qwen3-asr-flash", HOST, now=T0)
    for name in (
        "policy",
        "signature",
        "upload_dir",
        "upload_host",
        "oss_access_key_id",
        "x_oss_object_acl",
        "x_oss_forbid_overwrite",
    ):
        assert isinstance(cert[name], str) and cert[name], name
    assert cert["upload_host"] == HOST
    assert cert["x_oss_forbid_overwrite"] == "true"
    assert cert["expire_in_seconds"] == 300
    assert cert["max_file_size_mb"] == 8
    assert isinstance(cert["capacity_limit_mb"], int)
    assert cert["upload_dir"].startswith("dashscope-instant/") and "2026-01-01" in cert["upload_dir"]
    claims = json.loads(base64.b64decode(cert["policy"]))
    assert claims == {
        "expiration": "2026-01-01T00:05:00.000Z",
        "upload_dir": cert["upload_dir"],
        "model": "qwen3-asr-flash",
        "owner": key_id(KEY),
        "max_bytes": 8 * MB,
    }
    assert KEY not in json.dumps(cert)


def test_each_policy_gets_its_own_directory(store: UploadStore) -> None:
    dirs = {issue(store, KEY, "qwen3-asr-flash", HOST, now=T0)["upload_dir"] for _ in range(20)}
    assert len(dirs) == 20


def test_policy_cap_never_exceeds_the_store_cap(store: UploadStore) -> None:
    assert issue(store, KEY, "m", HOST, now=T0, max_bytes=10 * MB)["max_file_size_mb"] == 8
    assert issue(store, KEY, "m", HOST, now=T0, max_bytes=2 * MB)["max_file_size_mb"] == 2


# --------------------------------------------------------------------------------------------- accept


def test_round_trip_keeps_bytes_and_metadata(store: UploadStore) -> None:
    cert = issue(store, KEY, "qwen3-asr-flash", HOST, now=T0)
    fields = form(cert)
    stored = store.accept(fields, "a.wav", io.BytesIO(AUDIO), now=T0 + 1)
    assert (stored.key, stored.size_bytes, stored.model) == (fields["key"], len(AUDIO), "qwen3-asr-flash")
    assert stored.owner == key_id(KEY) and stored.content_type == "audio/x-wav"
    with store.open_upload(fields["key"], KEY, now=T0 + 2) as path:
        assert path.read_bytes() == AUDIO
        assert path.parent == store.blobs.root
        assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_several_files_per_policy(store: UploadStore) -> None:
    cert = issue(store, KEY, "qwen3-asr-flash", HOST, now=T0)
    keys = [upload(store, cert, name, data=name.encode()) for name in ("a.wav", "b.wav", "c.mp3")]
    stored = [read_upload(store, k, KEY, now=T0 + 2) for k in keys]
    assert stored == [b"a.wav", b"b.wav", b"c.mp3"]


def test_key_keeps_spaces_and_utf8_but_disk_names_are_hashes(store: UploadStore) -> None:
    cert = issue(store, KEY, "qwen3-asr-flash", HOST, now=T0)
    key = upload(store, cert, "meeting 01 会议.wav")
    assert key == cert["upload_dir"] + "/meeting 01 会议.wav"
    assert read_upload(store, key, KEY, now=T0 + 2) == AUDIO
    for name in files_in(store.blobs.root):
        stem, _, suffix = name.partition(".")
        assert len(stem) == 64 and all(c in "0123456789abcdef" for c in stem) and suffix in ("bin", "json")
    meta = next(store.blobs.root.glob("*.json"))
    assert json.loads(meta.read_text(encoding="utf-8"))["key"] == key


def test_field_names_are_case_insensitive(store: UploadStore) -> None:
    cert = issue(store, KEY, "qwen3-asr-flash", HOST, now=T0)
    for case in (str.lower, str.upper):
        fields = {case(name): value for name, value in form(cert).items()}
        fields[case("key")] = f"{cert['upload_dir']}/{case.__name__}.wav"
        stored = store.accept(fields, "a.wav", io.BytesIO(AUDIO), now=T0 + 1)
        assert stored.key == fields[case("key")] and stored.size_bytes == len(AUDIO)
        assert read_upload(store, stored.key, KEY, now=T0 + 2) == AUDIO


# -------------------------------------------------------------------------------------------- forgery


@pytest.mark.parametrize("signature", ["forged", "", "é-not-ascii", base64.b64encode(b"x" * 32).decode()])
def test_forged_signature_is_denied(store: UploadStore, signature: str) -> None:
    cert = issue(store, KEY, "qwen3-asr-flash", HOST, now=T0)
    with pytest.raises(AccessDeniedError) as info:
        store.accept(form(cert, Signature=signature), "a.wav", io.BytesIO(AUDIO), now=T0 + 1)
    assert info.value.message.startswith("Invalid according to Policy:")
    assert info.value.http_status == 403 and info.value.code == "AccessDenied"
    assert files_in(store.blobs.root) == []


def test_altered_policy_is_denied(store: UploadStore) -> None:
    """A client that rewrites the policy (bigger cap, other owner, later expiry) breaks the signature."""
    cert = issue(store, KEY, "qwen3-asr-flash", HOST, now=T0)
    claims = json.loads(base64.b64decode(cert["policy"]))
    changes = ({"max_bytes": 10**12}, {"owner": key_id(OTHER)}, {"expiration": "2099-01-01T00:00:00.000Z"})
    for change in changes:
        policy = base64.b64encode(json.dumps({**claims, **change}, separators=(",", ":")).encode()).decode()
        with pytest.raises(AccessDeniedError):
            store.accept(form(cert, policy=policy), "a.wav", io.BytesIO(AUDIO), now=T0 + 1)


def test_policy_of_another_secret_is_denied(tmp_path: Path, store: UploadStore) -> None:
    other = UploadStore(LocalBlobStore(tmp_path / "other"), b"another secret of 32 bytes......")
    cert = issue(other, KEY, "qwen3-asr-flash", HOST, now=T0)
    with pytest.raises(AccessDeniedError):
        store.accept(form(cert), "a.wav", io.BytesIO(AUDIO), now=T0 + 1)


def test_policies_survive_a_restart(tmp_path: Path, store: UploadStore) -> None:
    cert = issue(store, KEY, "qwen3-asr-flash", HOST, now=T0)
    key = upload(store, cert, "a.wav")
    again = UploadStore(LocalBlobStore(store.blobs.root), SECRET)
    upload(again, cert, "b.wav")
    assert read_upload(again, key, KEY, now=T0 + 2) == AUDIO


@pytest.mark.parametrize("missing", ["policy", "Signature", "OSSAccessKeyId"])
def test_missing_credentials_are_denied(store: UploadStore, missing: str) -> None:
    fields = form(issue(store, KEY, "qwen3-asr-flash", HOST, now=T0))
    del fields[missing]
    with pytest.raises(AccessDeniedError):
        store.accept(fields, "a.wav", io.BytesIO(AUDIO), now=T0 + 1)


def test_wrong_access_key_id_is_denied(store: UploadStore) -> None:
    cert = issue(store, KEY, "qwen3-asr-flash", HOST, now=T0)
    with pytest.raises(AccessDeniedError):
        store.accept(form(cert, OSSAccessKeyId="LTAI-real"), "a.wav", io.BytesIO(AUDIO), now=T0 + 1)


# --------------------------------------------------------------------------------------------- expiry


def test_policy_expires_after_its_ttl(tmp_path: Path) -> None:
    store = UploadStore(LocalBlobStore(tmp_path / "u"), SECRET, policy_ttl_s=60)
    cert = issue(store, KEY, "qwen3-asr-flash", HOST, now=T0)
    assert cert["expire_in_seconds"] == 60
    upload(store, cert, "in-time.wav", now=T0 + 59.9)
    with pytest.raises(AccessDeniedError) as info:
        upload(store, cert, "late.wav", now=T0 + 60)
    assert info.value.message == "Invalid according to Policy: Policy expired."


def test_clock_is_used_when_no_time_is_given(tmp_path: Path) -> None:
    now = [T0]
    store = UploadStore(LocalBlobStore(tmp_path / "u"), SECRET, policy_ttl_s=10, clock=lambda: now[0])
    cert = issue(store, KEY, "qwen3-asr-flash", HOST)
    store.accept(form(cert, "a.wav"), "a.wav", io.BytesIO(AUDIO))
    now[0] = T0 + 11
    with pytest.raises(AccessDeniedError, match="expired"):
        store.accept(form(cert, "b.wav"), "b.wav", io.BytesIO(AUDIO))


# ------------------------------------------------------------------------------------------------ keys


@pytest.mark.parametrize("key", ["../../etc/passwd", "/etc/passwd", "dashscope-instant/other/a.wav", "a.wav", ""])
def test_key_outside_the_policy_directory_is_denied(store: UploadStore, key: str) -> None:
    cert = issue(store, KEY, "qwen3-asr-flash", HOST, now=T0)
    with pytest.raises(AccessDeniedError, match="starts-with"):
        store.accept(form(cert, key=key), "a.wav", io.BytesIO(AUDIO), now=T0 + 1)
    assert files_in(store.blobs.root) == []


@pytest.mark.parametrize(
    "name",
    [
        "",
        ".",
        "..",
        "../../../etc/passwd",
        "../x.wav",
        "sub/a.wav",
        "a\x00.wav",
        "a\n.wav",
        "\udcff.wav",
        "x" * 1100,
    ],
)
def test_key_must_be_one_plain_file_name(store: UploadStore, name: str) -> None:
    cert = issue(store, KEY, "qwen3-asr-flash", HOST, now=T0)
    with pytest.raises(InvalidParameterError):
        store.accept(form(cert, name), "a.wav", io.BytesIO(AUDIO), now=T0 + 1)
    assert files_in(store.blobs.root) == []


def test_traversal_never_leaves_the_directory(tmp_path: Path) -> None:
    store = UploadStore(LocalBlobStore(tmp_path / "deep" / "uploads"), SECRET)
    cert = issue(store, KEY, "qwen3-asr-flash", HOST, now=T0)
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    keys = (cert["upload_dir"] + "/../../../../escape.wav", "../escape.wav", str(tmp_path / "escape.wav"))
    for key in keys:
        with pytest.raises((AccessDeniedError, InvalidParameterError)):
            store.accept(form(cert, key=key), "escape.wav", io.BytesIO(AUDIO), now=T0 + 1)
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before


# ------------------------------------------------------------------------------------------ overwrite


def test_second_upload_of_a_key_is_refused(store: UploadStore) -> None:
    cert = issue(store, KEY, "qwen3-asr-flash", HOST, now=T0)
    key = upload(store, cert, "a.wav", data=b"first")
    with pytest.raises(UploadExistsError) as info:
        upload(store, cert, "a.wav", data=b"second")
    assert info.value.http_status == 409 and info.value.code == "FileAlreadyExists"
    with pytest.raises(UploadExistsError):  # also when the form asks to allow overwriting
        store.accept(form(cert, **{"x-oss-forbid-overwrite": "false"}), "a.wav", io.BytesIO(b"x"), now=T0 + 1)
    assert read_upload(store, key, KEY, now=T0 + 2) == b"first"


# ----------------------------------------------------------------------------------------------- size


class Endless(io.RawIOBase):
    """A stream with no end that counts what was read from it."""

    def __init__(self) -> None:
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
        n = len(buffer)
        buffer[:n] = b"\x01" * n
        self.read_bytes += n
        return n


def test_size_cap_is_enforced_while_streaming(store: UploadStore) -> None:
    cert = issue(store, KEY, "qwen3-asr-flash", HOST, now=T0, max_bytes=3 * MB)
    stream = Endless()
    with pytest.raises(UploadTooLargeError) as info:
        store.accept(form(cert), "a.wav", stream, now=T0 + 1)  # type: ignore[arg-type]
    assert info.value.http_status == 413 and info.value.code == "EntityTooLarge"
    assert "3 MB" in info.value.message
    assert stream.read_bytes <= 3 * MB + BLOCK_BYTES
    assert files_in(store.blobs.root) == []
    upload(store, cert, "a.wav", data=b"\x00" * 3 * MB)  # exactly the cap is fine; the key was not taken


def test_store_cap_applies_without_a_policy_cap(tmp_path: Path) -> None:
    store = UploadStore(LocalBlobStore(tmp_path / "u"), SECRET, max_file_bytes=1000)
    cert = issue(store, KEY, "qwen3-asr-flash-filetrans", HOST, now=T0)
    assert cert["max_file_size_mb"] == round(1000 / MB, 3)
    upload(store, cert, "ok.wav", data=b"x" * 1000)
    with pytest.raises(UploadTooLargeError, match="1000 bytes"):
        upload(store, cert, "big.wav", data=b"x" * 1001)


# ------------------------------------------------------------------------------------ owner and oss://


def test_upload_is_readable_only_with_the_key_that_got_the_policy(store: UploadStore) -> None:
    key = upload(store, issue(store, KEY, "qwen3-asr-flash", HOST, now=T0))
    assert read_upload(store, key, KEY, now=T0 + 2) is not None
    for api_key in (OTHER, None, ""):
        with pytest.raises(SourceNotFoundError) as info:
            store.open_upload(key, api_key, now=T0 + 2)
        assert info.value.http_status == 400
        assert "different API key" in info.value.message


def test_owner_bound_resolver_for_async_tasks(store: UploadStore) -> None:
    """Async tasks keep only the key id of their API key; `for_owner` reads uploads as that id."""
    key = upload(store, issue(store, KEY, "qwen3-asr-flash-filetrans", HOST), now=None)
    assert read_as_owner(store, key_id(KEY), key) == AUDIO
    with pytest.raises(SourceNotFoundError):
        read_as_owner(store, key_id(OTHER), key)


def test_open_server_uploads_belong_to_anonymous(store: UploadStore) -> None:
    key = upload(store, issue(store, None, "qwen3-asr-flash", HOST, now=T0))
    assert read_upload(store, key, None, now=T0 + 2) is not None
    with pytest.raises(SourceNotFoundError):
        store.open_upload(key, KEY, now=T0 + 2)


@pytest.mark.parametrize("key", ["dashscope-instant/x/2026-01-01/y/none.wav", "", "../../etc/passwd", "\udcff"])
def test_unknown_keys_are_not_found(store: UploadStore, key: str) -> None:
    with pytest.raises(SourceNotFoundError):
        store.open_upload(key, KEY)


def test_upload_expires_after_retention(store: UploadStore) -> None:
    key = upload(store, issue(store, KEY, "qwen3-asr-flash", HOST, now=T0), now=T0 + 1)
    assert read_upload(store, key, KEY, now=T0 + 1 + 48 * 3600 - 1) is not None
    with pytest.raises(SourceNotFoundError, match="48 h"):
        store.open_upload(key, KEY, now=T0 + 1 + 48 * 3600)


def test_fetch_audio_resolves_oss_keys_through_the_store(store: UploadStore, tmp_path: Path) -> None:
    key = upload(store, issue(store, KEY, "qwen3-asr-flash", HOST), now=None)  # the real clock
    policy = SourcePolicy(max_size_bytes=10 * MB)
    work = tmp_path / "work"
    with fetch_audio(f"oss://{key}", policy, work, uploads=store, api_key=KEY, oss_resolve=True) as a:
        assert (a.origin, a.size_bytes, a.mime) == ("oss", len(AUDIO), "audio/x-wav")
        assert a.path.read_bytes() == AUDIO
    assert a.path.exists(), "the store's file is not a temp file"
    with (
        pytest.raises(InvalidParameterError, match="OssResourceResolve"),
        fetch_audio(f"oss://{key}", policy, work, uploads=store, api_key=KEY),
    ):
        pass
    with (
        pytest.raises(SourceNotFoundError),
        fetch_audio(f"oss://{key}", policy, work, uploads=store, api_key=OTHER, oss_resolve=True),
    ):
        pass


# ---------------------------------------------------------------------------------------------- purge


def test_purge_removes_only_what_is_past_retention(store: UploadStore) -> None:
    day = 24 * 3600.0
    old = upload(store, issue(store, KEY, "m", HOST, now=T0), "old.wav", now=T0 + 1)
    new = upload(store, issue(store, KEY, "m", HOST, now=T0 + day), "new.wav", now=T0 + day)
    assert len(files_in(store.blobs.root)) == 4
    assert store.purge(now=T0 + 2 * day) == 0  # 48 h after the old upload's T0 + 1 s is still a second away
    assert store.purge(now=T0 + 2 * day + 1) == 1
    assert len(files_in(store.blobs.root)) == 2
    with pytest.raises(SourceNotFoundError):
        store.open_upload(old, KEY, now=T0 + 2 * day + 1)
    assert read_upload(store, new, KEY, now=T0 + 2 * day + 1) is not None
    assert store.purge(now=T0 + 3 * day) == 1
    assert files_in(store.blobs.root) == []


def test_purge_removes_leftovers_of_interrupted_uploads(store: UploadStore) -> None:
    stale = store.blobs.root / ("a" * 64 + ".bin")
    fresh = store.blobs.root / ("b" * 64 + ".bin")
    partial = store.blobs.root / ("c" * 64 + ".json.1234abcd.part")
    corrupt = store.blobs.root / ("d" * 64 + ".json")
    store.blobs.root.mkdir(parents=True)
    for path in (stale, fresh, partial):
        path.write_bytes(b"x")
    corrupt.write_text("{not json")
    os.utime(stale, (T0, T0))
    os.utime(partial, (T0, T0))
    os.utime(fresh, (T0 + 48 * 3600, T0 + 48 * 3600))
    assert store.purge(now=T0 + 48 * 3600 + 1) == 3
    assert files_in(store.blobs.root) == [fresh.name]


def test_purge_if_due_runs_at_most_once_per_interval(tmp_path: Path) -> None:
    store = UploadStore(LocalBlobStore(tmp_path / "u"), SECRET, retention_s=10, purge_interval_s=600)
    upload(store, issue(store, KEY, "m", HOST, now=T0), now=T0)
    assert store.purge_if_due(now=T0 + 5) == 0  # first call purges (nothing is old yet)
    assert store.purge_if_due(now=T0 + 100) == 0  # too soon after the last purge
    assert len(files_in(store.blobs.root)) == 2
    assert store.purge_if_due(now=T0 + 606) == 1


def test_store_rejects_a_weak_secret(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="secret"):
        UploadStore(LocalBlobStore(tmp_path / "u"), b"short")


def test_an_interrupted_upload_leaves_nothing_and_its_key_can_be_uploaded_again(store: UploadStore) -> None:
    cert = issue(store, KEY, "m", HOST, now=T0)
    fields = form(cert)
    with pytest.raises(ConnectionResetError):
        store.accept(fields, "a.wav", io.BufferedReader(DroppedClient(3)), now=T0 + 1)
    assert files_in(store.blobs.root) == []
    store.accept(fields, "a.wav", io.BytesIO(AUDIO), now=T0 + 2)
    assert read_upload(store, fields["key"], KEY, now=T0 + 3) == AUDIO


def _upload_in_child(store: UploadStore, fields: dict[str, str]) -> subprocess.Popen[bytes]:
    """Another process storing the form into `store`'s directory, stopped mid-body: it has written part of
    the file (a ``.part`` exists) and waits on its stdin for the rest."""
    script = (
        "import sys, json; from pathlib import Path\n"
        "from openasr.jobs.uploads import UploadStore; from openasr.storage import LocalBlobStore\n"
        f"store = UploadStore(LocalBlobStore(Path({str(store.blobs.root)!r})), {SECRET!r}, retention_s=48 * 3600)\n"
        f"store.accept(json.loads({json.dumps(json.dumps(fields))}), 'a.wav', sys.stdin.buffer, now={T0 + 1})\n"
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE)
    assert child.stdin is not None
    child.stdin.write(AUDIO * 64)
    child.stdin.flush()
    deadline = time.monotonic() + 30
    while not any(name.endswith(".part") for name in files_in(store.blobs.root)):
        assert time.monotonic() < deadline and child.poll() is None, "the child never started writing"
        time.sleep(0.05)
    return child


def test_an_upload_killed_mid_way_is_removed_at_start_up(store: UploadStore, tmp_path: Path) -> None:
    """kill -9 while the form is being stored: the key is not blocked, the leftover goes at start-up."""
    cert = issue(store, KEY, "m", HOST, now=T0)
    fields = form(cert)
    child = _upload_in_child(store, fields)
    child.kill()
    child.wait()
    assert [n for n in files_in(store.blobs.root) if not n.endswith(".part")] == []  # nothing under the key
    store.accept(fields, "a.wav", io.BytesIO(AUDIO), now=T0 + 2)  # the key is free at once
    assert store.remove_partials() == 1
    assert read_upload(store, fields["key"], KEY, now=T0 + 3) == AUDIO
    assert len(files_in(store.blobs.root)) == 2


def test_a_restart_spares_an_upload_another_server_is_still_receiving(store: UploadStore) -> None:
    """Servers sharing the directory: one (re)starts while another streams a form into it. The live
    upload's file is recent, so it stays and completes; a leftover idle for longer goes."""
    cert = issue(store, KEY, "m", HOST, now=T0)
    fields = form(cert)
    child = _upload_in_child(store, fields)
    assert store.remove_partials(idle_for_s=60) == 0  # this server's start-up, mid-upload elsewhere
    child.stdin.write(AUDIO)
    child.stdin.close()
    assert child.wait(timeout=30) == 0
    assert read_upload(store, fields["key"], KEY, now=T0 + 3) == AUDIO * 65

    leftover = store.blobs.root / "abandoned.bin.0123456789abcdef.part"
    leftover.write_bytes(AUDIO)
    os.utime(leftover, (time.time() - 120, time.time() - 120))
    assert store.remove_partials(idle_for_s=60) == 1
    assert not leftover.exists()
