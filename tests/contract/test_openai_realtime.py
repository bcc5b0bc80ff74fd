"""OpenAI Realtime transcription (`/v1/realtime?intent=transcription`) with the real `openai` SDK's GA and
beta clients against a real server on loopback, then the bad inputs of issue 24 with a raw WebSocket.

Audio is real speech sent unpaced in the SDKs' 100 ms frames. Every trace is checked against the ordering
invariants of spec §3.4 (`openai_traces.check_openai_order`); a manual-commit final must equal
`openasr.transcribe` of the same 16 kHz samples, a VAD session's finals must read as the clip's reference.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from asr_metrics import score
from openai import OpenAI
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

import openasr
from audio_files import SAMPLE_RATE_HZ, load_clip, resample, to_int16
from live_server import KEY, live_server, server_settings
from openai_traces import TRANSCRIPTION, as_received, check_openai_order, pcm_frames
from speech_clips import clip

CLIP = clip("0880")  # 3 s of read English
SECOND = clip("0930")  # 3.3 s
COMPLETED = f"{TRANSCRIPTION}.completed"
WAIT_S = 120


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with live_server(server_settings(tmp_path_factory.mktemp("rt-openai"))) as url:
        yield url


def collect(conn: Any, until: int, kind: str = COMPLETED) -> list[dict[str, Any]]:
    """Server events (SDK-parsed, as dicts) until `until` events of `kind` have arrived."""
    trace: list[dict[str, Any]] = []
    while sum(e["type"] == kind for e in trace) < until:
        trace.append(conn.recv().model_dump(warnings=False))
    return trace


def transcripts(trace: list[dict[str, Any]]) -> list[str]:
    return [e["transcript"] for e in trace if e["type"] == COMPLETED]


def test_ga_manual_commits_give_the_offline_transcript_of_each_item(base: str) -> None:
    first, second = load_clip(CLIP.path), load_clip(SECOND.path)
    client = OpenAI(api_key=KEY, base_url=f"{base}/v1")
    with client.realtime.connect(extra_query={"intent": "transcription"}) as conn:
        fmt = {"type": "audio/pcm", "rate": SAMPLE_RATE_HZ}
        audio = {
            "input": {"format": fmt, "transcription": {"model": "whisper-1", "language": "en"}, "turn_detection": None}
        }
        conn.session.update(session={"type": "transcription", "audio": audio})  # type: ignore[arg-type]
        conn.input_audio_buffer.commit()  # nothing appended yet: an error, and the session goes on
        for samples in (first, second):
            for frame in pcm_frames(samples, SAMPLE_RATE_HZ):
                conn.input_audio_buffer.append(audio=frame)
            conn.input_audio_buffer.commit()
        trace = collect(conn, 2)
    updated = next(e for e in trace if e["type"] == "session.updated")
    assert updated["session"]["audio"]["input"]["turn_detection"] is None
    error = next(e for e in trace if e["type"] == "error")["error"]
    assert error["code"] == "input_audio_buffer_commit_empty" and error["type"] == "invalid_request_error"
    check_openai_order([e for e in trace if e["type"] != "error"], vad=False, beta=False)
    offline = [openasr.transcribe([as_received(s)], language="en").channels[0].text for s in (first, second)]
    assert transcripts(trace) == offline
    for heard, c in zip(offline, (CLIP, SECOND), strict=True):
        assert score(c.reference, heard, "en").rate <= 0.2, heard
    usage = next(e for e in trace if e["type"] == COMPLETED)["usage"]
    assert usage == {"type": "duration", "seconds": pytest.approx(len(first) / SAMPLE_RATE_HZ, abs=0.01)}


def test_beta_server_vad_at_24khz_finds_both_utterances(base: str) -> None:
    silence = np.zeros(SAMPLE_RATE_HZ, dtype=np.float32)
    stream = np.concatenate([silence[:8000], load_clip(CLIP.path), silence, load_clip(SECOND.path), silence])
    client = OpenAI(api_key=KEY, base_url=f"{base}/v1", websocket_base_url=base.replace("http", "ws") + "/v1")
    with client.beta.realtime.connect(model="whisper-1", extra_query={"intent": "transcription"}) as conn:
        vad = {"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300, "silence_duration_ms": 500}
        conn.transcription_session.update(
            session={
                "input_audio_format": "pcm16",
                "input_audio_transcription": {"model": "whisper-1", "language": "en"},
                "turn_detection": vad,
            }
        )
        for frame in pcm_frames(stream, 24000):
            conn.input_audio_buffer.append(audio=frame)
        trace = collect(conn, 2)
    assert any(e["type"] == "transcription_session.updated" for e in trace)
    check_openai_order(trace, vad=True, beta=True)
    for heard, c in zip(transcripts(trace), (CLIP, SECOND), strict=True):
        assert score(c.reference, heard, "en").rate <= 0.25, heard
    started = [e["audio_start_ms"] for e in trace if e["type"] == "input_audio_buffer.speech_started"]
    assert started[0] < 500 + 300 and started[1] > 500 + len(load_clip(CLIP.path)) * 1000 // SAMPLE_RATE_HZ


def raw(base: str, **kwargs: Any) -> ClientConnection:
    return connect(base.replace("http", "ws") + "/v1/realtime?intent=transcription", **kwargs)


def events_until(ws: ClientConnection, kind: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while not out or out[-1]["type"] != kind:
        out.append(json.loads(ws.recv(timeout=WAIT_S)))
    return out


BAD_EVENTS: list[tuple[str | bytes, str, str | None]] = [
    ("{not json", "invalid_event", None),
    ("[1, 2]", "invalid_event", "type"),
    (b"\x00\x01binary", "invalid_event", None),
    (json.dumps({"type": "response.create"}), "invalid_event", "type"),
    (json.dumps({"type": "input_audio_buffer.append", "audio": "***not base64***"}), "invalid_value", "audio"),
    (json.dumps({"type": "input_audio_buffer.append", "audio": 5}), "invalid_value", "audio"),
    (json.dumps({"type": "session.update", "session": {"type": "realtime"}}), "invalid_value", "session.type"),
    (
        json.dumps(
            {
                "type": "session.update",
                "session": {
                    "type": "transcription",
                    "audio": {"input": {"format": {"type": "audio/pcm", "rate": 11025}}},
                },
            }
        ),
        "invalid_value",
        "session.audio.input.format.rate",
    ),
    (
        json.dumps(
            {"type": "transcription_session.update", "session": {"turn_detection": {"silence_duration_ms": 7000}}}
        ),
        "invalid_value",
        "session.turn_detection.silence_duration_ms",
    ),
    (
        json.dumps({"type": "input_audio_buffer.append", "audio": "A" * (15 * 1024 * 1024 + 4)}),
        "event_too_large",
        "audio",
    ),
    ("[" * 100_000 + "]" * 100_000, "invalid_event", None),  # deeper than the JSON parser recurses
    (
        json.dumps(
            {
                "type": "session.update",
                "session": {"type": "transcription", "audio": {"input": {"format": {"type": ["audio/pcm"]}}}},
            }
        ),
        "invalid_value",
        "session.audio.input.format.type",
    ),
    (
        json.dumps(
            {
                "type": "session.update",
                "session": {
                    "type": "transcription",
                    "audio": {"input": {"format": {"type": "audio/pcm", "rate": [24000]}}},
                },
            }
        ),
        "invalid_value",
        "session.audio.input.format.rate",
    ),
    (
        json.dumps(
            {
                "type": "transcription_session.update",
                "session": {"turn_detection": {"type": "semantic_vad", "eagerness": {}}},
            }
        ),
        "invalid_value",
        "session.turn_detection.eagerness",
    ),
    (
        json.dumps({"type": "transcription_session.update", "session": {"input_audio_format": ["pcm16"]}}),
        "invalid_value",
        "session.input_audio_format",
    ),
    (
        json.dumps(
            {"type": "transcription_session.update", "session": {"input_audio_transcription": {"language": "xx"}}}
        ),
        "invalid_value",
        "session.input_audio_transcription.language",
    ),
]


def test_bad_inputs_are_error_events_and_the_session_goes_on(base: str) -> None:
    with raw(base, additional_headers={"Authorization": f"Bearer {KEY}"}, max_size=None) as ws:
        assert json.loads(ws.recv(timeout=WAIT_S))["type"] == "session.created"
        for frame, code, param in BAD_EVENTS:
            ws.send(frame)
            error = events_until(ws, "error")[-1]["error"]
            assert (error["code"], error["param"], error["type"]) == (code, param, "invalid_request_error"), frame[:80]
        for frame in pcm_frames(load_clip(clip("cards_001").path), 24000):  # then it transcribes as before
            ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": frame, "event_id": "c1"}))
        ws.send(json.dumps({"type": "input_audio_buffer.commit"}))
        after = events_until(ws, COMPLETED)
        assert [e for e in after if e["type"] == "error"] == [] and after[-1]["transcript"]


def test_browser_subprotocol_key_and_handshake_refusals(base: str) -> None:
    with raw(base, subprotocols=["realtime", f"openai-insecure-api-key.{KEY}", "openai-beta.realtime-v1"]) as ws:
        assert ws.subprotocol == "realtime"
        assert json.loads(ws.recv(timeout=WAIT_S))["type"] == "session.created"
        ws.send(json.dumps({"type": "input_audio_buffer.clear"}))
        assert events_until(ws, "input_audio_buffer.cleared")
    for refused in ({"subprotocols": ["realtime", "openai-insecure-api-key.sk-wrong"]}, {}):
        with pytest.raises(InvalidStatus) as info:
            raw(base, **refused)  # type: ignore[arg-type]
        assert info.value.response.status_code == 401


def test_a_client_that_vanishes_mid_item_leaves_a_working_server(base: str) -> None:
    ws = raw(base, additional_headers={"Authorization": f"Bearer {KEY}"})
    ws.recv(timeout=WAIT_S)
    for frame in pcm_frames(load_clip(CLIP.path), 24000):
        ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": frame}))
    ws.send(json.dumps({"type": "input_audio_buffer.commit"}))
    ws.socket.close()  # no close frame: gone mid-decode
    with raw(base, additional_headers={"Authorization": f"Bearer {KEY}"}) as again:
        assert json.loads(again.recv(timeout=WAIT_S))["type"] == "session.created"
        for frame in pcm_frames(load_clip(clip("cards_001").path), 24000):
            again.send(json.dumps({"type": "input_audio_buffer.append", "audio": frame}))
        again.send(json.dumps({"type": "input_audio_buffer.commit"}))
        # the engine decodes in order: this final comes after the vanished client's decode has ended
        assert events_until(again, COMPLETED)[-1]["transcript"]


def mu_law(samples16k: np.ndarray) -> bytes:
    """G.711 µ-law at 8 kHz (the standard encoder: bias 0x84, 8 segments, inverted bits)."""
    pcm = to_int16(resample(samples16k, 8000)).astype(np.int32)
    magnitude = np.minimum(np.abs(pcm), 32635) + 0x84
    exponent = np.clip(np.floor(np.log2(magnitude)).astype(np.int32) - 7, 0, 7)
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return (~(((pcm < 0) << 7) | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8).tobytes()


def test_beta_g711_ulaw_at_8khz_is_recognised(base: str) -> None:
    law = mu_law(load_clip(CLIP.path))
    with raw(base, additional_headers={"Authorization": f"Bearer {KEY}", "OpenAI-Beta": "realtime=v1"}) as ws:
        ws.recv(timeout=WAIT_S)
        session = {
            "input_audio_format": "g711_ulaw",
            "turn_detection": None,
            "input_audio_transcription": {"language": "en"},
        }
        ws.send(json.dumps({"type": "transcription_session.update", "session": session}))
        assert events_until(ws, "transcription_session.updated")[-1]["session"]["input_audio_format"] == "g711_ulaw"
        for start in range(0, len(law), 800):  # 100 ms of 8 kHz µ-law
            frame = base64.b64encode(law[start : start + 800]).decode()
            ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": frame}))
        ws.send(json.dumps({"type": "input_audio_buffer.commit"}))
        trace = events_until(ws, COMPLETED)
    assert "conversation.item.created" in [e["type"] for e in trace]  # the beta's name
    assert score(CLIP.reference, trace[-1]["transcript"], "en").rate <= 0.35, trace[-1]["transcript"]
