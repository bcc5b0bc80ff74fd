"""Slow, idle and oversized traffic against a real server: every connection is bounded in time and count."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from live_server import KEY, live_server, server_settings

GENERATION = "/api/v1/services/aigc/multimodal-generation/generation"


@pytest.fixture(scope="module")
def address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    settings = server_settings(
        tmp_path_factory.mktemp("limits"),
        request_header_timeout_s=1.0,
        request_body_timeout_s=1.0,
        keep_alive_timeout_s=1.0,
        max_connections=8,
    )
    with live_server(settings) as base:
        host, port = base.removeprefix("http://").split(":")
        yield host, int(port)


def read_all(sock: socket.socket, limit_s: float = 10.0) -> bytes:
    """Everything the server sends until it closes the connection (fails the test if it never does)."""
    sock.settimeout(limit_s)
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def test_an_idle_connection_is_closed(address: tuple[str, int]) -> None:
    with socket.create_connection(address) as sock:
        assert read_all(sock) == b""  # closed without a response: it never asked anything


def test_headers_that_never_finish_get_408(address: tuple[str, int]) -> None:
    with socket.create_connection(address) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        assert status(read_all(sock)) == 408


@pytest.mark.parametrize("size", [70_000, 200_000])
def test_oversized_headers_get_431_not_a_reset(address: tuple[str, int], size: int) -> None:
    """Over 64 KB, whether the head arrives in one read (70 KB) or in several (200 KB)."""
    with socket.create_connection(address) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * size + b"\r\n\r\n")
        assert status(read_all(sock)) == 431
    with socket.create_connection(address) as sock:  # just under the limit is served
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 60_000 + b"\r\n\r\n")
        assert status(read_all(sock)) == 200


def test_a_body_that_stalls_gets_408(address: tuple[str, int]) -> None:
    head = (
        f"POST {GENERATION} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n"
        "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    )
    with socket.create_connection(address) as sock:
        sock.sendall(head.encode() + b'{"model":')
        answer = read_all(sock)
    assert status(answer) == 408 and b"RequestTimeOut" in answer


def test_a_kept_alive_connection_is_closed_when_idle(address: tuple[str, int]) -> None:
    with socket.create_connection(address) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        started = time.monotonic()
        answer = read_all(sock)
    assert status(answer) == 200 and answer.count(b"HTTP/1.1") == 1
    assert time.monotonic() - started < 8  # closed by the keep-alive timeout, not by read_all's limit


def test_connections_over_the_cap_get_503(address: tuple[str, int]) -> None:
    held = [socket.create_connection(address) for _ in range(8)]
    try:
        time.sleep(0.2)  # let the server register them
        with socket.create_connection(address) as extra:
            assert status(read_all(extra)) == 503
    finally:
        for sock in held:
            sock.close()
