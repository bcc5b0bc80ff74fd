"""A task's audio as a local file, fetched once per task and kept until the task ends.

Downloads (and data: URIs) are moved into the task's work directory and uploads hard-linked there, under
a stable name, so a resumed run, after a crash or a shutdown, reuses them instead of downloading again.
"""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath
from typing import Protocol
from urllib.parse import urlsplit

from openasr.audio.sources import SourcePolicy, UploadResolver, fetch_audio
from openasr.jobs.store import TaskRecord

_SOURCE_NAME = "source"
"""Name stem of the kept download in a task's work directory (the temp name starts with ``openasr-``)."""


class UploadOwners(Protocol):
    """Gives the `UploadResolver` that reads ``oss://`` keys as one owner (an API key id): a task keeps
    only its key's id, never the key (`openasr.jobs.uploads.UploadStore.for_owner` is one)."""

    def for_owner(self, owner: str) -> UploadResolver: ...


def local_audio(task: TaskRecord, work_dir: Path, policy: SourcePolicy, owners: UploadOwners | None) -> Path:
    """The task's audio as a local file, within `policy`'s limits. Downloads (and data: URIs) are moved
    into the work directory and uploads hard-linked there, under a stable name, so a resumed run reuses
    them; a local file under the server's file roots is used in place."""
    work_dir.mkdir(parents=True, exist_ok=True)
    kept = sorted(work_dir.glob(f"{_SOURCE_NAME}*"))
    if kept:
        return kept[0]
    for leftover in work_dir.glob("openasr-*"):  # a download cut short by a crash
        leftover.unlink(missing_ok=True)
    with fetch_audio(
        task.file_url,
        policy,
        work_dir,
        uploads=owners.for_owner(task.api_key_id) if owners is not None else None,
        api_key=None,
        oss_resolve=task.params.oss_resolve,
    ) as local:
        if local.origin == "path":
            return local.path  # the user's own file, used in place
        if local.origin == "oss":  # stored under a digest name: the key's extension tells the format
            suffix = _url_suffix(task.file_url) or local.path.suffix
        else:
            suffix = local.path.suffix or _url_suffix(task.file_url)
        target = work_dir / f"{_SOURCE_NAME}{suffix}"
        if local.origin == "oss":
            # A hard link keeps the upload readable even if its retention ends mid-task; no copy.
            try:
                os.link(local.path, target)
            except OSError:
                return local.path
            return target
        os.replace(local.path, target)  # a temp file: fetch_audio's cleanup then finds nothing to delete
        return target


def _url_suffix(file_url: str) -> str:
    """The extension of the URL's path if it is a plain one (the decoder needs ``.pcm``/``.raw`` to read
    headerless audio), else ''."""
    suffix = PurePosixPath(urlsplit(file_url).path).suffix
    return suffix.lower() if re.fullmatch(r"\.[A-Za-z0-9]{1,8}", suffix) else ""
