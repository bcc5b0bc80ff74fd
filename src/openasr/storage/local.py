"""Blobs as files under a local directory: the single-machine default (``OPENASR_DATA_DIR``).

A key is its path under the root, so the data directory keeps its familiar layout (``uploads/``,
``results/``, ``work/<task>/``). A write goes to ``<name>.<random>.part`` beside its target and is renamed
(or, with ``overwrite=False``, hard-linked: the atomic claim of a key) into place once complete, so
readers and listings never see half a file; `remove_partials` clears what a killed writer left.
"""

from __future__ import annotations

import contextlib
import io
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from openasr.storage.base import (
    BLOCK_BYTES,
    BlobExistsError,
    BlobInfo,
    BlobNotFoundError,
    BlobTooLargeError,
    check_key,
)

PARTIAL_SUFFIX = ".part"


class LocalBlobStore:
    """Blobs under `root`; files are created with `file_mode` (0600: uploads are private by default)."""

    def __init__(self, root: Path, *, file_mode: int = 0o600) -> None:
        self.root = root
        self._file_mode = file_mode

    @property
    def location(self) -> str:
        return str(self.root)

    def child(self, prefix: str) -> LocalBlobStore:
        return LocalBlobStore(self.root / check_key(prefix), file_mode=self._file_mode)

    def path(self, key: str) -> Path:
        """Where the blob of `key` lies (whether or not it exists)."""
        return self.root / check_key(key)

    def write(self, key: str, stream: IO[bytes], *, max_bytes: int | None = None, overwrite: bool = True) -> BlobInfo:
        target = self.path(key)
        if not overwrite and target.exists():
            raise BlobExistsError(key)
        with self._partial(target) as partial:
            size = 0
            with partial.open("r+b") as out:
                while block := stream.read(BLOCK_BYTES):
                    size += len(block)
                    if max_bytes is not None and size > max_bytes:
                        raise BlobTooLargeError(max_bytes)
                    out.write(block)
                out.flush()
                os.fsync(out.fileno())
            self._commit(partial, target, key, overwrite)
        return self._info(key, target)

    def create(self, key: str, data: bytes) -> bool:
        try:
            self.write(key, io.BytesIO(data), overwrite=False)
        except BlobExistsError:
            return False
        return True

    def write_file(self, key: str, path: Path) -> BlobInfo:
        target = self.path(key)
        with self._partial(target) as partial:
            try:  # the same disk: no copy, and the blob outlives the caller's file
                partial.unlink()
                os.link(path, partial)
            except OSError:
                shutil.copyfile(path, partial)
                os.chmod(partial, self._file_mode)
            self._commit(partial, target, key, overwrite=True)
        return self._info(key, target)

    def open(self, key: str) -> IO[bytes]:
        try:
            return self.path(key).open("rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise BlobNotFoundError(key) from exc

    @contextlib.contextmanager
    def local_file(self, key: str) -> Iterator[Path]:
        path = self.path(key)
        if not path.is_file():
            raise BlobNotFoundError(key)
        yield path

    def info(self, key: str) -> BlobInfo | None:
        path = self.path(key)
        try:
            return self._info(key, path) if path.is_file() else None
        except FileNotFoundError:
            return None

    def delete(self, key: str) -> None:
        path = self.path(key)
        path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # drop directories the key leaves empty (work/<task>/)
            for parent in path.parents:
                if parent == self.root or not parent.is_relative_to(self.root):
                    break
                parent.rmdir()

    def list(self, prefix: str = "") -> Iterator[BlobInfo]:
        for key, path in self._walk(prefix):
            if path.name.endswith(PARTIAL_SUFFIX):
                continue
            with contextlib.suppress(FileNotFoundError):  # deleted while listing
                yield self._info(key, path)

    def presigned_url(self, key: str, expires_in_s: int) -> str | None:
        return None  # a directory has no web server of its own: openasr signs links to its routes

    def remove_partials(self, older_than_s: float) -> int:
        removed = 0
        for _, path in self._walk(""):
            if path.name.endswith(PARTIAL_SUFFIX):
                with contextlib.suppress(FileNotFoundError):
                    if path.stat().st_mtime < older_than_s:
                        path.unlink()
                        removed += 1
        return removed

    # -------------------------------------------------------------------------------------- helpers

    @contextlib.contextmanager
    def _partial(self, target: Path) -> Iterator[Path]:
        """A fresh private temporary file beside `target`, removed on exit (committed or not)."""
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)  # blob names stay private too
        partial = target.with_name(f"{target.name}.{secrets.token_hex(8)}{PARTIAL_SUFFIX}")
        os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, self._file_mode))
        try:
            yield partial
        finally:
            partial.unlink(missing_ok=True)

    @staticmethod
    def _commit(partial: Path, target: Path, key: str, overwrite: bool) -> None:
        if overwrite:
            os.replace(partial, target)
            return
        try:  # of two writers racing for one key, the second to finish gets BlobExistsError
            os.link(partial, target)
        except FileExistsError as exc:
            raise BlobExistsError(key) from exc

    @staticmethod
    def _info(key: str, path: Path) -> BlobInfo:
        stat = path.stat()
        return BlobInfo(key=key, size_bytes=stat.st_size, modified_at=stat.st_mtime)

    def _walk(self, prefix: str) -> Iterator[tuple[str, Path]]:
        """(key, path) of every file under the directory part of `prefix` whose key starts with it."""
        head = prefix.rpartition("/")[0]
        start = self.root / check_key(head) if head else self.root
        for directory, _, names in os.walk(start):
            base = Path(directory)
            for name in names:
                path = base / name
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    yield key, path
