"""Result files of finished tasks and the signed, expiring URLs they are fetched at (spec §7.5, E8).

A result is one JSON blob per key (``<key>.json``) in a `storage.BlobStore`, the data directory's
``results/`` or an S3 bucket, written atomically, so a reader never sees half a file. Clients fetch it
with a plain unauthenticated GET, like the real service's OSS links, so the URL itself carries the
authorisation. On S3 with presigned links on, that is the bucket's presigned URL; otherwise openasr's own
link to ``/results/<key>.json`` (served by any node from the store) with ``Expires`` (epoch seconds) and
``Signature`` = base64url(HMAC-SHA256(secret, "openasr-result" ⏎ key ⏎ expires)). Without the secret
nobody can mint a URL for another key or stretch an expiry.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import math
import re
import time
from collections.abc import Callable, Mapping
from typing import IO, Any
from urllib.parse import quote

from openasr.jobs.errors import ResultNotFoundError
from openasr.storage import BlobNotFoundError, BlobStore

_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_DOMAIN = b"openasr-result\n"
_SUFFIX = ".json"


class ResultStore:
    """Result JSON blobs in `blobs`, their links signed with `secret` (see `jobs.secrets`)."""

    def __init__(self, blobs: BlobStore, secret: bytes, *, clock: Callable[[], float] = time.time) -> None:
        if len(secret) < 16:
            raise ValueError("the signing secret must be at least 16 bytes")
        self._blobs = blobs
        self._secret = secret
        self._clock = clock

    def name(self, key: str) -> str:
        """The blob key of `key`'s result; `ValueError` for a key that is no plain task key."""
        if not _KEY.fullmatch(key) or ".." in key:
            raise ValueError(f"invalid result key {key!r}")
        return f"{key}{_SUFFIX}"

    def write(self, key: str, document: Mapping[str, Any]) -> None:
        """Store `document` as UTF-8 JSON under `key`, replacing any previous result atomically."""
        name = self.name(key)
        data = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        self._blobs.write(name, io.BytesIO(data))

    def open(self, key: str) -> IO[bytes]:
        """The stored result for streamed reading; `ResultNotFoundError` if there is none."""
        try:
            return self._blobs.open(self.name(key))
        except (BlobNotFoundError, ValueError) as exc:
            raise ResultNotFoundError(f"result {key!r} does not exist or has expired") from exc

    def read(self, key: str) -> dict[str, Any]:
        with self.open(key) as stream:
            document: dict[str, Any] = json.load(stream)
        return document

    def exists(self, key: str) -> bool:
        try:
            return self._blobs.info(self.name(key)) is not None
        except ValueError:
            return False

    def delete(self, key: str) -> None:
        self._blobs.delete(self.name(key))

    def signature(self, key: str, expires_at: int) -> str:
        mac = hmac.new(self._secret, _DOMAIN + f"{key}\n{int(expires_at)}".encode(), hashlib.sha256)
        return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode("ascii")

    def signed_url(self, base_url: str, key: str, expires_at: int) -> str:
        """The store's presigned URL if it makes them, else
        ``{base_url}/results/{key}.json?Expires=…&Signature=…``; `expires_at` is epoch seconds."""
        presigned = self._blobs.presigned_url(self.name(key), max(1, math.ceil(expires_at - self._clock())))
        if presigned is not None:
            return presigned
        return (
            f"{base_url.rstrip('/')}/results/{quote(key, safe='')}{_SUFFIX}"
            f"?Expires={int(expires_at)}&Signature={self.signature(key, expires_at)}"
        )

    def verify(self, key: str, expires: str | int, signature: str, now: float | None = None) -> bool:
        """True when `signature` was made by this store for (`key`, `expires`) and `expires` is not past.

        Arguments are taken as they arrive in the query string; anything malformed is simply False.
        """
        try:
            expires_at = int(expires)
            self.name(key)
        except (TypeError, ValueError):
            return False
        if (self._clock() if now is None else now) > expires_at:
            return False
        return hmac.compare_digest(self.signature(key, expires_at), str(signature))

    def purge(self, written_before_s: float) -> int:
        """Delete results (and leftovers of interrupted writes) last written before `written_before_s`."""
        removed = self._blobs.remove_partials(written_before_s)
        for blob in list(self._blobs.list()):
            if blob.key.endswith(_SUFFIX) and "/" not in blob.key and blob.modified_at < written_before_s:
                self._blobs.delete(blob.key)
                removed += 1
        return removed
