"""HTTP(S) download of an audio URL, with the SSRF guard (spec §4.2, §11).

Split from `openasr.audio.sources` because this is the part that talks to the network and decides which
hosts may be reached; the dispatch there only picks it for ``http://`` / ``https://`` references. This
module is the one boundary where httpx errors become `AsrError`s.

The body is streamed to a temp file, redirects are followed by hand so that every hop passes the guard,
and the size is capped while it streams.

SSRF guard: before each hop the host is resolved and *every* address must be public (see
`is_public_address`) unless the policy allows private URLs; the request then goes to one of the vetted
IPs (the URL's host is replaced by the IP, the ``Host`` header and TLS SNI/certificate check keep the
original name), so a DNS answer that changes between check and connect (DNS rebinding) cannot redirect
the download. Proxies from the environment are ignored (``trust_env=False``), since a proxy would make
the address check meaningless.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from openasr.audio.spool import PARAM, Spooled, new_temp, safe_suffix, too_large
from openasr.core.errors import InvalidParameterError, SourceError, SourceForbiddenError, SourceNotFoundError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Sequence[str]]
"""``(host, port) -> IP address strings``; the default asks the system resolver."""
AddressFilter = Callable[[IPAddress], bool]
"""``ip -> allowed?``; the default is `is_public_address`."""

_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


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
    """The longest wait for a connection or for the next bytes."""
    min_rate_bytes_s: float = 16_000.0
    """The body's slowest average once `rate_grace_s` have passed (128 kbit/s, half one 16 kHz PCM
    stream): a source that trickles, never pausing for `timeout_s`, would otherwise hold a request or a
    task worker for as long as it likes."""
    rate_grace_s: float = 10.0
    max_redirects: int = 3
    resolve: Resolver = field(default=system_resolve, repr=False, compare=False)
    address_allowed: AddressFilter = field(default=is_public_address, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.max_size_bytes <= 0:
            raise ValueError("max_size_bytes must be positive")
        if self.timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        if self.min_rate_bytes_s < 0 or self.rate_grace_s < 0:
            raise ValueError("min_rate_bytes_s and rate_grace_s must be >= 0")
        if self.max_redirects < 0:
            raise ValueError("max_redirects must be >= 0")


def download(ref: str, policy: SourcePolicy, workdir: Path, temps: list[Path]) -> Spooled:
    """Download the http(s) URL `ref` to a temp file in `workdir` (registered in `temps`), every hop
    vetted by `policy`'s SSRF rules and the body capped at `policy.max_size_bytes`."""
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
) -> Spooled:
    declared = response.headers.get("content-length", "").strip()
    if declared.isdigit() and int(declared) > policy.max_size_bytes:
        raise too_large(policy.max_size_bytes)
    content_type = response.headers.get("content-type", "")
    mime = content_type.split(";", 1)[0].strip().lower() or None
    path, out = new_temp(workdir, safe_suffix(url.path), temps)
    size, started = 0, time.monotonic()
    with out:
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > policy.max_size_bytes:
                raise too_large(policy.max_size_bytes)
            out.write(chunk)
            elapsed = time.monotonic() - started
            if elapsed > policy.rate_grace_s and size < policy.min_rate_bytes_s * elapsed:
                raise SourceError(
                    f"could not download {_show(url)}: {size} bytes in {elapsed:.0f} s, under the "
                    f"{policy.min_rate_bytes_s / 1000:g} kB/s a download must average",
                    param=PARAM,
                )
    return Spooled(path, size, mime)


def _show(url: httpx.URL) -> str:
    """The URL for messages and logs: no credentials, no query (signed URLs carry secrets there)."""
    text = f"{url.scheme}://{url.netloc.decode('ascii')}{url.path}"
    return text if len(text) <= 120 else text[:117] + "..."
