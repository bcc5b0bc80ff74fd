"""DashScope Qwen-ASR-Realtime (`/api-ws/v1/realtime`) driven by the real `dashscope==2.0.2` clients, the
legacy `OmniRealtimeConversation(url=…)` and the v2 `Client().audio.realtime.connect(ws_url=…)`, and by a
raw WebSocket client for what no SDK sends: bad input, a vanished client, the handshake's refusals.

Every trace is checked against the ordering rules of spec §1.5, and every final must equal
`openasr.transcribe` of that item's samples (cut from the sent audio at the item's `audio_start_ms` /
`audio_end_ms`, or at the commits in Manual mode). Audio is sent faster than real time: nothing here
asserts latency (bench/realtime.py measures it).
"""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import dashscope
import numpy as np
import pytest
import requests
from dashscope import Client
from dashscope.audio.qwen_omni import MultiModality, OmniRealtimeCallback, OmniRealtimeConversation
from dashscope.audio.qwen_omni.omni_realtime import TranscriptionParams
from prometheus_client.parser import text_string_to_metric_families
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

import openasr
from audio_files import ENCODINGS, write_audio
from live_server import KEY, live_server, server_settings
from openasr.audio.decode import decode_audio
from openasr.realtime.audio_in import FrameDecoder
from realtime_traces import COMPLETED, TEXT, check_dashscope_trace
from speech_clips import clip

RATE = 16000
PATH = "/api-ws/v1/realtime"
MODEL = "qwen3-asr-flash-realtime"
IDLE_S = 2.0
MAX_SESSION_S = 3.0
FINISH_TIMEOUT_S = 120
"""Finals on a loaded 2-core machine can take seconds each; `end_session` waits for all of them."""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with live_server(server_settings(tmp_path_factory.mktemp("realtime"), max_realtime_sessions=2)) as base:
        yield base


@pytest.fixture(scope="module", autouse=True)
def release_engine() -> Iterator[None]:
    """`openasr.transcribe`'s in-process engine (the offline side of every comparison) is released."""
    yield
    openasr.close()


def ws_url(base: str) -> str:
    return base.replace("http://", "ws://") + PATH


def speech(*names: str, gap_s: float = 1.0) -> np.ndarray:
    """Committed clips, each followed by `gap_s` of silence (a turn's end)."""
    gap = np.zeros(int(gap_s * RATE), dtype=np.float32)
    return np.concatenate([part for name in names for part in (decode_audio(clip(name).path), gap)])


