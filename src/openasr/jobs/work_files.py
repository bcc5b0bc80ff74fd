"""A task's work files: its audio, fetched once and kept in a blob store until the task ends.

The worker fetches a task's audio (URL, data: URI, upload) once and keeps it under
``<task_id>/source<ext>`` in a `storage.BlobStore`: ``data_dir/work/`` by default (a hard link, no
copy), or the shared S3 store, where a node that resumes the task after another one died finds it
without downloading again. Decoding needs a local file: the fresh download on the first run, the kept
file itself in a local directory, a temporary download from S3 on a resumed run.
"""

from __future__ import annotations

import contextlib
import logging
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from openasr.audio.sources import SourcePolicy, UploadResolver, fetch_audio
from openasr.storage import BlobStore

log = logging.getLogger(__name__)

SOURCE_NAME = "source"
"""Name stem of the kept audio (its extension follows, so the decoder can read ``.pcm``/``.raw``)."""


@dataclass(frozen=True)
class WorkFiles:
    """Work files in `blobs`; downloads land in the node-local ``scratch_dir/<task_id>/`` first."""

    blobs: BlobStore
    scratch_dir: Path

    @contextlib.contextmanager
    def audio(
        self,
        task_id: str,
        file_url: str,
        policy: SourcePolicy,
        *,
        uploads: UploadResolver | None,
        oss_resolve: bool,
    ) -> Iterator[Path]:
        """The task's audio as a local file for the ``with`` block: kept from an earlier run, or fetched
        now (`fetch_audio` enforces `policy`) and kept. A local file under the file roots is used in
        place, never copied."""
        kept = next(iter(self.blobs.list(f"{task_id}/{SOURCE_NAME}")), None)
        if kept is not None:
            with self.blobs.local_file(kept.key) as path:
                yield path
            return
        scratch = self.scratch_dir / task_id
        shutil.rmtree(scratch, ignore_errors=True)  # what a run killed mid-download left on this node
        scratch.mkdir(parents=True)
        try:
            with fetch_audio(
                file_url, policy, scratch, uploads=uploads, api_key=None, oss_resolve=oss_resolve
            ) as local:
                if local.origin != "path":
                    # an upload's blob has a digest name: the key's extension tells the format
                    first = _url_suffix(file_url) if local.origin == "oss" else local.path.suffix
                    suffix = first or local.path.suffix or _url_suffix(file_url)
                    self.blobs.write_file(f"{task_id}/{SOURCE_NAME}{suffix}", local.path)
                yield local.path
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def drop(self, task_id: str) -> None:
        """Delete the task's work files (it ended). Never raises: `sweep` retries what is left."""
        try:
            for blob in list(self.blobs.list(f"{task_id}/")):
                self.blobs.delete(blob.key)
        except Exception:
            log.exception("task %s: could not delete its work files", task_id)

    def sweep(self, is_done: Callable[[str], bool]) -> int:
        """Delete the work files of every task for which `is_done(task_id)`; returns how many tasks."""
        by_task: dict[str, list[str]] = {}
        for blob in self.blobs.list():
            by_task.setdefault(blob.key.partition("/")[0], []).append(blob.key)
        swept = 0
        for task_id, keys in by_task.items():
            if is_done(task_id):
                for key in keys:
                    self.blobs.delete(key)
                swept += 1
        return swept


def _url_suffix(file_url: str) -> str:
    """The extension of the URL's path if it is a plain one (the decoder needs ``.pcm``/``.raw`` to read
    headerless audio), else ''."""
    suffix = PurePosixPath(urlsplit(file_url).path).suffix
    return suffix.lower() if re.fullmatch(r"\.[A-Za-z0-9]{1,8}", suffix) else ""
