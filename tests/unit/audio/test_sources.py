"""Tests of openasr.audio.sources against a real local HTTP server (no mocks of httpx)."""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from openasr.audio.download import is_public_address
from openasr.audio.sources import LocalAudio, SourcePolicy, fetch_audio
from openasr.core.errors import (
    AudioTooLargeError,
    InvalidParameterError,
    SourceError,
    SourceForbiddenError,
    SourceNotFoundError,
)

SMALL = b"RIFF" + bytes(range(256)) * 8  # 2 KiB + 4 bytes, not real audio: sources never looks inside
MIB = 1024 * 1024


# ------------------------------------------------------------------------------------------ the server


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.server.seen.append(self.path)
        path, _, _ = self.path.partition("?")
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # client gave up on purpose
            self._route(path)

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _redirect(self, location: str, status: int = 302) -> None:
        self._send(status, headers={"Location": location})

    def _route(self, path: str) -> None:
        if path == "/small.wav":
            self._send(200, SMALL, {"Content-Type": "audio/wav; charset=binary"})
        elif path == "/forbidden":
            self._send(403, b"no")
        elif path == "/missing":
            self._send(404, b"gone")
        elif path == "/broken":
            self._send(500, b"oops")
        elif path == "/redirect":
            self._redirect("/small.wav", 301)
        elif path.startswith("/chain/"):
            left = int(path.rsplit("/", 1)[1])
            self._redirect(f"/chain/{left - 1}" if left > 0 else "/small.wav", 307)
        elif path == "/to-ftp":
            self._redirect("ftp://example.com/a.wav")
        elif path == "/no-location":
            self._send(302)
        elif path == "/to-private":
            self._redirect(f"{self.server.main_url}/small.wav?marker=private-hop")
        elif path == "/to-internal-name":
            self._redirect("http://internal.test/small.wav")
        elif path == "/host":
            self._send(200, self.headers["Host"].encode())
        elif path == "/stream-big":
            self._stream_chunked(total=4 * MIB)
        elif path == "/declared-big":
            # Declares 2 GB but sends only a few bytes: a client that does not refuse up front would hang
            # waiting for the rest and end in a timeout instead of AudioTooLargeError.
            self.send_response(200)
            self.send_header("Content-Length", str(2 * 1024 * MIB))
            self.end_headers()
            self.wfile.write(b"RIFF")
        elif path == "/slow":
            time.sleep(2)
            self._send(200, SMALL)
        elif path == "/trickle":  # never silent long enough for a read timeout, and never done
            self.send_response(200)
            self.send_header("Content-Length", str(MIB))
            self.end_headers()
            for _ in range(MIB):
                self.wfile.write(b"\0")
                self.wfile.flush()
                time.sleep(0.05)
        else:
            self._send(404)

    def _stream_chunked(self, total: int) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "audio/mpeg")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        block = b"\xff" * 65536
        for _ in range(total // len(block)):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(block), block))
            self.server.streamed += len(block)
        self.wfile.write(b"0\r\n\r\n")


class _Server(ThreadingHTTPServer):
    def __init__(self, host: str, main_url: str = "") -> None:
        super().__init__((host, 0), _Handler)
        self.host = host
        self.seen: list[str] = []
        self.streamed = 0
        self.main_url = main_url

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that hangs up mid-response is expected here


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[_Server, _Server]]:
    """The main server on 127.0.0.1, and a second one on 127.0.0.2 that plays a "public" host."""
    main = _Server("127.0.0.1")
    try:
        second = _Server("127.0.0.2", main_url=main.url)
    except OSError:
        main.server_close()
        pytest.skip("cannot bind 127.0.0.2 on this machine")
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in (main, second)]
    for t in threads:
        t.start()
    yield main, second
    for s in (main, second):
        s.shutdown()
        s.server_close()


@pytest.fixture
def server(servers: tuple[_Server, _Server]) -> _Server:
    return servers[0]


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    return path


def _open_policy(**kw: object) -> SourcePolicy:
    return SourcePolicy(max_size_bytes=kw.pop("max_size_bytes", MIB), allow_private_urls=True, **kw)  # type: ignore[arg-type]


def _fetch(ref: str, policy: SourcePolicy, workdir: Path, **kw: object) -> tuple[LocalAudio, bytes]:
    with fetch_audio(ref, policy, workdir, **kw) as local:  # type: ignore[arg-type]
        data = local.path.read_bytes()
        assert local.path.exists()
    return local, data