def pcm16(samples: np.ndarray) -> bytes:
    return (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2").tobytes()


def offline(*segments: np.ndarray) -> list[str]:
    """What the offline path gives for exactly these samples, each on its own (recognised side by side,
    so the engine batches them)."""
    with ThreadPoolExecutor(len(segments)) as pool:
        return list(pool.map(lambda samples: openasr.transcribe([samples], language="en").text, segments))


def words(text: str) -> set[str]:
    return set(text.lower().replace(".", "").replace(",", "").split())


def as_sent(samples: np.ndarray) -> np.ndarray:
    return np.frombuffer(pcm16(samples), dtype="<i2").astype(np.float32) / 32768.0


class Recorder(OmniRealtimeCallback):
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.closed = threading.Event()

    def on_event(self, message: Any) -> None:
        self.events.append(message)

    def on_close(self, close_status_code: Any, close_msg: Any) -> None:
        self.closed.set()


def vad_conversation(server: str, recorder: Recorder, audio_format: str) -> OmniRealtimeConversation:
    """The legacy client, connected, in server VAD mode (English, 500 ms of silence ends a turn)."""
    dashscope.api_key = KEY
    conversation = OmniRealtimeConversation(model=MODEL, callback=recorder, url=ws_url(server))
    conversation.connect()
    conversation.update_session(
        output_modalities=[MultiModality.TEXT],
        enable_turn_detection=True,
        turn_detection_type="server_vad",
        turn_detection_threshold=0.2,
        turn_detection_silence_duration_ms=500,
        transcription_params=TranscriptionParams(language="en", sample_rate=RATE, input_audio_format=audio_format),
    )
    return conversation


def test_the_legacy_client_in_vad_mode_gets_turns_and_offline_finals(server: str) -> None:
    audio = speech("0880", "0890")
    sent = as_sent(audio)
    recorder = Recorder()
    conversation = vad_conversation(server, recorder, "pcm")
    data = pcm16(audio)
    for start in range(0, len(data), 3200):  # 100 ms frames, five times faster than real time
        conversation.append_audio(base64.b64encode(data[start : start + 3200]).decode())
        time.sleep(0.02)
    conversation.end_session(timeout=FINISH_TIMEOUT_S)
    assert recorder.closed.wait(5), "the server closes after session.finished (the legacy client never does)"

    events = recorder.events
    items = check_dashscope_trace(events, updates=1, vad=True)
    assert len(items) == 2
    starts = {e["item_id"]: e["audio_start_ms"] for e in events if e["type"].endswith("speech_started")}
    ends = {e["item_id"]: e["audio_end_ms"] for e in events if e["type"].endswith("speech_stopped")}
    finals = {e["item_id"]: e for e in events if e["type"] == COMPLETED}
    segments = [sent[starts[item] * RATE // 1000 : ends[item] * RATE // 1000] for item in items]
    assert [finals[item]["transcript"] for item in items] == offline(*segments)
    assert all(finals[item]["language"] == "en" and finals[item]["emotion"] == "neutral" for item in items)
    assert "ill disposed" in finals[items[0]]["transcript"].lower().replace("-", " ")
    assert metric(server, "openasr_realtime_final_latency_seconds_count", surface="dashscope-realtime") >= 2


def test_ogg_opus_audio_gets_the_finals_of_the_samples_it_decodes_to(server: str, tmp_path: Path) -> None:
    """`input_audio_format: opus` (spec §1: an Ogg-Opus stream, cut into frames anywhere): each final equals
    offline recognition of the samples the stream decodes to, as the session decoder decodes it whole."""
    opus = write_audio(tmp_path / "speech.opus", speech("0880", "0890"), ENCODINGS["opus"]).read_bytes()
    decoded = FrameDecoder("opus", RATE).decode(base64.b64encode(opus).decode())
    recorder = Recorder()
    conversation = vad_conversation(server, recorder, "opus")
    for start in range(0, len(opus), 1000):  # ~250 ms of audio per frame at 32 kb/s, Ogg pages cut anywhere
        conversation.append_audio(base64.b64encode(opus[start : start + 1000]).decode())
        time.sleep(0.02)
    conversation.end_session(timeout=FINISH_TIMEOUT_S)

    events = recorder.events
    assert not [e for e in events if e["type"] == "error"]
    items = check_dashscope_trace(events, updates=1, vad=True)
    assert len(items) == 2
    starts = {e["item_id"]: e["audio_start_ms"] for e in events if e["type"].endswith("speech_started")}
    ends = {e["item_id"]: e["audio_end_ms"] for e in events if e["type"].endswith("speech_stopped")}
    finals = {e["item_id"]: e["transcript"] for e in events if e["type"] == COMPLETED}
    segments = [decoded[starts[item] * RATE // 1000 : ends[item] * RATE // 1000] for item in items]
    assert [finals[item] for item in items] == offline(*segments)
    assert "ill disposed" in finals[items[0]].lower().replace("-", " ")


@pytest.mark.filterwarnings("ignore::FutureWarning")  # "the audio API is a preview"
@pytest.mark.filterwarnings("ignore::UserWarning")  # "no workspace configured": the URL is given
def test_the_v2_client_in_manual_mode_gets_captions_and_one_final_per_commit(server: str) -> None:
    first, second = decode_audio(clip("0880").path), decode_audio(clip("0930").path)
    events: list[dict[str, Any]] = []
    with Client(api_key=KEY) as client, client.audio.realtime.connect(model=MODEL, ws_url=ws_url(server)) as rt:
        events.append(rt.recv_event() or {})
        rt.update_session(
            ["text"],
            enable_turn_detection=False,
            transcription_params={"language": "en", "sample_rate": RATE, "input_audio_format": "pcm"},
        )
        for samples in (first, second):
            data = pcm16(samples)
            for start in range(0, len(data), 6400):
                rt.append_audio(data[start : start + 6400])
            if samples is first:  # the uncommitted item is captioned while it stays open
                while not events or events[-1]["type"] != TEXT:
                    events.append(rt.recv_event() or {})
            rt.commit()
        rt.end_session()
        events.extend(rt.events())
    items = check_dashscope_trace(events, updates=1, vad=False)
    assert events[-1]["type"] == "session.finished" and len(items) == 2
    caption = next(e for e in events if e["type"] == TEXT)
    assert caption["item_id"] == items[0] and caption["text"] == "" and caption["stash"]
    finals = [e["transcript"] for e in events if e["type"] == COMPLETED]
    assert finals == offline(as_sent(first), as_sent(second))
    assert words(caption["stash"]) & words(finals[0])


def raw_session(base: str, query: str = f"?model={MODEL}", **kwargs: Any) -> ClientConnection:
    headers = kwargs.pop("additional_headers", {"Authorization": f"Bearer {KEY}"})
    return connect(ws_url(base) + query, additional_headers=headers, open_timeout=10, max_size=None, **kwargs)


def receive(ws: ClientConnection, timeout: float = 30) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(ws.recv(timeout=timeout))
    return event


def until(ws: ClientConnection, kind: str, timeout: float = FINISH_TIMEOUT_S) -> list[dict[str, Any]]:
    seen = []
    deadline = time.monotonic() + timeout
    while not seen or seen[-1]["type"] != kind:
        seen.append(receive(ws, max(deadline - time.monotonic(), 0.1)))
    return seen


def close_code(ws: ClientConnection) -> int | None:
    """The server's close code, once it has closed (within 5 s)."""
    with pytest.raises(ConnectionClosed):
        ws.recv(timeout=5)
    return ws.close_code


def update(**session: Any) -> str:
    return json.dumps({"type": "session.update", "session": session})


UPDATE: dict[str, Any] = {
    "type": "session.update",
    "session": {"input_audio_format": "pcm", "sample_rate": RATE, "turn_detection": None},
}


def test_bad_input_gets_error_events_and_the_session_goes_on(server: str) -> None:
    tone = base64.b64encode(pcm16(np.zeros(RATE // 10, dtype=np.float32))).decode()
    with raw_session(server) as ws:
        assert receive(ws)["type"] == "session.created"
        bad: list[tuple[str | bytes, str]] = [
            (json.dumps({"type": "input_audio_buffer.append", "audio": tone}), "session_not_configured"),
            ("{not json", "invalid_event"),
            (json.dumps(["an", "array"]), "invalid_event"),
            (json.dumps({"type": "response.create", "event_id": "c7"}), "invalid_event"),
            (b"\x00\x01binary", "invalid_event"),
            (
                json.dumps({"type": "session.update", "session": {"turn_detection": {"silence_duration_ms": 7000}}}),
                "invalid_value",
            ),
            (
                json.dumps({"type": "session.update", "session": {"input_audio_transcription": {"language": "xx"}}}),
                "invalid_value",
            ),
            ("[" * 100_000 + "]" * 100_000, "invalid_event"),  # deeper than the JSON parser recurses
            ('{"type": "session.update", "session": {"sample_rate": Infinity}}', "invalid_value"),
            (
                '{"type": "session.update", "session": {"turn_detection": {"silence_duration_ms": NaN}}}',
                "invalid_value",
            ),
            (json.dumps({"type": "session.update", "session": {"audio": {"input": 5}}}), "invalid_value"),
            (json.dumps({"type": "session.update", "session": {"input_audio_transcription": "en"}}), "invalid_value"),
            (json.dumps({"type": "session.update", "session": {"input_audio_format": "speex"}}), "invalid_value"),
        ]
        for frame, code in bad:
            ws.send(frame)
            error = receive(ws)
            assert error["type"] == "error" and error["error"]["code"] == code, (frame, error)
            assert error["error"]["type"] == "invalid_request_error" and error["error"]["message"]
        assert error["error"]["param"] == "session.input_audio_format"
        ws.send(json.dumps(UPDATE))
        assert receive(ws)["type"] == "session.updated"
        for frame, code in [
            (json.dumps({"type": "input_audio_buffer.append", "audio": "%%%not base64"}), "invalid_value"),
            (json.dumps({"type": "input_audio_buffer.append", "audio": "A" * (16 * 1024 * 1024)}), "event_too_large"),
        ]:
            ws.send(frame)
            assert receive(ws)["error"]["code"] == code
        ws.send(json.dumps({"type": "input_audio_buffer.commit"}))  # empty: a quiet no-op, never an error
        ws.send(json.dumps({"type": "input_audio_buffer.clear"}))
        assert receive(ws)["type"] == "input_audio_buffer.cleared"
        ws.send(json.dumps({"type": "session.finish"}))
        assert receive(ws)["type"] == "session.finished"
        assert close_code(ws) == 1000  # the server closes within a second


def test_a_commit_in_vad_mode_does_not_break_the_legacy_end_session(server: str) -> None:
    dashscope.api_key = KEY
    recorder = Recorder()
    conversation = OmniRealtimeConversation(model=MODEL, callback=recorder, url=ws_url(server))
    conversation.connect()
    conversation.update_session(output_modalities=[MultiModality.TEXT], enable_turn_detection=True)
    conversation.append_audio(base64.b64encode(pcm16(np.zeros(RATE // 5, dtype=np.float32))).decode())
    conversation.commit()
    conversation.end_session(timeout=FINISH_TIMEOUT_S)  # raises on any error event after session.finish
    check_dashscope_trace(recorder.events, updates=1, vad=True)
    assert not [e for e in recorder.events if e["type"] == "error"]


def test_an_unknown_model_gets_an_error_and_a_policy_close(server: str) -> None:
    with raw_session(server, "?model=qwen-nonexistent") as ws:
        error = receive(ws)
        assert error["type"] == "error" and error["error"]["param"] == "model"
        assert close_code(ws) == 1008


def test_the_handshake_refuses_a_bad_key_with_401(server: str) -> None:
    for headers in ({}, {"Authorization": "Bearer sk-wrong"}):
        with pytest.raises(InvalidStatus) as refused:
            raw_session(server, additional_headers=headers).close()
        assert refused.value.response.status_code == 401
    with raw_session(server, additional_headers={}, subprotocols=["realtime", f"openai-insecure-api-key.{KEY}"]) as ws:
        assert ws.subprotocol == "realtime" and receive(ws)["type"] == "session.created"
    with raw_session(server, "/?api_key=" + KEY, additional_headers={}) as ws:  # a trailing slash, no model
        assert receive(ws)["session"]["model"] == MODEL


def metric(base: str, name: str, **labels: str) -> float:
    text = requests.get(f"{base}/metrics", timeout=10).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


def scrape_open_sessions(base: str) -> float:
    return metric(base, "openasr_realtime_sessions_open")


def eventually(check: Any, timeout: float = 15) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


def test_the_session_cap_refuses_the_next_handshake_and_frees_with_a_session(server: str) -> None:
    assert eventually(lambda: scrape_open_sessions(server) == 0)  # earlier tests' sessions have closed
    with raw_session(server) as first, raw_session(server):
        receive(first)
        with pytest.raises(InvalidStatus) as refused:
            raw_session(server).close()
        assert refused.value.response.status_code == 503
        assert int(refused.value.response.headers["retry-after"]) >= 1
        assert scrape_open_sessions(server) == 2
    assert eventually(lambda: scrape_open_sessions(server) == 0)
    with raw_session(server) as again:
        assert receive(again)["type"] == "session.created"


def usage_seconds(base: str) -> int:
    usage = requests.get(f"{base}/api/v1/usage", headers={"Authorization": f"Bearer {KEY}"}, timeout=10).json()
    return sum(row["seconds"] for row in usage["usage"] if row["model"] == MODEL)


def test_a_vanished_client_is_billed_and_leaves_nothing_open(server: str) -> None:
    before = usage_seconds(server)
    audio = base64.b64encode(pcm16(speech("0880", gap_s=0.0))).decode()
    ws = raw_session(server)
    receive(ws)
    ws.send(json.dumps({**UPDATE, "session": {**UPDATE["session"], "turn_detection": {"type": "server_vad"}}}))
    receive(ws)
    ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": audio}))
    until(ws, "input_audio_buffer.speech_started")
    ws.socket.shutdown(socket.SHUT_RDWR)  # mid-item, no close frame
    ws.socket.close()
    assert eventually(lambda: scrape_open_sessions(server) == 0)
    assert eventually(lambda: usage_seconds(server) - before == 3)  # 2.6 s of audio, billed per started second


def test_idle_and_expired_sessions_get_an_error_and_are_closed(tmp_path: Path) -> None:
    """Silence from the client for the idle limit; a client that keeps sending past the session's limit
    (its open speech is finished first)."""
    settings = server_settings(tmp_path, realtime_idle_timeout_s=IDLE_S, realtime_max_session_s=MAX_SESSION_S)
    with live_server(settings) as base:
        with raw_session(base) as ws:
            receive(ws)
            started = time.monotonic()
            error = receive(ws, timeout=IDLE_S + 5)
            assert error["error"]["code"] == "idle_timeout" and time.monotonic() - started >= IDLE_S - 0.5
            assert close_code(ws) == 1000
        with raw_session(base) as ws:
            receive(ws)
            ws.send(json.dumps(UPDATE))
            receive(ws)
            silence = base64.b64encode(pcm16(np.zeros(RATE // 10, dtype=np.float32))).decode()
            deadline, seen = time.monotonic() + MAX_SESSION_S + 30, []
            with pytest.raises(ConnectionClosed):
                while time.monotonic() < deadline:
                    ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": silence}))
                    with contextlib.suppress(TimeoutError):
                        seen.append(receive(ws, timeout=IDLE_S / 4)["type"])
            with contextlib.suppress(ConnectionClosed):  # what arrived before the close frame
                while True:
                    seen.append(receive(ws, timeout=1)["type"])
            assert ws.close_code == 1000
            assert seen[-1] == "error" and COMPLETED in seen  # the uncommitted audio was finished first
