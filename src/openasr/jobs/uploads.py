"""The upload store behind the SDK's local-file flow (spec §6): signed policies, form uploads, oss:// keys.

The SDK uploads a local file in two steps before recognising it: it asks for a policy (E2, with its API
key), then POSTs the file as an OSS-style form to the `upload_host` the policy names (E3, *without* an API
key), and sends ``oss://<key>`` in the recognition request. This module is the server's side of it, with no
HTTP types:

* `UploadStore.issue_policy` signs a policy: base64 JSON ``{expiration, upload_dir, model, owner,
  max_bytes}`` where `owner` is the key id of the API key that asked (`openasr.core.keys.key_id`), and
  ``signature = base64(HMAC-SHA256(secret, "openasr-upload-policy\n" + policy))`` (the prefix keeps
  these signatures apart from others made with the same secret, e.g. result URLs). The secret stays in
  the data directory, so policies survive a restart and cannot be forged by clients.
* `UploadStore.accept` verifies the form of E3 (signature in constant time, expiry, ``key`` inside the
  policy's ``upload_dir``, a plain file name) and streams the file to disk with the policy's size cap.
  Keys are never overwritten (the SDK sends ``x-oss-forbid-overwrite: true``; overwriting is refused
  whatever the form says).
* `UploadStore.open_upload` resolves an ``oss://`` key for recognition (`audio.sources.UploadResolver`):
  only for the API key that got the policy, and only during the retention period (48 h, spec §11).
* `UploadStore.purge` deletes what is past retention; `purge_if_due` does so at most every few minutes.

On disk the user-chosen key never becomes a path: each upload is ``<sha256(key)>.bin`` plus a small
``<sha256(key)>.json`` recording the key, owner, model, time and size. The JSON is written last (atomic
rename), so an upload is visible only once it is complete.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import math
import os
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from openasr.core.errors import (
    AccessDeniedError,
    InvalidParameterError,
    SourceNotFoundError,
    UploadExistsError,
    UploadTooLargeError,
)
from openasr.core.keys import key_id

MB = 1024 * 1024
DEFAULT_MAX_FILE_BYTES = 1024 * MB
"""Temporary-storage file limit of the service (spec §11: ≤ 1 GB); a policy may allow less."""
DEFAULT_RETENTION_S = 48 * 3600.0
"""Uploaded files are usable for 48 h (spec §11)."""
DEFAULT_POLICY_TTL_S = 300.0
"""A policy is good for 5 minutes: the SDK uploads right after asking for it."""
DEFAULT_PURGE_INTERVAL_S = 600.0
ACCESS_KEY_ID = "openasr-local"
"""Stands in for OSS's access key id; the SDK echoes it back as ``OSSAccessKeyId``."""
KEY_ROOT = "dashscope-instant"
MAX_KEY_BYTES = 1023
"""OSS's limit on object key length (UTF-8 bytes)."""
CAPACITY_LIMIT_MB = 999_999_999
BLOCK_BYTES = 1 << 20
_MIN_SECRET_BYTES = 16
_DATA, _META, _PARTIAL = ".bin", ".json", ".part"
_SIGNING_PURPOSE = b"openasr-upload-policy\n"


@dataclass(frozen=True)
class StoredUpload:
    """One uploaded file: its ``oss://`` key (verbatim), who may read it, and where it lies."""

    key: str
    owner: str
    model: str
    created_at: float
    size_bytes: int
    content_type: str | None
    filename: str | None
    path: Path


@dataclass(frozen=True)
class _Claims:
    expires_at: float
    upload_dir: str
    model: str
    owner: str
    max_bytes: int


