"""Every 200 answer of a real server, on real speech, is exactly the model /openapi.json declares for it
(schemathesis checks the same from generated requests, which seldom get a successful recognition)."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from live_server import KEY, live_server, server_settings
from openasr.server.dashscope.protocol import GenerationResponse, LegacyGenerationResponse
from openasr.server.dashscope.task_protocol import (
    CancelResponse,
    ResultDocument,
    SubmitResponse,
    TaskListResponse,
    TaskResponse,
)
from openasr.server.dashscope.upload_protocol import PolicyResponse, UploadReceipt
from openasr.server.openai.chat_protocol import ChatCompletion
from openasr.server.openai.protocol import Transcription, VerboseTranscription
from openasr.server.usage import UsageResponse
from speech_clips import clip
from wire import assert_exact

BECKETT = clip("beckett").path
AUTH = {"Authorization": f"Bearer {KEY}"}
DATA_URI = f"data:audio/wav;base64,{base64.b64encode(BECKETT.read_bytes()).decode()}"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with live_server(server_settings(tmp_path_factory.mktemp("wire"), workers=1)) as url:
        yield url


def ok(response: requests.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def generation(server: str, model: str, **headers: str) -> requests.Response:
    body = {"model": model, "input": {"messages": [{"role": "user", "content": [{"audio": DATA_URI}]}]}}
    return requests.post(
        f"{server}/api/v1/services/aigc/multimodal-generation/generation",
        json=body,
        headers={**AUTH, **headers},
        timeout=300,
    )


def test_dashscope_sync_answers_and_stream_events(server: str) -> None:
    assert_exact(GenerationResponse, ok(generation(server, "qwen3-asr-flash")))
    assert_exact(LegacyGenerationResponse, ok(generation(server, "qwen-audio-asr")))
    streamed = generation(server, "qwen3-asr-flash", **{"X-DashScope-SSE": "enable"})
    events = [json.loads(line[5:]) for line in streamed.text.splitlines() if line.startswith("data:")]
    assert streamed.status_code == 200 and events, streamed.text
    for event in events:
        assert_exact(GenerationResponse, event)


def test_openai_answers(server: str) -> None:
    chat = {
        "model": "qwen3-asr-flash",
        "messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": DATA_URI}}]}],
    }
    completion = requests.post(f"{server}/compatible-mode/v1/chat/completions", json=chat, headers=AUTH, timeout=300)
    assert_exact(ChatCompletion, ok(completion))
    for fields, model in (
        ({"response_format": "json"}, Transcription),
        ({"response_format": "verbose_json", "timestamp_granularities[]": "word"}, VerboseTranscription),
    ):
        with BECKETT.open("rb") as f:
            answer = requests.post(
                f"{server}/v1/audio/transcriptions",
                headers=AUTH,
                files={"file": f},
                data={"model": "whisper-1", **fields},
                timeout=300,
            )
        assert_exact(model, ok(answer))


def test_upload_task_and_usage_answers(server: str, tmp_path: Path) -> None:
    query = {"action": "getPolicy", "model": "qwen3-asr-flash-filetrans"}
    policy = ok(requests.get(f"{server}/api/v1/uploads", params=query, headers=AUTH, timeout=30))
    assert_exact(PolicyResponse, policy)
    cert = policy["data"]
    form = {
        "OSSAccessKeyId": cert["oss_access_key_id"],
        "Signature": cert["signature"],
        "policy": cert["policy"],
        "key": f"{cert['upload_dir']}/beckett.wav",
        "success_action_status": "200",
    }
    with BECKETT.open("rb") as f:
        receipt = ok(requests.post(cert["upload_host"], data=form, files={"file": f}, timeout=60))
    assert_exact(UploadReceipt, receipt)

    submit = {"model": "qwen3-asr-flash-filetrans", "input": {"file_url": receipt["url"]}, "parameters": {}}
    headers = {**AUTH, "X-DashScope-Async": "enable", "X-DashScope-OssResourceResolve": "enable"}
    submitted = ok(
        requests.post(f"{server}/api/v1/services/audio/asr/transcription", json=submit, headers=headers, timeout=30)
    )
    assert_exact(SubmitResponse, submitted)
    task_url = f"{server}/api/v1/tasks/{submitted['output']['task_id']}"
    deadline = time.monotonic() + 300
    while True:
        polled = ok(requests.get(task_url, headers=AUTH, timeout=30))
        assert_exact(TaskResponse, polled)  # PENDING, RUNNING and SUCCEEDED alike
        if polled["output"]["task_status"] not in ("PENDING", "RUNNING") or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert polled["output"]["task_status"] == "SUCCEEDED" and polled["usage"]["seconds"] == 10, polled
    result = ok(requests.get(polled["output"]["result"]["transcription_url"], timeout=30))
    assert_exact(ResultDocument, result)
    assert_exact(TaskResponse, ok(requests.get(f"{server}/api/v1/tasks/no-such-task", headers=AUTH, timeout=30)))
    assert_exact(TaskListResponse, ok(requests.get(f"{server}/api/v1/tasks", headers=AUTH, timeout=30)))
    assert_exact(UsageResponse, ok(requests.get(f"{server}/api/v1/usage", headers=AUTH, timeout=30)))


def test_cancel_answer(tmp_path: Path) -> None:
    with live_server(server_settings(tmp_path, workers=0)) as idle:  # no worker: the task stays PENDING
        submit = {"model": "qwen3-asr-flash-filetrans", "input": {"file_url": "https://example.org/a.wav"}}
        headers = {**AUTH, "X-DashScope-Async": "enable"}
        task_id = ok(
            requests.post(f"{idle}/api/v1/services/audio/asr/transcription", json=submit, headers=headers, timeout=30)
        )["output"]["task_id"]
        canceled = ok(requests.post(f"{idle}/api/v1/tasks/{task_id}/cancel", headers=AUTH, timeout=30))
    assert_exact(CancelResponse, canceled)
