"""The upload store behind the SDK's local-file flow (spec §6): signed policies, form uploads, oss:// keys.

The SDK uploads a local file in two steps before recognising it: it asks for a policy (E2, with its API
key), then POSTs the file as an OSS-style form to the `upload_host` the policy names (E3, *without* an API
key), and sends ``oss://<key>`` in the recognition request. This module is the server's side of it, with no
HTTP types:

* `UploadStore.issue_policy` signs a policy (an `UploadPolicy`; `server/dashscope` words the answer):
  base64 JSON ``{expiration, upload_dir, model, owner, max_bytes}`` where `owner` is the key id of the
  API key that asked (`openasr.core.keys.key_id`), and
  ``signature = base64(HMAC-SHA256(secret, "openasr-upload-policy\n" + policy))`` (the prefix keeps
  these signatures apart from others made with the same secret, e.g. result URLs). The secret stays in
  the data directory, so policies survive a restart and cannot be forged by clients.
* `UploadStore.accept` verifies the form of E3 (signature in constant time, expiry, ``key`` inside the
  policy's ``upload_dir``, a plain file name) and streams the file to the store with the policy's size
  cap.
  Keys are never overwritten (the SDK sends ``x-oss-forbid-overwrite: true``; overwriting is refused
  whatever the form says).
* `UploadStore.open_upload` resolves an ``oss://`` key for recognition (`audio.sources.UploadResolver`):
  only for the API key that got the policy, and only during the retention period (48 h, spec §11); the
  file is local for the ``with`` block (a download when the store is S3).
* `UploadStore.purge` deletes what is past retention; `purge_if_due` does so at most every few minutes.

Files go through a `storage.BlobStore` (the data directory's ``uploads/``, or an S3 bucket every node
shares, so an upload accepted by one node is readable on all). The user-chosen key never becomes a blob
key: each upload is ``<sha256(key)>.bin`` plus a small ``<sha256(key)>.json`` recording the key, owner,
model, time and size. The JSON is written last, so an upload is visible only once it is complete.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import io
import json
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from openasr.core.errors import (
    AccessDeniedError,
    InvalidParameterError,
    SourceNotFoundError,
    UploadExistsError,
    UploadTooLargeError,
)
from openasr.core.keys import key_id
from openasr.storage import BlobExistsError, BlobNotFoundError, BlobStore, BlobTooLargeError

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
ORPHAN_GRACE_S = 300.0
"""Data without its record is left alone this long at start-up: another node may be finishing it."""
_MIN_SECRET_BYTES = 16
_DATA, _META = ".bin", ".json"
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


@dataclass(frozen=True)
class UploadPolicy:
    """A signed policy for one fresh `upload_dir` (E2): `policy` is base64 JSON, `signature` its HMAC."""

    policy: str
    signature: str
    upload_dir: str
    expires_in_s: float
    max_bytes: int


@dataclass(frozen=True)
class _Claims:
    expires_at: float
    upload_dir: str
    model: str
    owner: str
    max_bytes: int


class UploadStore:
    """Uploads in `blobs`, authorised by policies signed with `secret`.

    `retention_s`: how long an upload stays readable and on disk. `max_file_bytes`: the largest file any
    policy allows (a policy may allow less, e.g. a model's input limit). `policy_ttl_s`: how long a
    policy may be used. `clock` gives the time (epoch seconds) when a method is not handed `now`.
    """

    def __init__(
        self,
        blobs: BlobStore,
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
        self.blobs = blobs
        self.retention_s = retention_s
        self.max_file_bytes = max_file_bytes
        self.policy_ttl_s = policy_ttl_s
        self.purge_interval_s = purge_interval_s
        self._secret = secret
        self._clock = clock
        self._last_purge: float | None = None
        self._purge_lock = threading.Lock()

    # ------------------------------------------------------------------------------------------ E2

    def issue_policy(
        self,
        api_key: str | None,
        model: str,
        now: float | None = None,
        *,
        max_bytes: int | None = None,
    ) -> UploadPolicy:
        """What an E2 answer carries (spec §6.2): a fresh `upload_dir` and its signed policy.

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
        return UploadPolicy(policy, self._sign(policy), upload_dir, self.policy_ttl_s, cap)

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
        data, meta = self._names(_digest(key))
        if self.blobs.info(meta) is not None:
            raise _exists()
        # The data is written whole or not at all (`BlobStore.write`), so an upload the client abandons or
        # a crash interrupts leaves nothing under the key, and the key can be uploaded again. Writing it
        # with overwrite=False is the claim: of two uploads racing for one key, the second gets the 409.
        try:
            stored = self.blobs.write(data, stream, max_bytes=claims.max_bytes, overwrite=False)
        except BlobExistsError as exc:
            raise _exists() from exc
        except BlobTooLargeError as exc:
            raise UploadTooLargeError(
                f"Your proposed upload exceeds the maximum allowed size of {_describe(exc.max_bytes)}.", param="file"
            ) from exc
        upload = StoredUpload(
            key=key,
            owner=claims.owner,
            model=claims.model,
            created_at=now,
            size_bytes=stored.size_bytes,
            content_type=form.get("x-oss-content-type") or None,
            filename=filename,
        )
        try:
            self._write_meta(meta, upload)
        except BaseException:
            self.blobs.delete(data)
            raise
        return upload

    # ---------------------------------------------------------------------------------------- oss://

    def open_upload(
        self, key: str, api_key: str | None, now: float | None = None
    ) -> contextlib.AbstractContextManager[Path]:
        """The file behind ``oss://<key>`` for `api_key`, local for the ``with`` block
        (`audio.sources.UploadResolver`). The key is checked now, before the block."""
        return self.local_file(self.lookup(key, key_id(api_key), now))

    def local_file(self, upload: StoredUpload) -> contextlib.AbstractContextManager[Path]:
        """The data of `upload` (from `lookup`) as a local file for a ``with`` block."""
        return self.blobs.local_file(self._names(_digest(upload.key))[0])

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
        data, meta = self._names(digest)
        upload = self._read_meta(meta)
        if (
            upload is None
            or upload.key != key
            or not hmac.compare_digest(upload.owner.encode(), owner.encode())
            or self._expired(upload.created_at, now)
            or self.blobs.info(data) is None
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
        blobs = list(self.blobs.list())
        names = {blob.key for blob in blobs}
        removed = self.blobs.remove_partials(now - self.retention_s)
        for blob in blobs:
            if blob.key.endswith(_META):
                upload = self._read_meta(blob.key)
                if upload is None or self._expired(upload.created_at, now):
                    self.blobs.delete(blob.key)  # invisible first, then the data
                    self.blobs.delete(blob.key.removesuffix(_META) + _DATA)
                    removed += 1
            elif _orphan(blob.key, names) and self._expired(blob.modified_at, now):
                self.blobs.delete(blob.key)  # an upload a crash interrupted between its two writes
                removed += 1
        return removed

    def remove_partials(self, idle_for_s: float = 0.0, now: float | None = None) -> int:
        """At start-up: delete what interrupted uploads left (partial writes; data never committed by its
        record), so no key stays blocked by an upload that did not complete. Returns how many went.

        Only what is untouched for `idle_for_s` goes (data without a record: at least `ORPHAN_GRACE_S`):
        where several servers share the store, an upload another server is still receiving writes at least
        once per body timeout, and must not lose it because this one (re)started."""
        now = self._now(now)
        removed = self.blobs.remove_partials(now - idle_for_s)
        blobs = list(self.blobs.list())
        names = {blob.key for blob in blobs}
        for blob in blobs:
            if _orphan(blob.key, names) and blob.modified_at < now - max(ORPHAN_GRACE_S, idle_for_s):
                self.blobs.delete(blob.key)
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

    @staticmethod
    def _names(digest: str) -> tuple[str, str]:
        return f"{digest}{_DATA}", f"{digest}{_META}"

    def _write_meta(self, meta: str, upload: StoredUpload) -> None:
        record = {
            "key": upload.key,
            "owner": upload.owner,
            "model": upload.model,
            "created_at": upload.created_at,
            "size_bytes": upload.size_bytes,
            "content_type": upload.content_type,
            "filename": upload.filename,
        }
        self.blobs.write(meta, io.BytesIO(json.dumps(record, ensure_ascii=False).encode("utf-8")))

    def _read_meta(self, meta: str) -> StoredUpload | None:
        try:
            with self.blobs.open(meta) as stream:
                record = json.loads(stream.read().decode("utf-8"))
            return StoredUpload(
                key=str(record["key"]),
                owner=str(record["owner"]),
                model=str(record["model"]),
                created_at=float(record["created_at"]),
                size_bytes=int(record["size_bytes"]),
                content_type=record.get("content_type"),
                filename=record.get("filename"),
            )
        except (BlobNotFoundError, OSError, ValueError, KeyError, TypeError):
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

    def open_upload(self, key: str, api_key: str | None) -> contextlib.AbstractContextManager[Path]:
        return self.store.local_file(self.store.lookup(key, self.owner))


# ------------------------------------------------------------------------------------------ functions


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


def _orphan(name: str, names: set[str]) -> bool:
    """`name` is an upload's data whose record is not among `names`."""
    return name.endswith(_DATA) and name.removesuffix(_DATA) + _META not in names


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


def _describe(n: int) -> str:
    return f"{n // MB} MB" if n % MB == 0 else f"{n} bytes"
