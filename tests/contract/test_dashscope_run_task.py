"""DashScope run-task streaming recognition (`/api-ws/v1/inference`) with the real
`dashscope.audio.asr.Recognition` client against a real server on loopback.

Two read sentences with a second of silence between them stream through `start` / `send_audio_frame` /
`stop`: each must come back as its own final sentence (an `end_time`, the SDK's test for "final") that
reads as its reference, after any caption of that sentence and never followed by one.
"""

from __future__ import annotations

import json
import logging
import socket
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dashscope
import numpy as np
import pytest
import requests
from asr_metrics import score
from dashscope import Client
from dashscope.audio.asr import Recognition, RecognitionCallback, RecognitionResult
from prometheus_client.parser import text_string_to_metric_families
from websockets.exceptions import ConnectionClosedOK
from websockets.sync.client import connect

from audio_files import ENCODINGS, SAMPLE_RATE_HZ, load_clip, to_int16, write_audio
from live_server import KEY, live_server, server_settings
from speech_clips import clip

CLIPS = (clip("0880"), clip("0930"))
FRAME_BYTES = 3200  # 100 ms of 16 kHz s16le, as Alibaba's samples send


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with live_server(server_settings(tmp_path_factory.mktemp("run-task"))) as url:
        yield url


@pytest.fixture
def inference_url(base: str) -> Iterator[str]:
    before = dashscope.base_websocket_api_url, dashscope.api_key
    dashscope.base_websocket_api_url = base.replace("http", "ws") + "/api-ws/v1/inference"
    dashscope.api_key = KEY
    yield dashscope.base_websocket_api_url
    dashscope.base_websocket_api_url, dashscope.api_key = before


class Recorder(RecognitionCallback):  # type: ignore[misc]
    def __init__(self) -> None:
        self.sentences: list[dict[str, Any]] = []
        self.errors: list[str] = []
        self.complete = threading.Event()

    def on_event(self, result: RecognitionResult) -> None:
        self.sentences.append(dict(result.get_sentence()))

    def on_complete(self) -> None:
        self.complete.set()

    def on_error(self, result: RecognitionResult) -> None:
        self.errors.append(str(result.message))
        self.complete.set()


def metric_count(base: str, name: str) -> float:
    """The run-task surface's observations of histogram `name` so far."""
    text = requests.get(f"{base}/metrics", timeout=10).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == f"{name}_count" and sample.labels.get("surface") == "dashscope-run-task"
    )


def two_sentences() -> np.ndarray:
    """The two clips, each followed by a second of silence (a sentence's end)."""
    gap = np.zeros(SAMPLE_RATE_HZ, dtype=np.float32)
    return np.concatenate([gap[:4000], load_clip(CLIPS[0].path), gap, load_clip(CLIPS[1].path), gap])


def recognise(data: bytes, fmt: str, frame_bytes: int, recorder: Recorder) -> None:
    """The real `Recognition` client sending `data` in frames, through to `stop()`."""
    recognition = Recognition(
        model="paraformer-realtime-v2",
        format=fmt,
        sample_rate=SAMPLE_RATE_HZ,
        callback=recorder,
        language_hints=["en"],
    )
    recognition.start()
    for start in range(0, len(data), frame_bytes):
        recognition.send_audio_frame(data[start : start + frame_bytes])
    recognition.stop()


def test_recognition_streams_captions_then_one_final_per_sentence(base: str, inference_url: str) -> None:
    finals_before = metric_count(base, "openasr_realtime_final_latency_seconds")
    captions_before = metric_count(base, "openasr_realtime_first_partial_seconds")
    pcm = to_int16(two_sentences()).tobytes()
    recorder = Recorder()
    recognise(pcm, "pcm", FRAME_BYTES, recorder)
    assert recorder.complete.wait(120) and not recorder.errors, recorder.errors

    finals = [s for s in recorder.sentences if RecognitionResult.is_sentence_end(s)]
    assert len(finals) == 2, recorder.sentences
    for sentence, c in zip(finals, CLIPS, strict=True):
        assert score(c.reference, sentence["text"], "en").rate <= 0.25, sentence
        assert sentence["sentence_end"] is True and 0 <= sentence["begin_time"] < sentence["end_time"]
    assert finals[0]["end_time"] <= finals[1]["begin_time"]
    for final in finals:  # captions of a sentence come before its final, none after
        mine = [i for i, s in enumerate(recorder.sentences) if s["sentence_id"] == final["sentence_id"]]
        assert recorder.sentences[mine[-1]] is final
        assert all(s["end_time"] is None for s in (recorder.sentences[i] for i in mine[:-1]))
    # /metrics: one final latency per final, one time to first caption per sentence that had a caption
    captioned = {s["sentence_id"] for s in recorder.sentences if not s["sentence_end"]}
    assert metric_count(base, "openasr_realtime_final_latency_seconds") - finals_before == len(finals)
    assert metric_count(base, "openasr_realtime_first_partial_seconds") - captions_before == len(captioned)


