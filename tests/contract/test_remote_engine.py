"""The remote engine against a second openasr on loopback (`OPENASR_ENGINE_API=transcriptions`; real HTTP,
real batching on the far side, a tiny Qwen3-ASR scripted to say "hello world."), including the far side
going down and coming back."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import av
import pytest
import requests
from static_server import static_server
from websockets.sync.client import connect

from live_server import KEY, free_port, live_server, server_settings
from openasr.engines.qwen3_backend import Qwen3Config
from openasr.runtime.engine_config import EngineConfig
from openasr.runtime.engine_pool import EnginePool

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

DATA = Path(__file__).resolve().parents[1] / "data"
CLIP = DATA / "en" / "beckett.wav"
AUTH = {"Authorization": f"Bearer {KEY}"}
SYNC = "/api/v1/services/aigc/multimodal-generation/generation"
SUBMIT = "/api/v1/services/audio/asr/transcription"


class FarSide:
    """An openasr serving the tiny model on a fixed port, which can be stopped and started again."""

    def __init__(self, model: Path, tmp: Path) -> None:
        self.settings = server_settings(tmp, default_model=str(model))
        self.pool = EnginePool(
            tmp / "cache", EngineConfig((Qwen3Config(device="cpu", max_new_tokens=16),), max_wait_s=0.05)
        )
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    def serving(self) -> Any:
        return live_server(self.settings, self.pool, port=self.port)

    def chunks_recognised(self) -> int:
        return sum(e.stats.chunks for e in self.pool.opened().values())


@pytest.fixture(scope="module")
def far(tiny_qwen3, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FarSide]:  # type: ignore[no-untyped-def]
    side = FarSide(tiny_qwen3.scripted("language English<asr_text>hello world."), tmp_path_factory.mktemp("far"))
    yield side
    side.pool.close()


@pytest.fixture(scope="module")
def near(far: FarSide, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("near")
    settings = server_settings(
        tmp,
        engine_url=far.url,
        engine_model="whisper-1",
        engine_api="transcriptions",
        engine_api_key=KEY,
        engine_retries=1,
        engine_timeout_s=30,
    )
    assert settings.default_model == "whisper-1"  # named after the remote model
    pool = EnginePool(tmp / "cache", settings.engine_config())
    with live_server(settings, pool) as url:
        yield url
    pool.close()


def _sync(base: str) -> requests.Response:
    audio = f"data:audio/wav;base64,{base64.b64encode(CLIP.read_bytes()).decode()}"
    body = {
        "model": "qwen3-asr-flash",
        "input": {"messages": [{"role": "user", "content": [{"audio": audio}]}]},
        "parameters": {"result_format": "message"},
    }
    return requests.post(f"{base}{SYNC}", json=body, headers=AUTH, timeout=120)


def test_sync_requests_are_recognised_by_the_far_side(far: FarSide, near: str) -> None:
    with far.serving():
        before = far.chunks_recognised()
        with ThreadPoolExecutor(4) as clients:
            answers = list(clients.map(lambda _: _sync(near), range(4)))
        assert all(r.status_code == 200 for r in answers), [r.text for r in answers]
        assert {r.json()["output"]["choices"][0]["message"]["content"][0]["text"] for r in answers} == {"hello world."}
        assert far.chunks_recognised() >= before + 4


def test_realtime_captions_and_finals_are_recognised_by_the_far_side(far: FarSide, near: str) -> None:
    """A Manual-mode realtime item: captioned while open, then its final, both from the remote engine."""
    with av.open(str(CLIP)) as container:  # 16-bit 16 kHz mono: the file's own samples
        pcm = b"".join(bytes(frame.planes[0])[: frame.samples * 2] for frame in container.decode(audio=0))
    url = near.replace("http://", "ws://") + "/api-ws/v1/realtime?model=qwen3-asr-flash-realtime"
    with far.serving(), connect(url, additional_headers=AUTH, max_size=None) as ws:
        ws.send(json.dumps({"type": "session.update", "session": {"turn_detection": None}}))
        ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": base64.b64encode(pcm).decode()}))
        events = [json.loads(ws.recv(timeout=60))]
        while events[-1]["type"] != "conversation.item.input_audio_transcription.text":
            events.append(json.loads(ws.recv(timeout=60)))
        ws.send(json.dumps({"type": "input_audio_buffer.commit"}))
        ws.send(json.dumps({"type": "session.finish"}))
        while events[-1]["type"] != "session.finished":
            events.append(json.loads(ws.recv(timeout=60)))
    caption = next(e for e in events if e["type"].endswith(".text"))
    (final,) = [e for e in events if e["type"].endswith(".completed")]
    assert caption["stash"] == "hello world." and final["transcript"] == "hello world."


def test_far_side_down_is_a_503_and_a_task_waits_and_resumes(far: FarSide, near: str) -> None:
    down = _sync(near)
    assert down.status_code == 503, down.text
    assert "unavailable" in down.json()["message"]

    with static_server(CLIP.parent) as files:
        body = {"model": "qwen3-asr-flash-filetrans", "input": {"file_url": f"{files}/{CLIP.name}"}, "parameters": {}}
        sub = requests.post(f"{near}{SUBMIT}", json=body, headers=AUTH | {"X-DashScope-Async": "enable"}, timeout=30)
        assert sub.status_code == 200, sub.text
        task = f"{near}/api/v1/tasks/{sub.json()['output']['task_id']}"
        time.sleep(3)  # the far side is down: the task is tried, put back, and waits
        waiting = requests.get(task, headers=AUTH, timeout=10).json()["output"]
        assert waiting["task_status"] in ("PENDING", "RUNNING"), waiting
        with far.serving():
            deadline = time.monotonic() + 120
            while (out := requests.get(task, headers=AUTH, timeout=10).json()["output"])["task_status"] not in (
                "SUCCEEDED",
                "FAILED",
            ):
                assert time.monotonic() < deadline, out
                time.sleep(0.3)
    assert out["task_status"] == "SUCCEEDED", out
    result = requests.get(out["result"]["transcription_url"], timeout=10).json()
    assert result["transcripts"][0]["text"] == "hello world."


def test_far_side_going_down_mid_task_and_coming_back(far: FarSide, tmp_path: Path) -> None:
    """One chunk in flight at a time, so a 10-minute file takes long enough to pull the plug half-way."""
    from corpus import build_recording

    build_recording(tmp_path / "ten.flac", 600.0)
    settings = server_settings(
        tmp_path / "near",
        engine_url=far.url,
        engine_model="whisper-1",
        engine_api="transcriptions",
        engine_api_key=KEY,
        engine_retries=1,
        engine_concurrency=1,
    )
    pool = EnginePool(tmp_path / "cache", settings.engine_config())
    body = {"model": "qwen3-asr-flash-filetrans", "input": {"file_url": ""}, "parameters": {}}
    with live_server(settings, pool) as near, static_server(tmp_path) as files:
        body["input"] = {"file_url": f"{files}/ten.flac"}
        with far.serving():
            sub = requests.post(
                f"{near}{SUBMIT}", json=body, headers=AUTH | {"X-DashScope-Async": "enable"}, timeout=30
            )
            assert sub.status_code == 200, sub.text
            task = f"{near}/api/v1/tasks/{sub.json()['output']['task_id']}"
            deadline = time.monotonic() + 120
            while not (out := requests.get(task, headers=AUTH, timeout=10).json()["output"]).get("audio_seconds_done"):
                assert time.monotonic() < deadline and out["task_status"] in ("PENDING", "RUNNING"), out
                time.sleep(0.02)
        # the far side is gone with the task part-way through
        assert out["task_status"] == "RUNNING" and 0 < out["audio_seconds_done"] < 600, out
        time.sleep(2)
        waiting = requests.get(task, headers=AUTH, timeout=10).json()["output"]
        assert waiting["task_status"] in ("PENDING", "RUNNING"), waiting
        with far.serving():
            deadline = time.monotonic() + 180
            while (out := requests.get(task, headers=AUTH, timeout=10).json()["output"])["task_status"] not in (
                "SUCCEEDED",
                "FAILED",
            ):
                assert time.monotonic() < deadline, out
                time.sleep(0.3)
        assert out["task_status"] == "SUCCEEDED", out
        result = requests.get(out["result"]["transcription_url"], timeout=10).json()
    pool.close()
    sentences = result["transcripts"][0]["sentences"]
    assert len(sentences) >= 20 and {s["text"] for s in sentences} == {"hello world."}
    starts = [s["begin_time"] for s in sentences]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)  # each chunk once, none lost or repeated
