"""The gate in front of a WebSocket session: the same key, rate limit, admission, request id, access log,
metrics and usage rows as an HTTP route, driven with a real WebSocket client against a real server.

The realtime protocol is not built yet, so the server here is `create_app`'s with one tiny session added
(`PROBE`): it declares itself a sync model invocation like any recognition route, accepts, reads the
seconds of "audio" the client says it sent, bills them, answers what the gate told it and closes.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from fastapi import APIRouter, WebSocket
from prometheus_client.parser import text_string_to_metric_families
from websockets.exceptions import ConnectionClosedOK, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from live_server import KEY, cache_dir, free_port, live_server, server_settings
from openasr.core.keys import key_id
from openasr.server.dashscope.realtime import DashScopeWire
from openasr.server.deps import Context, RequestId
from openasr.server.observe import Observed
from openasr.server.realtime.connection import Connection, serve
from openasr.server.surface import Surface, gated

PROBE = "/api-ws/v1/gate-probe"
MODEL = "qwen3-asr-flash-realtime"
TEXT = "hello world"
GENERATION = "/api/v1/services/aigc/multimodal-generation/generation"

probe_router = APIRouter()


@probe_router.websocket(PROBE)
@gated(Surface("realtime", invocation=True, sync=True))
async def probe(websocket: WebSocket, rid: RequestId, obs: Observed) -> None:
    """Declares no key of its own: whatever key it sees, the gate checked."""
    await websocket.accept()
    seconds = float(await websocket.receive_text())
    obs.model = MODEL
    obs.bill(seconds, context="", text=TEXT)
    await websocket.send_json({"request_id": rid, "key_id": obs.api_key_id or ""})
    await websocket.close()


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Two invocations per key and window; the queue admits everything."""
    settings = server_settings(tmp_path_factory.mktemp("ws-limited"), rate_limit_per_minute=2, max_wait_s=0)
    with live_server(settings, routers=[probe_router]) as base:
        yield base


def ws_url(base: str) -> str:
    return base.replace("http://", "ws://") + PROBE


def open_session(base: str, key: str | None = KEY) -> ClientConnection:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return connect(ws_url(base), additional_headers=headers, open_timeout=10)


def session(base: str, seconds: float) -> tuple[dict[str, str], str]:
    """One whole session: what the handler answered, and the handshake's `X-Request-Id`."""
    with open_session(base) as ws:
        ws.send(str(seconds))
        answer: dict[str, str] = json.loads(ws.recv(timeout=10))
        assert ws.response is not None
        return answer, ws.response.headers["x-request-id"]