def _fake_dns(table: dict[str, list[str]]) -> Callable[[str, int], Sequence[str]]:
    def resolve(host: str, port: int) -> Sequence[str]:
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return table[host]

    return resolve


def _only_127_0_0_2_is_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Treat 127.0.0.2 (the second server) as a public address; everything else gets the real rule."""
    return ip == ipaddress.IPv4Address("127.0.0.2") or is_public_address(ip)


# ---------------------------------------------------------------------------------------- http(s) fetch


def test_download_small_file(server: _Server, workdir: Path) -> None:
    local, data = _fetch(f"{server.url}/small.wav", _open_policy(), workdir)
    assert data == SMALL
    assert local.size_bytes == len(SMALL)
    assert local.origin == "url"
    assert local.mime == "audio/wav"
    assert local.path.parent == workdir
    assert local.path.suffix == ".wav"
    assert not local.path.exists()
    assert list(workdir.iterdir()) == []


def test_temp_file_removed_when_the_block_raises(server: _Server, workdir: Path) -> None:
    with (
        pytest.raises(RuntimeError),
        fetch_audio(f"{server.url}/small.wav", _open_policy(), workdir) as local,
    ):
        assert local.path.exists()
        raise RuntimeError("decoder failed")
    assert list(workdir.iterdir()) == []


@pytest.mark.parametrize(
    ("path", "error", "task_code", "text"),
    [
        ("/forbidden", SourceForbiddenError, "FILE_403_FORBIDDEN", "403"),
        ("/missing", SourceNotFoundError, "FILE_404_NOT_FOUND", "404"),
        ("/broken", SourceError, "FILE_DOWNLOAD_FAILED", "500"),
        ("/no-location", SourceError, "FILE_DOWNLOAD_FAILED", "Location"),
    ],
)
def test_http_errors(
    server: _Server, workdir: Path, path: str, error: type[SourceError], task_code: str, text: str
) -> None:
    with pytest.raises(error) as info, fetch_audio(f"{server.url}{path}", _open_policy(), workdir):
        pass
    assert type(info.value) is error
    assert info.value.task_code == task_code
    assert info.value.param == "audio"
    assert text in info.value.message
    assert list(workdir.iterdir()) == []


def test_query_string_is_not_echoed_in_errors(server: _Server, workdir: Path) -> None:
    with (
        pytest.raises(SourceNotFoundError) as info,
        fetch_audio(f"{server.url}/missing?Signature=secret123", _open_policy(), workdir),
    ):
        pass
    assert "secret123" not in info.value.message
    assert "/missing" in info.value.message


def test_redirect_is_followed(server: _Server, workdir: Path) -> None:
    _, data = _fetch(f"{server.url}/redirect", _open_policy(), workdir)
    assert data == SMALL


def test_redirect_chain_up_to_the_limit(server: _Server, workdir: Path) -> None:
    _, data = _fetch(f"{server.url}/chain/2", _open_policy(max_redirects=3), workdir)  # 3 hops
    assert data == SMALL


def test_redirect_chain_over_the_limit(server: _Server, workdir: Path) -> None:
    with (
        pytest.raises(SourceError, match="more than 3 redirects"),
        fetch_audio(f"{server.url}/chain/3", _open_policy(max_redirects=3), workdir),
    ):
        pass
    assert list(workdir.iterdir()) == []


def test_redirect_to_other_scheme_refused(server: _Server, workdir: Path) -> None:
    with (
        pytest.raises(InvalidParameterError, match="http or https") as info,
        fetch_audio(f"{server.url}/to-ftp", _open_policy(), workdir),
    ):
        pass
    assert info.value.param == "audio"


def test_streamed_body_over_limit_is_cut_off(server: _Server, workdir: Path) -> None:
    with (
        pytest.raises(AudioTooLargeError, match="1 MB") as info,
        fetch_audio(f"{server.url}/stream-big", _open_policy(max_size_bytes=MIB), workdir),
    ):
        pass
    assert info.value.task_code == "FILE_TOO_LARGE"
    assert list(workdir.iterdir()) == []


def test_streamed_body_within_limit(server: _Server, workdir: Path) -> None:
    local, _ = _fetch(f"{server.url}/stream-big", _open_policy(max_size_bytes=4 * MIB), workdir)
    assert local.size_bytes == 4 * MIB
    assert local.mime == "audio/mpeg"


def test_declared_content_length_over_limit_refused_up_front(server: _Server, workdir: Path) -> None:
    policy = _open_policy(max_size_bytes=10 * MIB, timeout_s=5.0)
    started = time.monotonic()
    with (
        pytest.raises(AudioTooLargeError, match="10 MB"),
        fetch_audio(f"{server.url}/declared-big", policy, workdir),
    ):
        pass
    assert time.monotonic() - started < 4.0  # not a read timeout in disguise
    assert list(workdir.iterdir()) == []


def test_timeout(server: _Server, workdir: Path) -> None:
    with (
        pytest.raises(SourceError, match="timed out") as info,
        fetch_audio(f"{server.url}/slow", _open_policy(timeout_s=0.3), workdir),
    ):
        pass
    assert isinstance(info.value.__cause__, Exception)  # raised "from" the httpx error
    assert list(workdir.iterdir()) == []


def test_a_source_that_trickles_is_cut_by_its_average_rate(server: _Server, workdir: Path) -> None:
    policy = _open_policy(timeout_s=5.0, min_rate_bytes_s=1000.0, rate_grace_s=1.0)
    started = time.monotonic()
    with (
        pytest.raises(SourceError, match="under the 1 kB/s a download must average"),
        fetch_audio(f"{server.url}/trickle", policy, workdir),
    ):
        pass
    assert time.monotonic() - started < 3.0  # 20 bytes a second: cut once the grace is over
    assert list(workdir.iterdir()) == []


def test_connection_refused(workdir: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with (
        pytest.raises(SourceError, match="could not download") as info,
        fetch_audio(f"http://127.0.0.1:{port}/a.wav", _open_policy(), workdir),
    ):
        pass
    assert info.value.__cause__ is not None
    assert list(workdir.iterdir()) == []


def test_hostname_connects_to_the_resolved_ip_and_keeps_the_host_header(server: _Server, workdir: Path) -> None:
    policy = _open_policy(resolve=_fake_dns({"audio.test": ["127.0.0.1"]}))
    _, data = _fetch(f"http://audio.test:{server.port}/host", policy, workdir)
    assert data == f"audio.test:{server.port}".encode()


def test_next_address_is_tried_when_one_refuses(server: _Server, workdir: Path) -> None:
    policy = _open_policy(resolve=_fake_dns({"audio.test": ["127.0.0.3", "127.0.0.1"]}))
    _, data = _fetch(f"http://audio.test:{server.port}/small.wav", policy, workdir)
    assert data == SMALL


def test_unresolvable_host(workdir: Path) -> None:
    policy = _open_policy(resolve=_fake_dns({}))
    with (
        pytest.raises(SourceError, match="cannot resolve"),
        fetch_audio("http://nowhere.test/a.wav", policy, workdir),
    ):
        pass


# ------------------------------------------------------------------------------------------ SSRF guard


@pytest.mark.parametrize(
    "url_template",
    [
        "{main}/small.wav?marker=ssrf-direct",
        "http://localhost:{port}/small.wav?marker=ssrf-localhost",
        "http://169.254.169.254/latest",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]:{port}/small.wav?marker=ssrf-mapped",
        "http://0.0.0.0:{port}/small.wav?marker=ssrf-zero",
        "http://10.1.2.3/a.wav",
        "http://[fe80::1]/a.wav",
    ],
)
def test_private_addresses_refused(server: _Server, workdir: Path, url_template: str) -> None:
    url = url_template.format(main=server.url, port=server.port)
    policy = SourcePolicy(max_size_bytes=MIB, timeout_s=2.0)
    with pytest.raises(SourceError, match="not allowed") as info, fetch_audio(url, policy, workdir):
        pass
    assert info.value.param == "audio"
    marker = url.partition("marker=")[2]
    if marker:
        assert not any(marker in seen for seen in server.seen)  # refused before connecting
    assert list(workdir.iterdir()) == []


def test_hostname_with_any_private_address_refused(servers: tuple[_Server, _Server], workdir: Path) -> None:
    _, second = servers
    policy = SourcePolicy(
        max_size_bytes=MIB,
        resolve=_fake_dns({"public.test": ["127.0.0.2", "10.0.0.7"]}),
        address_allowed=_only_127_0_0_2_is_public,
    )
    with (
        pytest.raises(SourceError, match=re.escape("10.0.0.7")),
        fetch_audio(f"http://public.test:{second.port}/small.wav?marker=mixed", policy, workdir),
    ):
        pass
    assert not any("marker=mixed" in seen for seen in second.seen)


def test_allowed_host_is_really_fetched(servers: tuple[_Server, _Server], workdir: Path) -> None:
    _, second = servers
    policy = SourcePolicy(
        max_size_bytes=MIB,
        resolve=_fake_dns({"public.test": ["127.0.0.2"]}),
        address_allowed=_only_127_0_0_2_is_public,
    )
    _, data = _fetch(f"http://public.test:{second.port}/small.wav", policy, workdir)
    assert data == SMALL


def test_redirect_from_public_host_to_private_address_refused(servers: tuple[_Server, _Server], workdir: Path) -> None:
    main, second = servers
    policy = SourcePolicy(
        max_size_bytes=MIB,
        resolve=_fake_dns({"public.test": ["127.0.0.2"]}),
        address_allowed=_only_127_0_0_2_is_public,
    )
    before = len(second.seen)
    with (
        pytest.raises(SourceError, match=re.escape("127.0.0.1, which is not allowed")),
        fetch_audio(f"http://public.test:{second.port}/to-private", policy, workdir),
    ):
        pass
    assert "/to-private" in second.seen[before:]  # the first hop really reached the "public" server
    assert not any("private-hop" in seen for seen in main.seen)  # the second hop never connected
    assert list(workdir.iterdir()) == []


def test_redirect_to_name_resolving_private_refused(servers: tuple[_Server, _Server], workdir: Path) -> None:
    _, second = servers
    policy = SourcePolicy(
        max_size_bytes=MIB,
        resolve=_fake_dns({"public.test": ["127.0.0.2"], "internal.test": ["192.168.1.20"]}),
        address_allowed=_only_127_0_0_2_is_public,
    )
    with (
        pytest.raises(SourceError, match=re.escape("192.168.1.20")),
        fetch_audio(f"http://public.test:{second.port}/to-internal-name", policy, workdir),
    ):
        pass


def test_same_redirect_allowed_with_private_urls(servers: tuple[_Server, _Server], workdir: Path) -> None:
    _, second = servers
    policy = _open_policy(resolve=_fake_dns({"public.test": ["127.0.0.2"]}))
    _, data = _fetch(f"http://public.test:{second.port}/to-private", policy, workdir)
    assert data == SMALL


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("1.1.1.1", True),
        ("2001:4860:4860::8888", True),
        ("::ffff:8.8.8.8", True),
        ("64:ff9b::808:808", True),
        ("127.0.0.1", False),
        ("127.255.0.9", False),
        ("10.0.0.1", False),
        ("172.16.5.4", False),
        ("192.168.0.1", False),
        ("100.64.0.1", False),
        ("169.254.169.254", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("239.255.255.250", False),
        ("240.0.0.1", False),
        ("255.255.255.255", False),
        ("::1", False),
        ("::", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("fd12:3456::1", False),
        ("ff02::1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:10.0.0.1", False),
        ("::ffff:169.254.169.254", False),
        ("64:ff9b::a00:1", False),
        ("2002:7f00:1::", False),
        ("2002:a00:1::", False),
    ],
)
def test_is_public_address(address: str, public: bool) -> None:
    assert is_public_address(ipaddress.ip_address(address)) is public


# ---------------------------------------------------------------------------------------------- schemes


@pytest.mark.parametrize(
    "ref", ["file:///etc/passwd", "ftp://example.com/a.wav", "gopher://x/", "s3://bucket/a.wav", "FILE:///x"]
)
def test_unsupported_schemes(ref: str, workdir: Path) -> None:
    policy = SourcePolicy(max_size_bytes=MIB, file_roots=(Path("/"),))
    with (
        pytest.raises(InvalidParameterError, match="unsupported audio URL scheme") as info,
        fetch_audio(ref, policy, workdir),
    ):
        pass
    assert type(info.value) is InvalidParameterError
    assert info.value.param == "audio"


@pytest.mark.parametrize("ref", ["", "http://", "https:///path-only", "http://[::1/"])
def test_malformed_references(ref: str, workdir: Path) -> None:
    with pytest.raises(InvalidParameterError) as info, fetch_audio(ref, _open_policy(), workdir):
        pass
    assert type(info.value) is InvalidParameterError
    assert info.value.param == "audio"


# ----------------------------------------------------------------------------------------------- data:


def _data_uri(payload: bytes, mime: str = "audio/wav") -> str:
    return f"data:{mime};base64,{base64.b64encode(payload).decode()}"


def test_data_uri(workdir: Path) -> None:
    local, data = _fetch(_data_uri(SMALL), SourcePolicy(max_size_bytes=MIB), workdir)
    assert data == SMALL
    assert local.origin == "data"
    assert local.mime == "audio/wav"
    assert local.size_bytes == len(SMALL)
    assert local.path.parent == workdir
    assert list(workdir.iterdir()) == []


@pytest.mark.parametrize("length", [1, 2, 3, 4, 5])
def test_data_uri_missing_padding(workdir: Path, length: int) -> None:
    payload = b"\x01\x02\x03\x04\x05"[:length]
    uri = _data_uri(payload).rstrip("=")
    _, data = _fetch(uri, SourcePolicy(max_size_bytes=MIB), workdir)
    assert data == payload


def test_data_uri_with_line_breaks_and_chunk_boundaries(workdir: Path) -> None:
    payload = os.urandom(1_500_000)  # > 1 Mi base64 characters: decoded in several chunks
    encoded = base64.encodebytes(payload).decode()  # MIME style: a newline every 76 characters
    uri = "data:audio/mpeg;base64,\n" + encoded.replace("\n", "\r\n ")
    local, data = _fetch(uri, SourcePolicy(max_size_bytes=2 * MIB), workdir)
    assert data == payload
    assert local.size_bytes == len(payload)


@pytest.mark.parametrize(
    "payload",
    ["!!!!", "QUJD$", "QQ==QUJD", "QUJDR", "QUJD====", "QQ=A", "QUJDé===", "QUJ-", "="],
)
def test_data_uri_bad_base64(workdir: Path, payload: str) -> None:
    with (
        pytest.raises(InvalidParameterError, match="not valid base64") as info,
        fetch_audio(f"data:audio/wav;base64,{payload}", SourcePolicy(max_size_bytes=MIB), workdir),
    ):
        pass
    assert type(info.value) is InvalidParameterError
    assert list(workdir.iterdir()) == []


def test_data_uri_padding_then_more_data_across_chunks(workdir: Path) -> None:
    uri = "data:audio/wav;base64," + "QQ==" + "A" * (1 << 20)
    with (
        pytest.raises(InvalidParameterError, match="not valid base64"),
        fetch_audio(uri, SourcePolicy(max_size_bytes=4 * MIB), workdir),
    ):
        pass
    assert list(workdir.iterdir()) == []


def test_data_uri_size_limit_is_on_decoded_bytes(workdir: Path) -> None:
    policy = SourcePolicy(max_size_bytes=10)
    _, data = _fetch(_data_uri(b"0123456789"), policy, workdir)  # 16 base64 characters, 10 bytes
    assert data == b"0123456789"
    with pytest.raises(AudioTooLargeError), fetch_audio(_data_uri(b"0123456789A"), policy, workdir):
        pass
    assert list(workdir.iterdir()) == []


def test_data_uri_far_too_big_refused_before_decoding(workdir: Path) -> None:
    uri = "data:audio/wav;base64," + "!" * (2 * MIB)  # not even base64: refused on length alone
    with (
        pytest.raises(AudioTooLargeError, match="1 MB"),
        fetch_audio(uri, SourcePolicy(max_size_bytes=MIB), workdir),
    ):
        pass
    assert list(workdir.iterdir()) == []  # no temp file was even created


@pytest.mark.parametrize(
    ("uri", "text"),
    [
        ("data:audio/wav,QUJD", "base64"),
        ("data:audio/wav;charset=x,QUJD", "base64"),
        ("data:audio/wav;base64", "data:<mime>;base64,<data>"),
        ("data:audio/wav;base64,", "no data"),
        ("data:audio/wav;base64, \n ", "no data"),
    ],
)
def test_data_uri_malformed(workdir: Path, uri: str, text: str) -> None:
    with (
        pytest.raises(InvalidParameterError, match=text) as info,
        fetch_audio(uri, SourcePolicy(max_size_bytes=MIB), workdir),
    ):
        pass
    assert type(info.value) is InvalidParameterError
    assert info.value.param == "audio"


def test_data_uri_without_mime(workdir: Path) -> None:
    local, data = _fetch("data:;base64,QUJD", SourcePolicy(max_size_bytes=MIB), workdir)
    assert data == b"ABC"
    assert local.mime is None


# ---------------------------------------------------------------------------------------------- oss://


class _DictUploads:
    """A tiny real UploadResolver: keys map to (file, owning API key)."""

    def __init__(self, files: dict[str, tuple[Path, str]]) -> None:
        self.files = files

    def open_upload(self, key: str, api_key: str | None) -> contextlib.AbstractContextManager[Path]:
        entry = self.files.get(key)
        if entry is None or entry[1] != api_key:
            raise SourceNotFoundError(f"upload {key!r} not found", param="audio")
        return contextlib.nullcontext(entry[0])


@pytest.fixture
def uploads(tmp_path: Path) -> _DictUploads:
    store = tmp_path / "store"
    store.mkdir()
    small = store / "meeting 01.wav"
    small.write_bytes(SMALL)
    big = store / "big.mp3"
    big.write_bytes(b"\0" * 5000)
    return _DictUploads(
        {
            "dashscope-instant/abc/2026-01-01/x/meeting 01.wav": (small, "sk-1"),
            "dashscope-instant/abc/2026-01-01/x/big.mp3": (big, "sk-1"),
        }
    )


def test_oss_key_resolved_verbatim(workdir: Path, uploads: _DictUploads) -> None:
    ref = "oss://dashscope-instant/abc/2026-01-01/x/meeting 01.wav"
    local, data = _fetch(
        ref, SourcePolicy(max_size_bytes=MIB), workdir, uploads=uploads, api_key="sk-1", oss_resolve=True
    )
    assert data == SMALL
    assert local.origin == "oss"
    assert local.mime in ("audio/wav", "audio/x-wav")
    assert local.size_bytes == len(SMALL)
    assert local.path.exists()  # store files are never deleted


def test_oss_requires_the_resolve_header(workdir: Path, uploads: _DictUploads) -> None:
    with (
        pytest.raises(InvalidParameterError, match="X-DashScope-OssResourceResolve: enable"),
        fetch_audio(
            "oss://dashscope-instant/abc/2026-01-01/x/meeting 01.wav",
            SourcePolicy(max_size_bytes=MIB),
            workdir,
            uploads=uploads,
            api_key="sk-1",
        ),
    ):
        pass


def test_oss_without_upload_store(workdir: Path) -> None:
    with (
        pytest.raises(InvalidParameterError, match="no upload store"),
        fetch_audio("oss://a/b.wav", SourcePolicy(max_size_bytes=MIB), workdir, oss_resolve=True),
    ):
        pass


@pytest.mark.parametrize(
    ("ref", "api_key"),
    [
        ("oss://dashscope-instant/abc/nope.wav", "sk-1"),
        ("oss://dashscope-instant/abc/2026-01-01/x/meeting 01.wav", "sk-2"),
    ],
)
def test_oss_unknown_key_or_other_owner(workdir: Path, uploads: _DictUploads, ref: str, api_key: str) -> None:
    with (
        pytest.raises(SourceNotFoundError),
        fetch_audio(ref, SourcePolicy(max_size_bytes=MIB), workdir, uploads=uploads, api_key=api_key, oss_resolve=True),
    ):
        pass


def test_oss_empty_key(workdir: Path, uploads: _DictUploads) -> None:
    with (
        pytest.raises(InvalidParameterError, match="no key"),
        fetch_audio("oss://", SourcePolicy(max_size_bytes=MIB), workdir, uploads=uploads, oss_resolve=True),
    ):
        pass


def test_oss_over_limit(workdir: Path, uploads: _DictUploads) -> None:
    with (
        pytest.raises(AudioTooLargeError),
        fetch_audio(
            "oss://dashscope-instant/abc/2026-01-01/x/big.mp3",
            SourcePolicy(max_size_bytes=4000),
            workdir,
            uploads=uploads,
            api_key="sk-1",
            oss_resolve=True,
        ),
    ):
        pass
    assert uploads.files["dashscope-instant/abc/2026-01-01/x/big.mp3"][0].exists()


# ----------------------------------------------------------------------------------------- local paths


@pytest.fixture
def tree(tmp_path: Path) -> dict[str, Path]:
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    inside = root / "sub" / "a.wav"
    inside.write_bytes(SMALL)
    outside = tmp_path / "outside.wav"
    outside.write_bytes(SMALL)
    (root / "escape.wav").symlink_to(outside)
    (root / "alias.wav").symlink_to(inside)
    return {"root": root, "inside": inside, "outside": outside}


def _path_policy(root: Path, **kw: object) -> SourcePolicy:
    return SourcePolicy(max_size_bytes=kw.pop("max_size_bytes", MIB), file_roots=(root,), **kw)  # type: ignore[arg-type]


def test_path_inside_root(tree: dict[str, Path], workdir: Path) -> None:
    local, data = _fetch(str(tree["inside"]), _path_policy(tree["root"]), workdir)
    assert data == SMALL
    assert local.origin == "path"
    assert local.path == tree["inside"].resolve()
    assert local.size_bytes == len(SMALL)
    assert tree["inside"].exists()  # the user's file is never deleted


def test_symlink_inside_root_is_resolved(tree: dict[str, Path], workdir: Path) -> None:
    local, _ = _fetch(str(tree["root"] / "alias.wav"), _path_policy(tree["root"]), workdir)
    assert local.path == tree["inside"].resolve()


def test_root_given_through_a_symlink(tree: dict[str, Path], tmp_path: Path, workdir: Path) -> None:
    link = tmp_path / "root-link"
    link.symlink_to(tree["root"])
    local, _ = _fetch(str(link / "sub" / "a.wav"), _path_policy(link), workdir)
    assert local.path == tree["inside"].resolve()


@pytest.mark.parametrize(
    "make_ref",
    [
        lambda t: str(t["outside"]),
        lambda t: str(t["root"] / "escape.wav"),
        lambda t: str(t["root"] / "sub" / ".." / ".." / "outside.wav"),
        lambda t: f"{t['root']}/../outside.wav",
        lambda t: "/etc/passwd",
        lambda t: str(t["root"]) + "-sibling/a.wav",
    ],
    ids=["outside", "symlink-escape", "dotdot", "dotdot-string", "etc-passwd", "prefix-sibling"],
)
def test_path_outside_root_refused(
    tree: dict[str, Path], workdir: Path, make_ref: Callable[[dict[str, Path]], str]
) -> None:
    with (
        pytest.raises(InvalidParameterError, match="outside the allowed file roots") as info,
        fetch_audio(make_ref(tree), _path_policy(tree["root"]), workdir),
    ):
        pass
    assert type(info.value) is InvalidParameterError
    assert info.value.param == "audio"


def test_paths_disabled_without_roots(tree: dict[str, Path], workdir: Path) -> None:
    with (
        pytest.raises(InvalidParameterError, match="local file paths are disabled"),
        fetch_audio(str(tree["inside"]), SourcePolicy(max_size_bytes=MIB), workdir),
    ):
        pass


def test_missing_path_inside_root(tree: dict[str, Path], workdir: Path) -> None:
    with (
        pytest.raises(SourceNotFoundError, match="not found"),
        fetch_audio(str(tree["root"] / "nope.wav"), _path_policy(tree["root"]), workdir),
    ):
        pass


def test_missing_path_outside_root_does_not_reveal_existence(tree: dict[str, Path], workdir: Path) -> None:
    with (
        pytest.raises(InvalidParameterError, match="outside") as info,
        fetch_audio("/definitely/not/here.wav", _path_policy(tree["root"]), workdir),
    ):
        pass
    assert not isinstance(info.value, SourceNotFoundError)


def test_directory_refused(tree: dict[str, Path], workdir: Path) -> None:
    with (
        pytest.raises(InvalidParameterError, match="not a regular file"),
        fetch_audio(str(tree["root"] / "sub"), _path_policy(tree["root"]), workdir),
    ):
        pass


def test_path_over_limit(tree: dict[str, Path], workdir: Path) -> None:
    with (
        pytest.raises(AudioTooLargeError),
        fetch_audio(str(tree["inside"]), _path_policy(tree["root"], max_size_bytes=100), workdir),
    ):
        pass
    assert tree["inside"].exists()


def test_policy_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        SourcePolicy(max_size_bytes=0)
    with pytest.raises(ValueError):
        SourcePolicy(max_size_bytes=1, max_redirects=-1)
