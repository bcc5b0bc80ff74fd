"""The blob interface every store implements: bytes by key, streamed in and out, listed with their age.

Keys are relative, ``/``-separated names (``results/<task>.json``, ``uploads/<digest>.bin``); a store
never lets a key leave its root. A store is scoped with `child` (``blobs.child("results")``), so each
user of blobs sees only its own keys and the layout is decided in one place (`storage.open_store`).

Writes are atomic: a reader sees the whole blob or none of it, never half a write, and a write that
fails or is killed leaves no blob under its key (at most a partial that `remove_partials` clears).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

BLOCK_BYTES = 1 << 20
"""Unit of streamed copies (1 MiB): a size cap is overshot by at most this much reading."""


class StorageError(Exception):
    """Base of the storage layer's errors; callers translate them into their own (`core.errors`)."""


class BlobNotFoundError(StorageError):
    """No blob under the key."""


class BlobExistsError(StorageError):
    """A write with ``overwrite=False`` found a blob under the key already."""


class BlobTooLargeError(StorageError):
    """A streamed write passed its `max_bytes`; nothing was stored."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(f"more than {max_bytes} bytes")
        self.max_bytes = max_bytes


@dataclass(frozen=True)
class BlobInfo:
    """A stored blob: its key (relative to the store it was listed from), size and last write (epoch s)."""

    key: str
    size_bytes: int
    modified_at: float


class BlobStore(Protocol):
    """Blobs by key: a local directory (`LocalBlobStore`) or an S3 bucket prefix (`S3BlobStore`)."""

    @property
    def location(self) -> str:
        """Where the blobs live, for logs: a directory or ``s3://bucket/prefix``."""
        ...

    def child(self, prefix: str) -> BlobStore:
        """The same store scoped to the keys under ``prefix/``."""
        ...

    def write(self, key: str, stream: IO[bytes], *, max_bytes: int | None = None, overwrite: bool = True) -> BlobInfo:
        """Store what `stream` yields under `key`, reading it in blocks (never all in memory).

        `BlobTooLargeError` once more than `max_bytes` arrive; `BlobExistsError` with ``overwrite=False``
        when the key is taken. Either way, and on any failure of `stream`, nothing is left under `key`.
        """
        ...

    def create(self, key: str, data: bytes) -> bool:
        """Store the small `data` under `key` only if the key is free, atomically even between nodes;
        True if this call created it, False if the key was taken (its blob is left as it was)."""
        ...

    def write_file(self, key: str, path: Path) -> BlobInfo:
        """Store the local file `path` under `key` (a hard link where the store is on the same disk)."""
        ...

    def open(self, key: str) -> IO[bytes]:
        """The blob for streamed reading; `BlobNotFoundError` if there is none."""
        ...

    def local_file(self, key: str) -> AbstractContextManager[Path]:
        """The blob as a local file for the ``with`` block, for readers that need a path (the decoder):
        the file itself in a local directory, a temporary download (same suffix) for S3."""
        ...

    def info(self, key: str) -> BlobInfo | None:
        """Size and age of the blob, or None if there is none."""
        ...

    def delete(self, key: str) -> None:
        """Remove the blob; no error if there is none."""
        ...

    def list(self, prefix: str = "") -> Iterator[BlobInfo]:
        """Every complete blob whose key starts with `prefix` (a plain string prefix, as in S3)."""
        ...

    def presigned_url(self, key: str, expires_in_s: int) -> str | None:
        """A URL that fetches the blob without credentials for `expires_in_s`, when this store makes its
        own (S3 with presigned links on); None: the caller signs a link to its own route instead."""
        ...

    def remove_partials(self, older_than_s: float) -> int:
        """Clear what writes interrupted by a crash left (temporary files, unfinished multipart uploads)
        started before `older_than_s` (epoch s); returns how many went."""
        ...


def check_key(key: str) -> str:
    """`key` if it is a safe relative key: ``/``-separated, no empty, ``.`` or ``..`` segment, no NUL or
    backslash; else `ValueError`. Stores call it, so no key ever names something outside their root."""
    parts = key.split("/")
    if not key or any(p in ("", ".", "..") for p in parts) or "\0" in key or "\\" in key:
        raise ValueError(f"invalid blob key {key!r}")
    return key


def join_prefix(prefix: str, key: str) -> str:
    """``prefix/key`` for a scoped store (`prefix` '' for the root)."""
    return f"{prefix}/{key}" if prefix else key


class CappedReader:
    """Reads `stream`, raising `BlobTooLargeError` as soon as more than `max_bytes` came through."""

    def __init__(self, stream: IO[bytes], max_bytes: int | None) -> None:
        self._stream = stream
        self._max_bytes = max_bytes
        self.size_bytes = 0

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return b"".join(iter(lambda: self.read(BLOCK_BYTES), b""))
        block = self._stream.read(size)
        self.size_bytes += len(block)
        if self._max_bytes is not None and self.size_bytes > self._max_bytes:
            raise BlobTooLargeError(self._max_bytes)
        return block