def refusal(base: str, key: str | None = KEY) -> InvalidStatus:
    with pytest.raises(InvalidStatus) as refused:
        open_session(base, key).close()
    return refused.value


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(base: str) -> Samples:
    text = requests.get(f"{base}/metrics", timeout=30).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def wait_for_log(caplog: pytest.LogCaptureFixture, rid: str) -> list[logging.LogRecord]:
    """The access lines naming `rid`: written once the session has ended, a moment after the client saw it."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        lines = [r for r in caplog.records if r.name == "openasr.access" and rid in r.getMessage()]
        if lines:
            return lines
        time.sleep(0.05)
    return []


def test_a_session_without_a_valid_key_is_refused_at_the_handshake(limited: str) -> None:
    for key in (None, "sk-wrong"):
        refused = refusal(limited, key)
        assert refused.response.status_code == 401
        envelope = json.loads(refused.response.body or b"{}")
        assert envelope["code"] == "InvalidApiKey"
        assert envelope["request_id"] == refused.response.headers["x-request-id"]


def test_sessions_are_gated_billed_logged_and_counted_like_http_calls(
    limited: str, caplog: pytest.LogCaptureFixture
) -> None:
    before = scrape(limited)
    with caplog.at_level(logging.INFO, logger="openasr.access"):
        first, first_header = session(limited, 2.5)
        second, _ = session(limited, 1.0)
        throttled = refusal(limited)  # a third invocation within the window
        lines = wait_for_log(caplog, first["request_id"])
    after = scrape(limited)

    assert first["request_id"] == first_header and first["request_id"] != second["request_id"]
    assert first["key_id"] == key_id(KEY)
    assert throttled.response.status_code == 429 and int(throttled.response.headers["retry-after"]) >= 1
    assert json.loads(throttled.response.body or b"{}")["code"] == "Throttling.RateQuota"

    assert len(lines) == 1
    fields = lines[0].__dict__["fields"]
    assert fields["status"] == 101 and fields["surface"] == "realtime" and fields["route"] == PROBE
    assert fields["key_id"] == key_id(KEY) and fields["model"] == MODEL and fields["audio_s"] == 2.5
    assert KEY not in lines[0].getMessage()

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    done = {"surface": "realtime", "route": PROBE, "model": MODEL, "status": "101"}
    assert delta("openasr_requests_total", **done) == 2
    assert delta("openasr_rate_limited_requests_total", surface="realtime") == 1
    assert delta("openasr_audio_recognised_seconds_total", surface="realtime", model=MODEL) == 3.5
    assert delta("openasr_upload_bytes_total", surface="realtime") == len("2.5") + len("1.0")

    usage = requests.get(f"{limited}/api/v1/usage", headers={"Authorization": f"Bearer {KEY}"}, timeout=10).json()
    rows = [row for row in usage["usage"] if row["model"] == MODEL]
    assert len(rows) == 1 and rows[0]["requests"] == 2
    assert rows[0]["seconds"] == math.ceil(2.5) + math.ceil(1.0)
    assert rows[0]["input_tokens"] == 25 * rows[0]["seconds"] and rows[0]["output_tokens"] == 2 * 2


def test_http_calls_and_sessions_share_one_rate_limit(tmp_path: Path) -> None:
    with live_server(server_settings(tmp_path, rate_limit_per_minute=2), routers=[probe_router]) as base:
        bad = {"model": "qwen3-asr-flash", "input": {"messages": [{"role": "user", "content": [{"audio": "x"}]}]}}
        auth = {"Authorization": f"Bearer {KEY}"}
        assert requests.post(f"{base}{GENERATION}", headers=auth, json=bad, timeout=30).status_code == 400
        session(base, 1.0)
        assert refusal(base).response.status_code == 429
        assert requests.post(f"{base}{GENERATION}", headers=auth, json=bad, timeout=30).status_code == 429


def test_a_sync_session_waits_in_the_engine_queue_while_it_lasts(tmp_path: Path) -> None:
    """With the queue's bound near zero only an empty queue admits: an open session fills it, so a second
    handshake is refused as busy (503, as DashScope answers), and admitted again once the first ended."""
    with live_server(server_settings(tmp_path, max_wait_s=0.001), routers=[probe_router]) as base:
        with open_session(base) as holding:
            busy = refusal(base)
            assert busy.response.status_code == 503 and int(busy.response.headers["retry-after"]) >= 1
            assert json.loads(busy.response.body or b"{}")["code"] == "Throttling"
            holding.send("1.0")
            holding.recv(timeout=10)
        assert admitted_soon(base)  # the first session's end reaches the gate just after its close frame


def admitted_soon(base: str) -> bool:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            return session(base, 1.0)[0]["key_id"] == key_id(KEY)
        except InvalidStatus as busy:
            assert busy.response.status_code == 503
            time.sleep(0.05)
    return False


def test_refused_handshakes_log_their_access_line_and_no_false_error(tmp_path: Path) -> None:
    """`openasr serve` as run: uvicorn's WebSocket protocol logs an error after every handshake answered
    with an HTTP response; the server's log config drops it, and each refusal keeps its access line."""
    port = free_port()
    env = dict(os.environ, OPENASR_DATA_DIR=str(tmp_path), OPENASR_CACHE_DIR=str(cache_dir()), OPENASR_API_KEYS=KEY)
    command = [sys.executable, "-m", "openasr.cli.main", "serve", "--port", str(port)]
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        server = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None and time.monotonic() < deadline, log.read_text()
            with contextlib.suppress(requests.ConnectionError):
                if requests.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            time.sleep(0.2)
        url = f"ws://127.0.0.1:{port}/v1/realtime?intent=transcription"
        for _ in range(3):
            with pytest.raises(InvalidStatus) as refused:
                connect(url, additional_headers={"Authorization": "Bearer sk-wrong"}).close()
            assert refused.value.response.status_code == 401
    finally:
        server.terminate()
        server.wait(timeout=30)
    text = log.read_text()
    assert text.count("status=401") == 3, text
    assert "handshake" not in text and " ERROR " not in text, text


class FaultyWire(DashScopeWire):
    """DashScope's realtime wire with a fault of the server's on one event type."""

    async def receive(self, conn: Connection, event: dict[str, Any]) -> None:
        if event["type"] == "test.fault":
            raise RuntimeError("a fault of the server's")
        await super().receive(conn, event)


faulty_router = APIRouter()


@faulty_router.websocket("/api-ws/v1/faulty")
@gated(Surface("dashscope-realtime", invocation=True, realtime=True))
async def faulty(websocket: WebSocket, ctx: Context, obs: Observed) -> None:
    await serve(websocket, FaultyWire(ctx, MODEL), ctx, obs)


def test_a_fault_of_the_server_is_said_logged_and_ends_the_session(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with live_server(server_settings(tmp_path), routers=[faulty_router]) as base:
        url = base.replace("http://", "ws://") + "/api-ws/v1/faulty"
        with (
            caplog.at_level(logging.ERROR, logger="openasr.realtime"),
            connect(url, additional_headers={"Authorization": f"Bearer {KEY}"}) as ws,
        ):
            assert json.loads(ws.recv(timeout=10))["type"] == "session.created"
            ws.send(json.dumps({"type": "test.fault", "event_id": "e1"}))
            error = json.loads(ws.recv(timeout=10))
            assert error["type"] == "error" and error["error"]["code"] == "server_error", error
            assert error["error"]["event_id"] == "e1"
            ws.send(json.dumps({"type": "session.update", "session": {}}))  # read no more: ignored
            with pytest.raises(ConnectionClosedOK):
                ws.recv(timeout=5)  # the server closes after its grace second
        assert any("a fault of the server's" in (r.exc_text or "") for r in caplog.records), caplog.text
        deadline = time.monotonic() + 5  # the gate counts the session out once its handler has returned
        while scrape(base)[("openasr_realtime_sessions_open", ())] != 0:
            assert time.monotonic() < deadline, "the failed session is still counted open"
            time.sleep(0.1)
