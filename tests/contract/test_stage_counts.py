"""Each request walks the stages once: one probe, one options validation, one engine check.

Spies wrap the three functions where they are looked up (`openasr.audio.decode.probe_audio`, which the
pipeline's probe and decoder call; `openasr.core.options.validate_options`, which every
`TranscribeOptions` runs as it is made; `check_engine` in `openasr.pipeline.transcription` and, for the async submit,
in `openasr.jobs.tasks`) and count their calls while real requests run through a real server on
loopback: DashScope sync, its SSE stream, OpenAI's transcription endpoint, and an async task.

An async task is read twice by design: the submit validates and checks the engine so that a bad request
gets its 400 at once, and the worker reads the stored task again when it runs it (maybe in another
process, after a restart); the audio is probed once, by the worker.
"""

from __future__ import annotations

import base64
import json
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from static_server import static_server

import openasr.audio.decode
import openasr.core.options
import openasr.jobs.tasks
import openasr.pipeline.transcription
from live_server import KEY, file_task, live_server, server_settings
from speech_clips import clip

DASHWOOD = clip("0870")  # "and mister john dashwood had then leisure to consider …", 8 s
SYNC = "/api/v1/services/aigc/multimodal-generation/generation"
AUTH = {"Authorization": f"Bearer {KEY}"}


class StageCalls:
    """Counts calls of the spied functions, by stage and by who made them (the task worker's threads
    are named ``openasr-worker-…``; everything else is the request)."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()

    def spy(self, monkeypatch: pytest.MonkeyPatch, module: object, name: str, stage: str) -> None:
        real: Callable[..., Any] = getattr(module, name)

        def counted(*args: Any, **kwargs: Any) -> Any:
            who = "worker" if threading.current_thread().name.startswith("openasr-worker") else "request"
            with self._lock:
                self.counts[(stage, who)] += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(module, name, counted)

    def take(self) -> dict[tuple[str, str], int]:
        with self._lock:
            taken = dict(self.counts)
            self.counts.clear()
        return taken


ONE_EACH = {("probe", "request"): 1, ("validation", "request"): 1, ("engine check", "request"): 1}


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with live_server(server_settings(tmp_path_factory.mktemp("stage-counts"), workers=1)) as url:
        yield url


@pytest.fixture
def calls(base: str, monkeypatch: pytest.MonkeyPatch) -> StageCalls:
    spies = StageCalls()
    spies.spy(monkeypatch, openasr.audio.decode, "probe_audio", "probe")
    spies.spy(monkeypatch, openasr.core.options, "validate_options", "validation")
    spies.spy(monkeypatch, openasr.pipeline.transcription, "check_engine", "engine check")
    spies.spy(monkeypatch, openasr.jobs.tasks, "check_engine", "engine check")
    return spies


def sync_body() -> dict[str, Any]:
    data_uri = f"data:audio/wav;base64,{base64.b64encode(DASHWOOD.path.read_bytes()).decode()}"
    return {"model": "qwen3-asr-flash", "input": {"messages": [{"role": "user", "content": [{"audio": data_uri}]}]}}


def test_dashscope_sync_request(base: str, calls: StageCalls) -> None:
    r = requests.post(f"{base}{SYNC}", json=sync_body(), headers=AUTH, timeout=120)
    assert r.status_code == 200, r.text
    assert "dashwood" in r.json()["output"]["choices"][0]["message"]["content"][0]["text"].lower()
    assert calls.take() == ONE_EACH


def test_dashscope_sse_stream(base: str, calls: StageCalls) -> None:
    headers = {**AUTH, "X-DashScope-SSE": "enable"}
    with requests.post(f"{base}{SYNC}", json=sync_body(), headers=headers, timeout=120, stream=True) as r:
        assert r.status_code == 200
        events = [json.loads(line[5:]) for line in r.iter_lines(decode_unicode=True) if line.startswith("data:")]
    last = events[-1]["output"]["choices"][0]
    assert last["finish_reason"] == "stop" and "dashwood" in last["message"]["content"][0]["text"].lower()
    assert calls.take() == ONE_EACH


def test_openai_transcription(base: str, calls: StageCalls) -> None:
    with DASHWOOD.path.open("rb") as f:
        r = requests.post(
            f"{base}/v1/audio/transcriptions",
            files={"file": (DASHWOOD.path.name, f, "audio/wav")},
            data={"model": "whisper-1", "response_format": "srt"},
            headers=AUTH,
            timeout=120,
        )
    assert r.status_code == 200, r.text
    assert "dashwood" in r.text.lower() and " --> " in r.text
    assert calls.take() == ONE_EACH


def test_async_task(base: str, calls: StageCalls, tmp_path: Path) -> None:
    (tmp_path / DASHWOOD.path.name).write_bytes(DASHWOOD.path.read_bytes())
    with static_server(tmp_path) as static:
        task = file_task(base, f"{static}/{DASHWOOD.path.name}")
    assert task["output"]["task_status"] == "SUCCEEDED", task
    result = requests.get(task["output"]["result"]["transcription_url"], timeout=30).json()
    assert "dashwood" in result["transcripts"][0]["text"].lower()
    counts = calls.take()
    # A stored task makes its options again from its row on every read (each poll, the worker's claim):
    # that re-validates options already valid, touching no audio, so only probes and engine checks are
    # counted exactly: the audio is probed once, by the worker; the engine is checked at submit (so a bad
    # request is a 400 at once) and once more where the task runs, maybe in another process.
    validations = {k: v for k, v in counts.items() if k[0] == "validation"}
    assert validations.get(("validation", "request"), 0) >= 1, counts
    assert {k: v for k, v in counts.items() if k[0] != "validation"} == {
        ("engine check", "request"): 1,
        ("probe", "worker"): 1,
        ("engine check", "worker"): 1,
    }