class UploadStore:
    """Uploads under `directory`, authorised by policies signed with `secret`.

    `retention_s`: how long an upload stays readable and on disk. `max_file_bytes`: the largest file any
    policy allows (a policy may allow less, e.g. a model's input limit). `policy_ttl_s`: how long a
    policy may be used. `clock` gives the time (epoch seconds) when a method is not handed `now`.
    """

    def __init__(
        self,
        directory: Path,
        secret: bytes,
        retention_s: float = DEFAULT_RETENTION_S,
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
        *,
        policy_ttl_s: float = DEFAULT_POLICY_TTL_S,
        purge_interval_s: float = DEFAULT_PURGE_INTERVAL_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if len(secret) < _MIN_SECRET_BYTES:
            raise ValueError(f"the signing secret must have at least {_MIN_SECRET_BYTES} bytes")
        if retention_s <= 0 or policy_ttl_s <= 0 or purge_interval_s < 0:
            raise ValueError("retention_s and policy_ttl_s must be positive, purge_interval_s >= 0")
        if max_file_bytes <= 0:
            raise ValueError("max_file_bytes must be positive")
        self.directory = directory
        self.retention_s = retention_s
        self.max_file_bytes = max_file_bytes
        self.policy_ttl_s = policy_ttl_s
        self.purge_interval_s = purge_interval_s
        self._secret = secret
        self._clock = clock
        self._last_purge: float | None = None
        self._purge_lock = threading.Lock()
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)

    # ------------------------------------------------------------------------------------------ E2

    def issue_policy(
        self,
        api_key: str | None,
        model: str,
        upload_host: str,
        now: float | None = None,
        *,
        max_bytes: int | None = None,
    ) -> dict[str, Any]:
        """The ``data`` of an E2 answer (spec §6.2): a fresh `upload_dir` and its signed policy.

        `max_bytes` lowers the size cap of this policy below the store's `max_file_bytes`.
        """
        now = self._now(now)
        cap = self.max_file_bytes if max_bytes is None else max(1, min(max_bytes, self.max_file_bytes))
        day = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d")
        upload_dir = f"{KEY_ROOT}/{secrets.token_hex(4)}/{day}/{secrets.token_hex(16)}"
        expiration = _iso(now + self.policy_ttl_s)
        claims = {
            "expiration": expiration,
            "upload_dir": upload_dir,
            "model": model,
            "owner": key_id(api_key),
            "max_bytes": cap,
        }
        policy = base64.b64encode(json.dumps(claims, separators=(",", ":")).encode()).decode("ascii")
        return {
            "policy": policy,
            "signature": self._sign(policy),
            "upload_dir": upload_dir,
            "upload_host": upload_host,
            "expire_in_seconds": math.ceil(self.policy_ttl_s),
            "max_file_size_mb": _in_mb(cap),
            "capacity_limit_mb": CAPACITY_LIMIT_MB,
            "oss_access_key_id": ACCESS_KEY_ID,
            "x_oss_object_acl": "private",
            "x_oss_forbid_overwrite": "true",
        }

    # ------------------------------------------------------------------------------------------ E3

    def accept(
        self,
        fields: Mapping[str, str],
        filename: str | None,
        stream: IO[bytes],
        now: float | None = None,
    ) -> StoredUpload:
        """Store the file of an E3 form whose text `fields` (names case-insensitive) carry a valid policy.

        Raises `AccessDeniedError` (forged, altered or expired policy, key outside its directory),
        `InvalidParameterError` (missing field, key that is no plain file name), `UploadExistsError`
        (the key was uploaded before), `UploadTooLargeError` (more bytes than the policy allows — checked
        while copying, so at most one block past the cap is read).
        """
        now = self._now(now)
        form = {name.lower(): value for name, value in fields.items()}
        claims = self._verify(form, now)
        key = form.get("key") or ""
        _check_key(key, claims.upload_dir)
        digest = _digest(key)
        data, meta = self._paths(digest)
        if meta.exists():
            raise _exists()
        # Written under a private temporary name and linked into place only when complete, so an upload
        # the client abandons or a crash interrupts leaves no file under the key: the key can be uploaded
        # again, and `remove_partials` clears the leftovers at start-up. The link is the atomic claim:
        # of two uploads racing for one key, the second to finish gets `UploadExistsError`.
        partial = data.with_name(f"{data.name}.{secrets.token_hex(8)}{_PARTIAL}")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as out:
                size = _copy_capped(stream, out, claims.max_bytes)
            upload = StoredUpload(
                key=key,
                owner=claims.owner,
                model=claims.model,
                created_at=now,
                size_bytes=size,
                content_type=form.get("x-oss-content-type") or None,
                filename=filename,
                path=data,
            )
            try:
                os.link(partial, data)
            except FileExistsError as exc:
                raise _exists() from exc
            try:
                self._write_meta(meta, upload)
            except BaseException:
                data.unlink(missing_ok=True)
                raise
        finally:
            partial.unlink(missing_ok=True)
        return upload

    # ---------------------------------------------------------------------------------------- oss://

    def open_upload(self, key: str, api_key: str | None, now: float | None = None) -> Path:
        """The file behind ``oss://<key>`` for `api_key` (`audio.sources.UploadResolver`)."""
        return self.lookup(key, key_id(api_key), now).path

    def lookup(self, key: str, owner: str, now: float | None = None) -> StoredUpload:
        """The upload `key` if `owner` (a key id) uploaded it and it is within retention.

        Unknown, expired and someone else's keys all raise the same `SourceNotFoundError`, so that a
        key's existence is not revealed to other API keys.
        """
        now = self._now(now)
        try:
            digest = _digest(key)
        except InvalidParameterError:
            raise self._not_found(key) from None
        data, meta = self._paths(digest)
        upload = self._read_meta(meta, data)
        if (
            upload is None
            or upload.key != key
            or not hmac.compare_digest(upload.owner.encode(), owner.encode())
            or self._expired(upload.created_at, now)
            or not data.is_file()
        ):
            raise self._not_found(key)
        return upload

    def for_owner(self, owner: str) -> OwnerUploads:
        """An `UploadResolver` reading as `owner` (a key id): for async tasks, which keep only the key id."""
        return OwnerUploads(self, owner)

    # ----------------------------------------------------------------------------------------- purge

    def purge(self, now: float | None = None) -> int:
        """Delete uploads past retention (and leftovers of interrupted ones); returns how many went."""
        now = self._now(now)
        removed = 0
        try:
            entries = list(os.scandir(self.directory))
        except FileNotFoundError:
            return 0
        names = {entry.name for entry in entries}
        for entry in entries:
            path = Path(entry.path)
            if entry.name.endswith(_META):
                upload = self._read_meta(path, path.with_suffix(_DATA))
                if upload is None or self._expired(upload.created_at, now):
                    path.unlink(missing_ok=True)  # invisible first, then the data
                    path.with_suffix(_DATA).unlink(missing_ok=True)
                    removed += 1
            elif entry.name.endswith((_DATA, _PARTIAL)):
                # data without metadata: an upload still streaming, or one a crash interrupted
                if entry.name.endswith(_DATA) and path.with_suffix(_META).name in names:
                    continue
                with contextlib.suppress(FileNotFoundError):
                    if self._expired(entry.stat().st_mtime, now):
                        path.unlink(missing_ok=True)
                        removed += 1
        return removed

    def remove_partials(self, idle_for_s: float = 0.0) -> int:
        """At start-up: delete what interrupted uploads left (temporary files, data never committed by its
        metadata), so no key stays blocked by an upload that did not complete. Returns how many went.

        Only files untouched for `idle_for_s` go: where several servers share the directory, an upload
        another server is still receiving writes its file at least once per body timeout, and must not
        lose it because this one (re)started."""
        cutoff = time.time() - idle_for_s
        removed = 0
        for entry in list(os.scandir(self.directory)):
            path = Path(entry.path)
            orphan = entry.name.endswith(_DATA) and not path.with_suffix(_META).exists()
            if entry.name.endswith(_PARTIAL) or orphan:
                with contextlib.suppress(FileNotFoundError):
                    if entry.stat().st_mtime <= cutoff:
                        path.unlink(missing_ok=True)
                        removed += 1
        return removed

    def purge_if_due(self, now: float | None = None) -> int:
        """`purge`, unless one ran less than `purge_interval_s` ago (cheap to call on every request)."""
        now = self._now(now)
        with self._purge_lock:
            if self._last_purge is not None and now - self._last_purge < self.purge_interval_s:
                return 0
            self._last_purge = now
        return self.purge(now)

    # -------------------------------------------------------------------------------------- helpers

    def _now(self, now: float | None) -> float:
        return self._clock() if now is None else now

    def _expired(self, created_at: float, now: float) -> bool:
        return now >= created_at + self.retention_s

    def _sign(self, policy: str) -> str:
        mac = hmac.new(self._secret, _SIGNING_PURPOSE + policy.encode("ascii"), hashlib.sha256).digest()
        return base64.b64encode(mac).decode("ascii")

    def _verify(self, form: Mapping[str, str], now: float) -> _Claims:
        policy = form.get("policy")
        signature = form.get("signature")
        if not policy or not signature:
            raise _denied("the form needs the fields policy and Signature")
        if form.get("ossaccesskeyid") != ACCESS_KEY_ID:
            raise _denied("unknown OSSAccessKeyId")
        try:
            expected = self._sign(policy).encode("ascii")
        except UnicodeEncodeError:
            raise _denied("signature does not match") from None
        if not hmac.compare_digest(expected, signature.encode("utf-8", "replace")):
            raise _denied("signature does not match")
        claims = _parse_claims(policy)
        if now >= claims.expires_at:
            raise _denied("Policy expired.")
        return claims

    def _paths(self, digest: str) -> tuple[Path, Path]:
        return self.directory / f"{digest}{_DATA}", self.directory / f"{digest}{_META}"

    def _write_meta(self, meta: Path, upload: StoredUpload) -> None:
        record = {
            "key": upload.key,
            "owner": upload.owner,
            "model": upload.model,
            "created_at": upload.created_at,
            "size_bytes": upload.size_bytes,
            "content_type": upload.content_type,
            "filename": upload.filename,
        }
        partial = meta.with_name(f"{meta.name}.{secrets.token_hex(4)}{_PARTIAL}")
        try:
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(record, out, ensure_ascii=False)
            os.replace(partial, meta)
        finally:
            partial.unlink(missing_ok=True)

    def _read_meta(self, meta: Path, data: Path) -> StoredUpload | None:
        try:
            record = json.loads(meta.read_text(encoding="utf-8"))
            return StoredUpload(
                key=str(record["key"]),
                owner=str(record["owner"]),
                model=str(record["model"]),
                created_at=float(record["created_at"]),
                size_bytes=int(record["size_bytes"]),
                content_type=record.get("content_type"),
                filename=record.get("filename"),
                path=data,
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _not_found(self, key: str) -> SourceNotFoundError:
        shown = key if len(key) <= 160 else key[:157] + "..."
        hours = f"{self.retention_s / 3600:g}"
        return SourceNotFoundError(
            f"oss://{shown} was not found: there is no such upload, it is older than {hours} h, "
            "or it was uploaded with a different API key",
            param="audio",
        )


@dataclass(frozen=True)
class OwnerUploads:
    """`audio.sources.UploadResolver` bound to one owner's key id; the `api_key` argument is not used."""

    store: UploadStore
    owner: str

    def open_upload(self, key: str, api_key: str | None) -> Path:
        return self.store.lookup(key, self.owner).path


# ------------------------------------------------------------------------------------------ functions


def _copy_capped(stream: IO[bytes], out: IO[bytes], cap: int) -> int:
    size = 0
    while True:
        block = stream.read(BLOCK_BYTES)
        if not block:
            return size
        size += len(block)
        if size > cap:
            raise UploadTooLargeError(
                f"Your proposed upload exceeds the maximum allowed size of {_describe(cap)}.", param="file"
            )
        out.write(block)


def _check_key(key: str, upload_dir: str) -> None:
    """`key` must be ``<upload_dir>/<name>`` with one plain, printable file name (spaces, UTF-8 fine)."""
    prefix = upload_dir + "/"
    if not key.startswith(prefix):
        raise _denied(f'Policy Condition failed: ["starts-with", "$key", "{prefix}"]')
    name = key[len(prefix) :]
    if not name or name in (".", "..") or "/" in name:
        raise InvalidParameterError("key must be <upload_dir>/<file name>, one plain file name", param="key")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in name):
        raise InvalidParameterError("key must not contain control characters", param="key")
    try:
        encoded = key.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidParameterError("key is not valid UTF-8", param="key") from None
    if len(encoded) > MAX_KEY_BYTES:
        raise InvalidParameterError(f"key is longer than {MAX_KEY_BYTES} bytes", param="key")


