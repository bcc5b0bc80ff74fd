"""Failures after a stream has started: DashScope `event:error` with a `status:` line, OpenAI `data: {"error"}`."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import dashscope
import numpy as np
import pytest
import requests

from audio_files import load_clip, write_audio
from live_server import KEY
from speech_clips import clip

GENERATION = "/api/v1/services/aigc/multimodal-generation/generation"


@pytest.fixture(scope="module")
def truncated_mp3_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Three minutes of real speech as mp3 (its header declares the length), cut after 40 % of its bytes:
    the first minute decodes and streams, then decoding finds the stream ends early."""
    speech = load_clip(clip("two_cities").path)
    pause = np.zeros(16000, np.float32)
    full = write_audio(tmp_path_factory.mktemp("cut") / "long.mp3", np.concatenate([speech, pause] * 4), "mp3")
    data = full.read_bytes()[: int(full.stat().st_size * 0.4)]
    return "data:audio/mpeg;base64," + base64.b64encode(data).decode()


def test_dashscope_stream_ends_with_event_error(server: str, truncated_mp3_uri: str) -> None:
    body = {
        "model": "qwen3-asr-flash",
        "input": {"messages": [{"role": "user", "content": [{"audio": truncated_mp3_uri}]}]},
        "parameters": {"incremental_output": True},
    }
    r = requests.post(
        f"{server}{GENERATION}",
        stream=True,
        json=body,
        headers={"Authorization": f"Bearer {KEY}", "X-DashScope-SSE": "enable"},
        timeout=300,
    )
    assert r.status_code == 200
    lines = [line.decode() for line in r.iter_lines() if line]
    assert "event:result" in lines, "some text streamed before the failure"
    assert lines.index("event:result") < lines.index("event:error")
    assert "status:400" in lines
    error = json.loads(lines[-1][5:])
    assert error["code"] == "InvalidParameter" and "truncated" in error["message"] and error["request_id"]


def test_dashscope_sdk_reports_the_in_stream_status(server: str, truncated_mp3_uri: str) -> None:
    dashscope.base_http_api_url = f"{server}/api/v1"
    dashscope.api_key = KEY
    responses = list(
        dashscope.MultiModalConversation.call(
            model="qwen3-asr-flash",
            messages=[{"role": "user", "content": [{"audio": truncated_mp3_uri}]}],
            stream=True,
            incremental_output=True,
        )
    )
    assert responses[0].status_code == 200 and responses[0].output.choices[0].message.content[0]["text"]
    assert (responses[-1].status_code, responses[-1].code) == (400, "InvalidParameter")


def test_openai_stream_ends_with_error_event(server: str, truncated_mp3_uri: str) -> None:
    body = {
        "model": "qwen3-asr-flash",
        "stream": True,
        "messages": [
            {"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": truncated_mp3_uri}}]}
        ],
    }
    r = requests.post(
        f"{server}/compatible-mode/v1/chat/completions",
        json=body,
        stream=True,
        headers={"Authorization": f"Bearer {KEY}"},
        timeout=300,
    )
    events = [json.loads(line.decode()[6:]) for line in r.iter_lines() if line]
    assert any(e.get("choices") and e["choices"][0]["delta"].get("content") for e in events)
    assert events[-1]["error"]["code"] == "invalid_parameter_error"


def test_serve_refuses_a_public_interface_without_keys(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "OPENASR_API_KEYS"} | {"OPENASR_DATA_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "openasr.cli.main", "serve", "--host", "0.0.0.0", "--port", "9"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert done.returncode == 1 and "without API keys" in done.stderr and "Traceback" not in done.stderr
