"""Result files of finished tasks and the signed, expiring URLs they are fetched at (spec §7.5, E8).

A result is one JSON file per key in a directory, written atomically (temp file, fsync, rename), so a
reader never sees half a file. Clients fetch it with a plain unauthenticated GET, like the real
service's OSS links, so the URL itself carries the authorisation: ``Expires`` (epoch seconds) and
``Signature`` = base64url(HMAC-SHA256(secret, "openasr-result" ⏎ key ⏎ expires)). Without the secret
nobody can mint a URL for another key or stretch an expiry.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

from openasr.jobs.errors import ResultNotFoundError

_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_DOMAIN = b"openasr-result\n"
_SUFFIX = ".json"


class ResultStore:
    """Result JSON files under `directory`, signed with `secret` (see `jobs.secrets`)."""

    def __init__(self, directory: Path, secret: bytes, *, clock: Callable[[], float] = time.time) -> None:
        if len(secret) < 16:
            raise ValueError("the signing secret must be at least 16 bytes")
        self._directory = directory
        self._secret = secret
        self._clock = clock

    @property
    def directory(self) -> Path:
        return self._directory

    def path(self, key: str) -> Path:
        """Where the result of `key` lives; `ValueError` for a key that could escape the directory."""
        if not _KEY.fullmatch(key) or ".." in key:
            raise ValueError(f"invalid result key {key!r}")
        return self._directory / f"{key}{_SUFFIX}"

    def write(self, key: str, document: Mapping[str, Any]) -> Path:
        """Store `document` as UTF-8 JSON under `key`, replacing any previous result atomically."""
        target = self.path(key)
        self._directory.mkdir(parents=True, exist_ok=True)
        data = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        fd, tmp_name = tempfile.mkstemp(prefix=f".{key}.", suffix=".tmp", dir=self._directory)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return target

    def open(self, key: str) -> IO[bytes]:
        """The stored result for reading; `ResultNotFoundError` if there is none."""
        try:
            return self.path(key).open("rb")
        except (FileNotFoundError, ValueError) as exc:
            raise ResultNotFoundError(f"result {key!r} does not exist or has expired") from exc

    def read(self, key: str) -> dict[str, Any]:
        with self.open(key) as stream:
            document: dict[str, Any] = json.load(stream)
        return document

    def exists(self, key: str) -> bool:
        try:
            return self.path(key).is_file()
        except ValueError:
            return False

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def signature(self, key: str, expires_at: int) -> str:
        mac = hmac.new(self._secret, _DOMAIN + f"{key}\n{int(expires_at)}".encode(), hashlib.sha256)
        return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode("ascii")

    def signed_url(self, base_url: str, key: str, expires_at: int) -> str:
        """``{base_url}/results/{key}.json?Expires=…&Signature=…``; `expires_at` is epoch seconds."""
        self.path(key)  # validates the key
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
            self.path(key)
        except (TypeError, ValueError):
            return False
        if (self._clock() if now is None else now) > expires_at:
            return False
        return hmac.compare_digest(self.signature(key, expires_at), str(signature))

    def purge(self, written_before_s: float) -> int:
        """Delete results (and stray temp files) last written before `written_before_s` (epoch s)."""
        if not self._directory.is_dir():
            return 0
        removed = 0
        for entry in self._directory.iterdir():
            if not (entry.name.endswith(_SUFFIX) or entry.name.endswith(".tmp")):
                continue
            try:
                if entry.is_file() and entry.stat().st_mtime < written_before_s:
                    entry.unlink()
                    removed += 1
            except FileNotFoundError:  # purged concurrently by another worker
                continue
        return removed
