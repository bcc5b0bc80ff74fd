"""Every answer of the OpenAI-compatible surfaces of a real server (loopback, real speech) conforms to
OpenAI's published schema (`openai_schema.yaml`, from openai/openai-openapi): chat completions and their
stream chunks, transcriptions and their stream events, translations, the model list and the errors."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from openai_schema import assert_conforms, schema_errors

from live_server import KEY, live_server, server_settings
from speech_clips import clip

AUTH = {"Authorization": f"Bearer {KEY}"}
BECKETT = clip("beckett").path
MANDARIN = clip("0290").path
PLAIN_B64 = base64.b64encode(BECKETT.read_bytes()).decode()
PREFIXES = ("/v1", "/compatible-mode/v1")


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with live_server(server_settings(tmp_path_factory.mktemp("schema"))) as url:
        yield url


def chat_body(**extra: Any) -> dict[str, Any]:
    audio = {"type": "input_audio", "input_audio": {"data": PLAIN_B64, "format": "wav"}}
    return {"model": "qwen3-asr-flash", "messages": [{"role": "user", "content": [audio]}], **extra}


def sse_data(response: requests.Response) -> list[Any]:
    """The JSON events of a text/event-stream answer (chat's closing `[DONE]` left out)."""
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    lines = [line[6:] for line in response.text.splitlines() if line.startswith("data: ")]
    return [json.loads(line) for line in lines if line != "[DONE]"]


def upload(base: str, path: str, fields: dict[str, Any], audio: Any = BECKETT) -> requests.Response:
    with audio.open("rb") as f:
        return requests.post(f"{base}{path}", headers=AUTH, files={"file": f}, data=fields, timeout=300)


def test_the_schema_check_catches_drift() -> None:
    """The check is not vacuous: the answers openasr gave before OpenAI's fields were added fail it."""
    segment = {"id": 0, "seek": 0, "start": 0.0, "end": 1.0, "text": "hi"}
    verbose = {"task": "transcribe", "language": "english", "duration": 1.0, "text": "hi", "segments": [segment]}
    assert any("tokens" in e for e in schema_errors("CreateTranscriptionResponseVerboseJson", verbose))
    chunk = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": []}
    late = {**chunk, "choices": [{"index": 0, "delta": {"role": None, "content": "x"}, "finish_reason": None}]}
    assert schema_errors("CreateChatCompletionStreamResponse", late)


@pytest.mark.parametrize("prefix", PREFIXES)
def test_chat_completion_and_its_stream_conform(base: str, prefix: str) -> None:
    url = f"{base}{prefix}/chat/completions"
    completion = requests.post(url, json=chat_body(), headers=AUTH, timeout=300)
    assert completion.status_code == 200, completion.text
    assert_conforms("CreateChatCompletionResponse", completion.json())
    streamed = requests.post(
        url, json=chat_body(stream=True, stream_options={"include_usage": True}), headers=AUTH, timeout=300
    )
    chunks = sse_data(streamed)
    assert len(chunks) >= 3, streamed.text
    for chunk in chunks:
        assert_conforms("CreateChatCompletionStreamResponse", chunk)


@pytest.mark.parametrize("prefix", PREFIXES)
def test_transcription_answers_and_events_conform(base: str, prefix: str) -> None:
    path = f"{prefix}/audio/transcriptions"
    plain = upload(base, path, {"model": "whisper-1"})
    assert plain.status_code == 200, plain.text
    assert_conforms("CreateTranscriptionResponseJson", plain.json())
    fields = {"model": "whisper-1", "response_format": "verbose_json", "timestamp_granularities[]": ["word", "segment"]}
    verbose = upload(base, path, fields)
    assert verbose.status_code == 200, verbose.text
    assert_conforms("CreateTranscriptionResponseVerboseJson", verbose.json())
    events = sse_data(upload(base, path, {"model": "whisper-1", "stream": "true"}))
    assert [e["type"] for e in events][-1] == "transcript.text.done"
    for event in events:
        name = "TranscriptTextDeltaEvent" if event["type"] == "transcript.text.delta" else "TranscriptTextDoneEvent"
        assert_conforms(name, event)


@pytest.mark.parametrize("prefix", PREFIXES)
def test_translation_answers_conform(base: str, prefix: str) -> None:
    path = f"{prefix}/audio/translations"
    plain = upload(base, path, {"model": "whisper-1"}, MANDARIN)
    assert plain.status_code == 200, plain.text
    assert_conforms("CreateTranslationResponseJson", plain.json())
    verbose = upload(base, path, {"model": "whisper-1", "response_format": "verbose_json"}, MANDARIN)
    assert verbose.status_code == 200, verbose.text
    assert_conforms("CreateTranslationResponseVerboseJson", verbose.json())


@pytest.mark.parametrize("prefix", PREFIXES)
def test_the_model_list_conforms(base: str, prefix: str) -> None:
    listed = requests.get(f"{base}{prefix}/models", headers=AUTH, timeout=30)
    assert listed.status_code == 200, listed.text
    assert_conforms("ListModelsResponse", listed.json())


def test_errors_conform(base: str) -> None:
    refusals = [
        upload(base, "/v1/audio/transcriptions", {}),  # no model
        upload(base, "/v1/audio/transcriptions", {"model": "gpt-4o"}),
        upload(base, "/v1/audio/translations", {"model": "whisper-tiny.en"}, MANDARIN),
        upload(base, "/v1/audio/translations", {"model": "whisper-1", "response_format": "docx"}),
        requests.post(f"{base}/v1/chat/completions", json=chat_body(model=None), headers=AUTH, timeout=30),
        requests.post(
            f"{base}/v1/chat/completions",
            json={**chat_body(), "messages": [{"role": "user", "content": [{"input_audio": {"data": "@@@"}}]}]},
            headers=AUTH,
            timeout=30,
        ),
        requests.get(f"{base}/v1/models", headers={"Authorization": "Bearer sk-wrong"}, timeout=30),
    ]
    assert [r.status_code for r in refusals] == [400, 404, 400, 400, 400, 400, 401]
    for refusal in refusals:
        assert_conforms("ErrorResponse", refusal.json())