def _parse_claims(policy: str) -> _Claims:
    """Decode a policy whose signature was verified (so a failure here means a policy of another format)."""
    try:
        raw = json.loads(base64.b64decode(policy, validate=True))
        expires_at = datetime.fromisoformat(raw["expiration"]).timestamp()
        claims = _Claims(
            expires_at=expires_at,
            upload_dir=str(raw["upload_dir"]),
            model=str(raw["model"]),
            owner=str(raw["owner"]),
            max_bytes=int(raw["max_bytes"]),
        )
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise _denied("malformed policy") from None
    if not claims.upload_dir or claims.max_bytes <= 0:
        raise _denied("malformed policy")
    return claims


def _digest(key: str) -> str:
    try:
        return hashlib.sha256(key.encode("utf-8")).hexdigest()
    except UnicodeEncodeError:
        raise InvalidParameterError("key is not valid UTF-8", param="key") from None


def _denied(reason: str) -> AccessDeniedError:
    return AccessDeniedError(f"Invalid according to Policy: {reason}")


def _exists() -> UploadExistsError:
    message = "The object you specified already exists and can not be overwritten."
    return UploadExistsError(message, param="key")


def _iso(epoch_s: float) -> str:
    """OSS's policy time format, e.g. ``2026-01-01T00:05:00.000Z``."""
    moment = datetime.fromtimestamp(epoch_s, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _in_mb(n: int) -> int | float:
    return n // MB if n % MB == 0 else round(n / MB, 3)


def _describe(n: int) -> str:
    return f"{n // MB} MB" if n % MB == 0 else f"{n} bytes"
