"""Resolve an audio reference to a local file the decoder can probe and decode.

An audio reference is one of (spec §4.2, §6, §11):

* ``http://`` / ``https://`` URL — downloaded with httpx, streamed to a temp file, redirects followed by
  hand so that every hop passes the SSRF guard, body size capped while it streams;
* ``data:<mime>;base64,<payload>`` — decoded chunk by chunk straight to a temp file;
* ``oss://<key>`` — a key of the server's own upload store, looked up through an `UploadResolver`;
* anything else — a local path, allowed only inside the configured file roots.

`fetch_audio` is a context manager: temp files it created are deleted when the block exits (or when the
fetch fails); files that belong to the user (paths under a root) or to the upload store are never touched.

This module is the one boundary where httpx errors become `AsrError`s.

SSRF guard: before each hop the host is resolved and *every* address must be public (see
`is_public_address`) unless the policy allows private URLs; the request then goes to one of the vetted
IPs (the URL's host is replaced by the IP, the ``Host`` header and TLS SNI/certificate check keep the
original name), so a DNS answer that changes between check and connect (DNS rebinding) cannot redirect
the download. Proxies from the environment are ignored (``trust_env=False``), since a proxy would make
the address check meaningless.
"""

from __future__ import annotations

import base64
import ipaddress
import math
import mimetypes
import os
import re
import socket
import ssl
import stat
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal, Protocol

import httpx

from openasr.core.errors import (
    AudioTooLargeError,
    InvalidParameterError,
    SourceError,
    SourceForbiddenError,
    SourceNotFoundError,
)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Sequence[str]]
"""``(host, port) -> IP address strings``; the default asks the system resolver."""
AddressFilter = Callable[[IPAddress], bool]
"""``ip -> allowed?``; the default is `is_public_address`."""
Origin = Literal["url", "data", "oss", "path"]

