"""Temp files for fetched audio and the size-limit error, shared by the fetchers of `openasr.audio.sources`.

A download (`openasr.audio.download`) and a data URI (`openasr.audio.data_uri`) both end as a temp file
in the work directory that `fetch_audio` deletes afterwards; they register it here the same way and
refuse oversized audio with the same message.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import IO, NamedTuple

from openasr.core.errors import AudioTooLargeError

PARAM = "audio"
"""The request parameter every audio-source error names."""
_SAFE_SUFFIX = re.compile(r"\.[A-Za-z0-9]{1,8}")


class Spooled(NamedTuple):
    """Audio written to a temp file: where, how many bytes, and the MIME type the source declared."""

    path: Path
    size_bytes: int
    mime: str | None


def new_temp(workdir: Path, suffix: str, temps: list[Path]) -> tuple[Path, IO[bytes]]:
    """A fresh temp file in `workdir`, open for writing, registered in `temps` for deletion."""
    workdir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix="openasr-", suffix=suffix, dir=workdir)
    path = Path(name)
    temps.append(path)  # registered before anything can fail, so fetch_audio always cleans it up
    return path, os.fdopen(fd, "wb")


def safe_suffix(path_or_ext: str) -> str:
    """A short alphanumeric extension (helps the decoder guess the container), or ''."""
    ext = os.path.splitext(path_or_ext)[1] if not path_or_ext.startswith(".") else path_or_ext
    return ext.lower() if _SAFE_SUFFIX.fullmatch(ext) else ""


def too_large(max_size_bytes: int) -> AudioTooLargeError:
    return AudioTooLargeError(f"audio is larger than the {_megabytes(max_size_bytes)} limit", param=PARAM)


def _megabytes(n: int) -> str:
    mib = 1024 * 1024
    return f"{n / mib if n % mib == 0 else n / 1_000_000:g} MB"
