"""One request per surface that carries a recognition context, for the context-limit tests (spec §11):
the context's length is the engine's to count, so each server's test sends these with its own model."""

from __future__ import annotations

import base64
from pathlib import Path

import requests

from live_server import KEY

CLIP = Path(__file__).resolve().parents[1] / "data" / "en" / "beckett.wav"
AUTH = {"Authorization": f"Bearer {KEY}"}
TOO_LONG = "context is longer than 10000 tokens"


def with_context(base: str, context: str) -> dict[str, requests.Response]:
    """Each surface's answer to a request with `context` (the async submit only queues, it fetches nothing)."""
    audio = "data:audio/wav;base64," + base64.b64encode(CLIP.read_bytes()).decode()
    messages = [
        {"role": "system", "content": [{"text": context}]},
        {"role": "user", "content": [{"audio": audio}]},
    ]
    sync = {"model": "qwen3-asr-flash", "input": {"messages": messages}}
    task = {
        "model": "qwen3-asr-flash-filetrans",
        "input": {"file_url": "https://example.org/a.wav"},
        "parameters": {"text": context},
    }
    chat = {
        "model": "qwen3-asr-flash",
        "messages": [
            {"role": "system", "content": context},
            {"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": audio, "format": "wav"}}]},
        ],
    }
    generation = f"{base}/api/v1/services/aigc/multimodal-generation/generation"
    with CLIP.open("rb") as f:
        wav = f.read()
    form = {"model": "whisper-1", "prompt": context}
    return {
        "dashscope": requests.post(generation, json=sync, headers=AUTH, timeout=120),
        "dashscope-sse": requests.post(
            generation, json=sync, headers=AUTH | {"X-DashScope-SSE": "enable"}, timeout=120
        ),
        "task-submit": requests.post(
            f"{base}/api/v1/services/audio/asr/transcription",
            json=task,
            headers=AUTH | {"X-DashScope-Async": "enable"},
            timeout=30,
        ),
        "openai-chat": requests.post(
            f"{base}/compatible-mode/v1/chat/completions", json=chat, headers=AUTH, timeout=120
        ),
        "openai-transcription": requests.post(
            f"{base}/v1/audio/transcriptions", data=form, files={"file": ("a.wav", wav)}, headers=AUTH, timeout=120
        ),
        "openai-stream": requests.post(
            f"{base}/v1/audio/transcriptions",
            data=form | {"stream": "true"},
            files={"file": ("a.wav", wav)},
            headers=AUTH,
            timeout=120,
        ),
    }


def refused_naming_the_context(response: requests.Response) -> bool:
    """A 400 in the surface's own error format that names the context and the limit."""
    if response.status_code != 400:
        return False
    answer = response.json()
    error = answer.get("error")
    if error is not None:  # OpenAI
        return bool(error["param"] == "context" and TOO_LONG in error["message"])
    return bool(answer["code"] == "InvalidParameter" and TOO_LONG in answer["message"])