@pytest.mark.filterwarnings("ignore::FutureWarning")  # "the audio API is a preview"
@pytest.mark.filterwarnings("ignore::UserWarning")  # "no workspace configured": the URL is given
def test_the_v2_client_recognizes_while_it_sends(inference_url: str) -> None:
    """dashscope 2.x `Client().audio.asr.recognize(ws_url=…)`: audio sent on one thread, typed results read
    on another, one final sentence per turn with the usage the 1.x client reports."""
    pcm = to_int16(two_sentences()).tobytes()
    with (
        Client(api_key=KEY) as client,
        client.audio.asr.recognize(
            model="fun-asr-realtime", parameters={"language_hints": ["en"]}, ws_url=inference_url
        ) as recognition,
    ):

        def send() -> None:
            for start in range(0, len(pcm), FRAME_BYTES):
                recognition.send_audio_frame(pcm[start : start + FRAME_BYTES])
            recognition.stop()

        sender = threading.Thread(target=send)
        sender.start()
        sentences = [r.get_sentence() for r in recognition.results()]
        sender.join()
    finals = [s for s in sentences if isinstance(s, dict) and s.get("sentence_end")]
    assert len(finals) == 2, sentences
    for sentence, c in zip(finals, CLIPS, strict=True):
        assert score(c.reference, sentence["text"], "en").rate <= 0.25, sentence
    assert recognition.usage is not None and recognition.usage["duration"] >= 1


def test_recognition_takes_an_ogg_opus_stream(base: str, inference_url: str, tmp_path: Path) -> None:
    opus = write_audio(tmp_path / "speech.opus", two_sentences(), ENCODINGS["opus"]).read_bytes()
    recorder = Recorder()
    recognise(opus, "opus", 1000, recorder)  # Ogg pages cut anywhere between frames
    assert recorder.complete.wait(120) and not recorder.errors, recorder.errors
    finals = [s for s in recorder.sentences if RecognitionResult.is_sentence_end(s)]
    assert len(finals) == 2, recorder.sentences
    for sentence, c in zip(finals, CLIPS, strict=True):
        assert score(c.reference, sentence["text"], "en").rate <= 0.25, sentence


def test_an_unknown_model_fails_the_task_and_a_wrong_key_the_handshake(inference_url: str) -> None:
    recorder = Recorder()
    Recognition(model="no-such-model", format="pcm", sample_rate=SAMPLE_RATE_HZ, callback=recorder).start()
    assert recorder.complete.wait(30) and "no-such-model" in recorder.errors[0]

    dashscope.api_key = "sk-wrong"
    refused = Recorder()
    Recognition(model="paraformer-realtime-v2", format="pcm", sample_rate=SAMPLE_RATE_HZ, callback=refused).start()
    assert refused.complete.wait(30) and refused.errors


def run_task(model: str = "paraformer-realtime-v2") -> str:
    header = {"streaming": "duplex", "task_id": "a" * 32, "action": "run-task"}
    payload = {"model": model, "parameters": {"sample_rate": 16000, "format": "pcm"}, "input": {}, "task": "asr"}
    return json.dumps({"header": header, "payload": payload})


def test_bad_directives_and_an_idle_client_fail_the_task_and_close(tmp_path: Path) -> None:
    with live_server(server_settings(tmp_path, realtime_idle_timeout_s=1.0)) as idle_base:
        url = idle_base.replace("http", "ws") + "/api-ws/v1/inference"
        auth = {"Authorization": f"Bearer {KEY}"}
        deep = "[" * 100_000 + "]" * 100_000  # deeper than the JSON parser recurses
        for first in ("{not json", deep, json.dumps({"header": {"action": "dance"}}), b"audio before run-task"):
            with connect(url, additional_headers=auth) as ws:
                ws.send(first)
                failed = json.loads(ws.recv(timeout=30))
                assert (
                    failed["header"]["event"] == "task-failed" and failed["header"]["error_code"] == "InvalidParameter"
                )
                with pytest.raises(ConnectionClosedOK):
                    ws.recv(timeout=5)
        with connect(url, additional_headers=auth) as ws:
            ws.send(run_task())
            assert json.loads(ws.recv(timeout=30))["header"]["event"] == "task-started"
            failed = json.loads(ws.recv(timeout=10))  # nothing sent for 1 s
            assert failed["header"]["error_code"] == "RequestTimeOut"


def test_a_client_that_vanishes_during_its_final_ends_quietly(base: str, inference_url: str) -> None:
    """finish-task, then a TCP reset while the final decodes: nothing to tell and nothing logged as a
    failure (uvicorn logs an application's exception on its own logger, which does not propagate); the
    next client is served."""
    speech = to_int16(load_clip(CLIPS[0].path)).tobytes()
    failures = Failures()
    logging.getLogger("uvicorn.error").addHandler(failures)
    try:
        with connect(inference_url, additional_headers={"Authorization": f"Bearer {KEY}"}) as ws:
            ws.send(run_task())
            assert json.loads(ws.recv(timeout=30))["header"]["event"] == "task-started"
            for start in range(0, len(speech), FRAME_BYTES):
                ws.send(speech[start : start + FRAME_BYTES])
            ws.send(json.dumps({"header": {"action": "finish-task", "task_id": "a" * 32}, "payload": {"input": {}}}))
            time.sleep(0.3)  # the final is decoding
            ws.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            ws.socket.close()  # a reset, not a close handshake
        time.sleep(4.0)  # the final ends and its answers find the client gone
    finally:
        logging.getLogger("uvicorn.error").removeHandler(failures)
    assert failures.messages == []
    recorder = Recorder()
    recognise(to_int16(two_sentences()).tobytes(), "pcm", FRAME_BYTES, recorder)
    assert recorder.complete.wait(30) and not recorder.errors and recorder.sentences


class Failures(logging.Handler):
    """The ERROR records of a logger."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())
