"""The upload store behind the SDK's local-file flow (spec §6): signed policies, form uploads, oss:// keys.

The SDK uploads a local file in two steps before recognising it: it asks for a policy (E2, with its API
key), then POSTs the file as an OSS-style form to the `upload_host` the policy names (E3, *without* an API
key), and sends ``oss://<key>`` in the recognition request. This module is the server's side of it, with no
HTTP types:

* `UploadStore.issue_policy` signs a policy (an `UploadPolicy`, made and verified in
  `openasr.jobs.upload_policy`; `server/dashscope` words the answer).
* `UploadStore.accept` verifies the form of E3 (signature, expiry, ``key`` inside the policy's
  ``upload_dir``, a plain file name) and streams the file to the store with the policy's size cap.
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

import contextlib
import hashlib
import hmac
import io
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from openasr.core.errors import (
    InvalidParameterError,
    SourceNotFoundError,
    UploadExistsError,
    UploadTooLargeError,
)
from openasr.core.keys import key_id
from openasr.jobs.upload_policy import PolicySigner, UploadPolicy, check_key
from openasr.storage import BlobExistsError, BlobNotFoundError, BlobStore, BlobTooLargeError

MB = 1024 * 1024
DEFAULT_MAX_FILE_BYTES = 1024 * MB
"""Temporary-storage file limit of the service (spec §11: ≤ 1 GB); a policy may allow less."""
DEFAULT_RETENTION_S = 48 * 3600.0
"""Uploaded files are usable for 48 h (spec §11)."""
DEFAULT_POLICY_TTL_S = 300.0
"""A policy is good for 5 minutes: the SDK uploads right after asking for it."""
DEFAULT_PURGE_INTERVAL_S = 600.0
ORPHAN_GRACE_S = 300.0
"""Data without its record is left alone this long at start-up: another node may be finishing it."""
_DATA, _META = ".bin", ".json"


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
        if retention_s <= 0 or policy_ttl_s <= 0 or purge_interval_s < 0:
            raise ValueError("retention_s and policy_ttl_s must be positive, purge_interval_s >= 0")
        if max_file_bytes <= 0:
            raise ValueError("max_file_bytes must be positive")
        self.blobs = blobs
        self.retention_s = retention_s
        self.max_file_bytes = max_file_bytes
        self.policy_ttl_s = policy_ttl_s
        self.purge_interval_s = purge_interval_s
        self._signer = PolicySigner(secret)
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
        return self._signer.issue(api_key, model, now, self.policy_ttl_s, cap)

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
        claims = self._signer.verify(form, now)
        key = form.get("key") or ""
        check_key(key, claims.upload_dir)
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

    def open_data(self, upload: StoredUpload) -> IO[bytes]:
        """The data of `upload` (from `lookup`) as a stream, for serving it back to its owner."""
        return self.blobs.open(self._names(_digest(upload.key))[0])

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


def _orphan(name: str, names: set[str]) -> bool:
    """`name` is an upload's data whose record is not among `names`."""
    return name.endswith(_DATA) and name.removesuffix(_DATA) + _META not in names


def _digest(key: str) -> str:
    try:
        return hashlib.sha256(key.encode("utf-8")).hexdigest()
    except UnicodeEncodeError:
        raise InvalidParameterError("key is not valid UTF-8", param="key") from None


def _exists() -> UploadExistsError:
    message = "The object you specified already exists and can not be overwritten."
    return UploadExistsError(message, param="key")


def _describe(n: int) -> str:
    return f"{n // MB} MB" if n % MB == 0 else f"{n} bytes"
