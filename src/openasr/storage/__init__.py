"""Blobs by key (uploads, results, task audio): a local directory by default, an S3 bucket for many nodes.

`open_store(StorageConfig)` builds the store the settings name; everything above takes a `BlobStore`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from openasr.storage.base import (
    BlobExistsError,
    BlobInfo,
    BlobNotFoundError,
    BlobStore,
    BlobTooLargeError,
    StorageError,
)
from openasr.storage.local import LocalBlobStore

__all__ = [
    "BlobExistsError",
    "BlobInfo",
    "BlobNotFoundError",
    "BlobStore",
    "BlobTooLargeError",
    "LocalBlobStore",
    "StorageConfig",
    "StorageError",
    "open_store",
]


@dataclass(frozen=True)
class StorageConfig:
    """Where blobs live; built from `Settings` at the top.

    `url`: None for the local directory `data_dir`, or ``s3://bucket/prefix``. `presigned_links`: on S3,
    hand out presigned bucket URLs for results instead of openasr's own signed links. `scratch_dir`: where
    blobs are downloaded when a reader needs a local file.
    """

    data_dir: Path
    url: str | None = None
    presigned_links: bool = False

    @property
    def scratch_dir(self) -> Path:
        return self.data_dir / "tmp"


def open_store(config: StorageConfig) -> BlobStore:
    """The root store of `config`; its users scope it with `child` (``uploads``, ``results``, ``work``)."""
    if config.url is None or not config.url.strip():
        return LocalBlobStore(config.data_dir)
    if config.url.startswith("s3://"):
        from openasr.storage.s3 import S3BlobStore

        return S3BlobStore.from_url(config.url, presign=config.presigned_links, scratch_dir=config.scratch_dir)
    raise ValueError(f"unsupported storage URL {config.url!r}: use s3://bucket/prefix, or leave it unset")
