"""Resolve an audio reference to a local file the decoder can probe and decode.

An audio reference is one of (spec §4.2, §6, §11):

* ``http://`` / ``https://`` URL — downloaded by `openasr.audio.download` (the SSRF guard lives there);
* ``data:<mime>;base64,<payload>`` — decoded by `openasr.audio.data_uri`;
* ``oss://<key>`` — a key of the server's own upload store, looked up through an `UploadResolver`;
* anything else — a local path, allowed only inside the configured file roots.

This module holds what the callers see (`fetch_audio`, `LocalAudio`, `UploadResolver`, and `SourcePolicy`,
defined beside the SSRF rules it configures in `download`) and the dispatch; each kind of reference that
needs more than a few lines has its own module.

`fetch_audio` is a context manager: temp files it created are deleted when the block exits (or when the
fetch fails); files that belong to the user (paths under a root) or to the upload store are never touched.
"""

from __future__ import annotations

import mimetypes
import re
import stat
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from openasr.audio.data_uri import decode_data_uri
from openasr.audio.download import SourcePolicy as SourcePolicy
from openasr.audio.download import download
from openasr.audio.spool import PARAM, Spooled, too_large
from openasr.core.errors import InvalidParameterError, SourceError, SourceNotFoundError

Origin = Literal["url", "data", "oss", "path"]

_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")


@dataclass(frozen=True)
class LocalAudio:
    """An audio reference made local: a file on disk the decoder may open."""

    path: Path
    size_bytes: int
    origin: Origin
    mime: str | None = None


class UploadResolver(Protocol):
    """Maps an ``oss://`` key to the stored file, local while the context is open (implemented by the
    upload store: the file itself, or a download when the uploads are in S3).

    Raises `SourceNotFoundError` for an unknown key or one the API key may not read.
    """

    def open_upload(self, key: str, api_key: str | None) -> AbstractContextManager[Path]: ...


# ----------------------------------------------------------------------------------------- entry point


@contextmanager
def fetch_audio(
    ref: str,
    policy: SourcePolicy,
    workdir: Path,
    *,
    uploads: UploadResolver | None = None,
    api_key: str | None = None,
    oss_resolve: bool = False,
) -> Iterator[LocalAudio]:
    """Resolve `ref` to a local file for the duration of the ``with`` block.

    Temp files (downloads, decoded data URIs) live in `workdir` and are removed on exit and on failure.
    Raises `InvalidParameterError` for a malformed or disallowed reference, `AudioTooLargeError` over
    `policy.max_size_bytes`, `SourceError` (and its 403/404 subclasses) when fetching fails.
    """
    temps: list[Path] = []
    try:
        with ExitStack() as stack:
            yield _resolve(
                ref, policy, workdir, temps, stack, uploads=uploads, api_key=api_key, oss_resolve=oss_resolve
            )
    finally:
        for path in temps:
            path.unlink(missing_ok=True)


def _resolve(
    ref: str,
    policy: SourcePolicy,
    workdir: Path,
    temps: list[Path],
    stack: ExitStack,
    *,
    uploads: UploadResolver | None,
    api_key: str | None,
    oss_resolve: bool,
) -> LocalAudio:
    if not ref:
        raise InvalidParameterError("audio reference is empty", param=PARAM)
    if ref[:5].lower() == "data:":
        return _local(decode_data_uri(ref, policy.max_size_bytes, workdir, temps), "data")
    match = _SCHEME.match(ref)
    if match:
        scheme = match.group(1).lower()
        if scheme in ("http", "https"):
            return _local(download(ref, policy, workdir, temps), "url")
        if scheme == "oss":
            return _from_upload(ref[match.end() :], policy, stack, uploads, api_key, oss_resolve)
        raise InvalidParameterError(
            f"unsupported audio URL scheme {scheme!r}: use http(s)://, data: or oss://", param=PARAM
        )
    return _from_local_path(ref, policy)


# ---------------------------------------------------------------------------------------------- oss://


def _from_upload(
    key: str,
    policy: SourcePolicy,
    stack: ExitStack,
    uploads: UploadResolver | None,
    api_key: str | None,
    oss_resolve: bool,
) -> LocalAudio:
    if not oss_resolve:
        raise InvalidParameterError(
            "oss:// audio requires the header 'X-DashScope-OssResourceResolve: enable'", param=PARAM
        )
    if uploads is None:
        raise InvalidParameterError("oss:// audio is not supported here (no upload store)", param=PARAM)
    if not key:
        raise InvalidParameterError("oss:// audio URL has no key", param=PARAM)
    path = stack.enter_context(uploads.open_upload(key, api_key))
    size = _regular_file_size(path, what="uploaded file")
    if size > policy.max_size_bytes:
        raise too_large(policy.max_size_bytes)
    return LocalAudio(path=path, size_bytes=size, origin="oss", mime=mimetypes.guess_type(key)[0])


# ----------------------------------------------------------------------------------------- local path


def _from_local_path(ref: str, policy: SourcePolicy) -> LocalAudio:
    if not policy.file_roots:
        raise InvalidParameterError(
            "local file paths are disabled on this server: send an http(s) URL, a data: URI or an oss:// key",
            param=PARAM,
        )
    try:
        target = Path(ref).resolve()
        roots = [root.resolve() for root in policy.file_roots]
    except (OSError, RuntimeError, ValueError) as exc:  # symlink loop, NUL byte, ...
        raise InvalidParameterError("audio path is not valid", param=PARAM) from exc
    if not any(target.is_relative_to(root) for root in roots):
        raise InvalidParameterError("audio path is outside the allowed file roots", param=PARAM)
    size = _regular_file_size(target, what="audio file")
    if size > policy.max_size_bytes:
        raise too_large(policy.max_size_bytes)
    return LocalAudio(path=target, size_bytes=size, origin="path", mime=mimetypes.guess_type(target.name)[0])


def _regular_file_size(path: Path, *, what: str) -> int:
    try:
        info = path.stat()
    except FileNotFoundError as exc:
        raise SourceNotFoundError(f"{what} not found", param=PARAM) from exc
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise SourceError(f"could not read {what}: {reason}", param=PARAM) from exc
    if not stat.S_ISREG(info.st_mode):
        raise InvalidParameterError(f"{what} is not a regular file", param=PARAM)
    return info.st_size


def _local(spooled: Spooled, origin: Origin) -> LocalAudio:
    return LocalAudio(path=spooled.path, size_bytes=spooled.size_bytes, origin=origin, mime=spooled.mime)