PARAM = "audio"
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_DATA_CHUNK_CHARS = 1 << 20
_B64_WHITESPACE = " \t\r\n\f\v"
_B64_STRIP = str.maketrans("", "", _B64_WHITESPACE)
_MAX_DATA_HEADER_CHARS = 1024
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")
_SAFE_SUFFIX = re.compile(r"\.[A-Za-z0-9]{1,8}")
_B64_GROUPS = re.compile(r"[A-Za-z0-9+/]*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


# --------------------------------------------------------------------------------------------- policy


def is_public_address(ip: IPAddress) -> bool:
    """True when `ip` is a globally routable unicast address, i.e. safe to fetch from.

    Refused: loopback, private, shared (100.64/10), link-local (169.254/16, fe80::/10), multicast,
    reserved, unspecified, documentation ranges — and IPv6 forms that embed such an IPv4 address
    (IPv4-mapped ``::ffff:a.b.c.d``, NAT64 ``64:ff9b::/96``, 6to4, Teredo).
    """
    if isinstance(ip, ipaddress.IPv6Address):
        embedded: list[ipaddress.IPv4Address] = []
        if ip.ipv4_mapped is not None:
            embedded.append(ip.ipv4_mapped)
        if ip in _NAT64:
            embedded.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        if ip.sixtofour is not None:
            embedded.append(ip.sixtofour)
        if ip.teredo is not None:
            embedded.extend(ip.teredo)
        if any(not is_public_address(inner) for inner in embedded):
            return False
        if ip.ipv4_mapped is not None or ip in _NAT64:
            return True  # stands for a public IPv4 address (dual stack, DNS64)
    return ip.is_global and not (
        ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_reserved or ip.is_unspecified
    )


def system_resolve(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for `host` (order kept, duplicates dropped)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: dict[str, None] = {}
    for info in infos:
        seen.setdefault(str(info[4][0]), None)
    return list(seen)


@dataclass(frozen=True)
class SourcePolicy:
    """Limits for one surface (10 MB sync, 2 GB async) and the SSRF / local-file rules.

    `resolve` and `address_allowed` exist so tests can stand in a fake DNS name and a fake "public"
    address; production code keeps the defaults.
    """

    max_size_bytes: int
    allow_private_urls: bool = False
    file_roots: tuple[Path, ...] = ()
    timeout_s: float = 30.0
    max_redirects: int = 3
    resolve: Resolver = field(default=system_resolve, repr=False, compare=False)
    address_allowed: AddressFilter = field(default=is_public_address, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.max_size_bytes <= 0:
            raise ValueError("max_size_bytes must be positive")
        if self.timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        if self.max_redirects < 0:
            raise ValueError("max_redirects must be >= 0")


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
        return _from_data_uri(ref, policy, workdir, temps)
    match = _SCHEME.match(ref)
    if match:
        scheme = match.group(1).lower()
        if scheme in ("http", "https"):
            return _download(ref, policy, workdir, temps)
        if scheme == "oss":
            return _from_upload(ref[match.end() :], policy, stack, uploads, api_key, oss_resolve)
        raise InvalidParameterError(
            f"unsupported audio URL scheme {scheme!r}: use http(s)://, data: or oss://", param=PARAM
        )
    return _from_local_path(ref, policy)


# ------------------------------------------------------------------------------------------- http(s)


def _download(ref: str, policy: SourcePolicy, workdir: Path, temps: list[Path]) -> LocalAudio:
    url = _parse_http_url(ref)
    ssl_context = httpx.create_ssl_context()
    redirects = 0
    try:
        while True:
            with _open(url, policy, ssl_context) as response:
                if response.status_code in _REDIRECT_STATUSES:
                    location = response.headers.get("location")
                    if not location:
                        raise SourceError(
                            f"could not download {_show(url)}: redirect without a Location header",
                            param=PARAM,
                        )
                    if redirects >= policy.max_redirects:
                        raise SourceError(
                            f"could not download {_show(url)}: more than {policy.max_redirects} redirects",
                            param=PARAM,
                        )
                    redirects += 1
                    url = _parse_http_url(location, base=url)
                    continue
                _check_status(response, url)
                return _save_response(response, url, policy, workdir, temps)
    except httpx.TimeoutException as exc:
        raise SourceError(f"could not download {_show(url)}: timed out", param=PARAM) from exc
    except httpx.ConnectError as exc:
        raise SourceError(f"could not download {_show(url)}: connection failed", param=PARAM) from exc
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise SourceError(f"could not download {_show(url)}: {type(exc).__name__}", param=PARAM) from exc


def _parse_http_url(text: str, base: httpx.URL | None = None) -> httpx.URL:
    try:
        url = base.join(text) if base is not None else httpx.URL(text)
    except (httpx.InvalidURL, ValueError) as exc:
        raise InvalidParameterError(f"audio URL is not valid: {exc}", param=PARAM) from exc
    if url.scheme not in ("http", "https"):
        what = "redirect target" if base is not None else "audio URL"
        raise InvalidParameterError(f"{what} must use http or https, not {url.scheme or 'no scheme'!r}", param=PARAM)
    if not url.raw_host:
        raise InvalidParameterError("audio URL has no host", param=PARAM)
    return url


def _vetted_addresses(url: httpx.URL, port: int, policy: SourcePolicy) -> list[IPAddress]:
    host = url.raw_host.decode("ascii")
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [literal]
    else:
        try:
            addresses = [ipaddress.ip_address(a) for a in policy.resolve(host, port)]
        except (OSError, UnicodeError, ValueError) as exc:
            raise SourceError(f"could not download {_show(url)}: cannot resolve host", param=PARAM) from exc
        if not addresses:
            raise SourceError(f"could not download {_show(url)}: cannot resolve host", param=PARAM)
    if not policy.allow_private_urls:
        for ip in addresses:
            if not policy.address_allowed(ip):
                raise SourceError(
                    f"audio URL host {host} resolves to {ip}, which is not allowed "
                    "(private, loopback, link-local or reserved address)",
                    param=PARAM,
                )
    return addresses


@contextmanager
def _open(url: httpx.URL, policy: SourcePolicy, ssl_context: ssl.SSLContext) -> Iterator[httpx.Response]:
    """GET `url` on one of its vetted addresses, response streamed; tries the next address if one refuses."""
    https = url.scheme == "https"
    port = url.port or (443 if https else 80)
    addresses = _vetted_addresses(url, port, policy)
    headers = {
        "Host": url.netloc.decode("ascii"),
        "Accept-Encoding": "identity",
        "User-Agent": "openasr",
    }
    extensions = {"sni_hostname": url.raw_host.decode("ascii")} if https else {}
    failure: httpx.TransportError | None = None
    for ip in addresses:
        # One client per attempt: never reuse a pooled TLS connection that was verified for another name.
        with httpx.Client(
            verify=ssl_context, timeout=policy.timeout_s, follow_redirects=False, trust_env=False
        ) as client:
            request = client.build_request("GET", url.copy_with(host=str(ip)), headers=headers, extensions=extensions)
            try:
                response = client.send(request, stream=True)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                failure = exc
                continue
            try:
                yield response
            finally:
                response.close()
            return
    assert failure is not None
    raise failure


def _check_status(response: httpx.Response, url: httpx.URL) -> None:
    status = response.status_code
    if status == 403:
        raise SourceForbiddenError(f"audio URL {_show(url)} answered 403 Forbidden", param=PARAM)
    if status == 404:
        raise SourceNotFoundError(f"audio URL {_show(url)} answered 404 Not Found", param=PARAM)
    if status >= 300:
        raise SourceError(f"could not download {_show(url)}: HTTP status {status}", param=PARAM)


def _save_response(
    response: httpx.Response, url: httpx.URL, policy: SourcePolicy, workdir: Path, temps: list[Path]
) -> LocalAudio:
    declared = response.headers.get("content-length", "").strip()
    if declared.isdigit() and int(declared) > policy.max_size_bytes:
        raise _too_large(policy)
    content_type = response.headers.get("content-type", "")
    mime = content_type.split(";", 1)[0].strip().lower() or None
    path, out = _new_temp(workdir, _suffix(url.path), temps)
    size = 0
    with out:
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > policy.max_size_bytes:
                raise _too_large(policy)
            out.write(chunk)
    return LocalAudio(path=path, size_bytes=size, origin="url", mime=mime)


def _show(url: httpx.URL) -> str:
    """The URL for messages and logs: no credentials, no query (signed URLs carry secrets there)."""
    text = f"{url.scheme}://{url.netloc.decode('ascii')}{url.path}"
    return text if len(text) <= 120 else text[:117] + "..."


# ----------------------------------------------------------------------------------------------- data:


def _from_data_uri(ref: str, policy: SourcePolicy, workdir: Path, temps: list[Path]) -> LocalAudio:
    """Decode ``data:<mime>;base64,<payload>`` to a temp file without copying the whole payload.

    Size rule: the limit applies to the *decoded* audio, so the same file is accepted whether it is sent
    by URL or inline. The real service counts the encoded size (spec §11), so we are more lenient by
    4/3; a lenient server breaks no client. The check happens before decoding: a payload with more
    base64 characters (whitespace not counted) than the longest encoding of `max_size_bytes` is refused
    outright; the exact decoded count is checked again while writing.
    """
    comma = ref.find(",", 5, 5 + _MAX_DATA_HEADER_CHARS)
    if comma < 0:
        raise InvalidParameterError("audio data URI must look like data:<mime>;base64,<data>", param=PARAM)
    params = ref[5:comma].split(";")
    if len(params) < 2 or params[-1].strip().lower() != "base64":
        raise InvalidParameterError("audio data URI must be base64-encoded (data:<mime>;base64,<data>)", param=PARAM)
    mime = params[0].strip().lower() or None
    start = comma + 1
    encoded_chars = (len(ref) - start) - sum(ref.count(ch, start) for ch in _B64_WHITESPACE)
    if encoded_chars == 0:
        raise InvalidParameterError("audio data URI has no data", param=PARAM)
    if encoded_chars > 4 * math.ceil(policy.max_size_bytes / 3):
        raise _too_large(policy)

    suffix = _RAW_PCM_MIMES.get(mime.lower(), "") if mime else ""
    suffix = suffix or ((mimetypes.guess_extension(mime) or "") if mime else "")
    path, out = _new_temp(workdir, _suffix(suffix), temps)
    size = 0
    carry = ""
    padded = False
    with out:
        for pos in range(start, len(ref), _DATA_CHUNK_CHARS):
            text = carry + ref[pos : pos + _DATA_CHUNK_CHARS].translate(_B64_STRIP)
            usable = len(text) - len(text) % 4
            piece, carry = text[:usable], text[usable:]
            if not piece:
                continue
            if padded:  # data after '=' padding
                raise _bad_base64()
            padded = piece.endswith("=")
            size += out.write(_b64decode(piece))
            if size > policy.max_size_bytes:
                raise _too_large(policy)
        if carry:  # tolerate missing padding; one leftover character can never be valid
            if padded or len(carry) == 1:
                raise _bad_base64()
            size += out.write(_b64decode(carry + "=" * (-len(carry) % 4)))
            if size > policy.max_size_bytes:
                raise _too_large(policy)
    return LocalAudio(path=path, size_bytes=size, origin="data", mime=mime)


def _b64decode(text: str) -> bytes:
    """Strict decode of whole 4-character groups: '=' only as the padding of the last group."""
    if not _B64_GROUPS.fullmatch(text):
        raise _bad_base64()
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except ValueError as exc:  # binascii.Error and UnicodeEncodeError are both ValueErrors
        raise _bad_base64() from exc


def _bad_base64() -> InvalidParameterError:
    return InvalidParameterError("audio data URI is not valid base64", param=PARAM)


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
        raise _too_large(policy)
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
        raise _too_large(policy)
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


# -------------------------------------------------------------------------------------------- helpers


_RAW_PCM_MIMES = {"audio/pcm": ".pcm", "audio/l16": ".pcm", "audio/x-pcm": ".pcm", "audio/raw": ".pcm"}
"""Headerless PCM has no magic bytes; the MIME type is the only hint, and the decoder reads `.pcm` as raw."""


def _new_temp(workdir: Path, suffix: str, temps: list[Path]) -> tuple[Path, IO[bytes]]:
    workdir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix="openasr-", suffix=suffix, dir=workdir)
    path = Path(name)
    temps.append(path)  # registered before anything can fail, so fetch_audio always cleans it up
    return path, os.fdopen(fd, "wb")


def _suffix(path_or_ext: str) -> str:
    """A short alphanumeric extension (helps the decoder guess the container), or ''."""
    ext = os.path.splitext(path_or_ext)[1] if not path_or_ext.startswith(".") else path_or_ext
    return ext.lower() if _SAFE_SUFFIX.fullmatch(ext) else ""


def _too_large(policy: SourcePolicy) -> AudioTooLargeError:
    limit = _megabytes(policy.max_size_bytes)
    return AudioTooLargeError(f"audio is larger than the {limit} limit", param=PARAM)


def _megabytes(n: int) -> str:
    mib = 1024 * 1024
    return f"{n / mib if n % mib == 0 else n / 1_000_000:g} MB"
