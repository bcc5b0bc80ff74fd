"""Slow bodies against a real server: a trickle is cut by the minimum body rate, and clients still sending
hold no room in the engine's queue."""

from __future__ import annotations

import base64
import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from live_server import KEY, live_server, server_settings

DATA = Path(__file__).resolve().parents[1] / "data"
BECKETT = DATA / "en" / "beckett.wav"
GENERATION = "/api/v1/services/aigc/multimodal-generation/generation"
TRANSCRIPTIONS = "/v1/audio/transcriptions"
MIN_RATE = 50.0
GRACE_S = 2.0


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = server_settings(
        tmp_path_factory.mktemp("slow"),
        request_body_timeout_s=30.0,  # the pause limit never fires here: the rate does
        request_body_min_rate=MIN_RATE,
        request_body_rate_grace_s=GRACE_S,
        max_wait_s=0.01,  # any request counted ahead refuses the next one
    )
    with live_server(settings) as url:
        yield url


def address(base: str) -> tuple[str, int]:
    host, port = base.removeprefix("http://").split(":")
    return host, int(port)


def head(path: str, content_type: str, length: int) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n"
        f"Content-Type: {content_type}\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


def trickle_until_answered(sock: socket.socket, limit_s: float) -> bytes:
    """Send one byte every 0.2 s (5 bytes/s) until the server answers; everything it sends until it
    closes the connection."""
    sock.settimeout(0.2)
    deadline = time.monotonic() + limit_s
    data = b""
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):  # the server closed while we sent: its answer waits to be read
            sock.sendall(b" ")
        try:
            data = sock.recv(65536)
        except TimeoutError:
            continue
        break
    assert data, f"a trickling body was not cut within {limit_s} s"
    sock.settimeout(5)  # the server closes once it has answered
    while chunk := sock.recv(65536):
        data += chunk
    return data


FILE_PART = b'--x\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\nContent-Type: audio/wav\r\n\r\n'


@pytest.mark.parametrize(
    ("path", "content_type", "start", "marker"),
    [
        (GENERATION, "application/json", b"", b'"code":"RequestTimeOut"'),
        (TRANSCRIPTIONS, "multipart/form-data; boundary=x", FILE_PART, b'"error"'),
    ],
)
def test_a_trickling_body_is_cut_with_408_after_the_grace(
    base: str, path: str, content_type: str, start: bytes, marker: bytes
) -> None:
    started = time.monotonic()
    with socket.create_connection(address(base)) as sock:
        sock.sendall(head(path, content_type, 100_000) + start)
        answer = trickle_until_answered(sock, limit_s=GRACE_S + 10)
    elapsed = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert marker in answer.replace(b" ", b""), answer
    assert b"connection: close" in answer.lower()
    assert GRACE_S - 0.5 <= elapsed < GRACE_S + 5, elapsed


def test_a_request_is_served_while_fifty_bodies_are_still_arriving(base: str) -> None:
    """50 clients send bodies above the minimum rate that will take hours to complete; with a wait bound
    that refuses anything behind a counted request, a normal request is still served: a body still
    arriving holds no room."""
    stop = threading.Event()
    sockets = [socket.create_connection(address(base)) for _ in range(50)]
    for sock in sockets:
        sock.sendall(head(GENERATION, "application/json", 10_000_000))

    def feed() -> None:  # 100 bytes/s each: twice the minimum rate
        while not stop.wait(0.5):
            for sock in sockets:
                sock.sendall(b" " * 50)

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    try:
        time.sleep(0.5)
        uri = "data:audio/wav;base64," + base64.b64encode(BECKETT.read_bytes()).decode()
        native = {"model": "qwen3-asr-flash", "input": {"messages": [{"role": "user", "content": [{"audio": uri}]}]}}
        auth = {"Authorization": f"Bearer {KEY}"}
        answer = requests.post(f"{base}{GENERATION}", headers=auth, json=native, timeout=120)
    finally:
        stop.set()
        feeder.join()
        for sock in sockets:
            sock.close()
    assert answer.status_code == 200, answer.text
    text = answer.json()["output"]["choices"][0]["message"]["content"][0]["text"].lower()
    assert "fail better" in "".join(ch for ch in text if ch.isalpha() or ch.isspace())
