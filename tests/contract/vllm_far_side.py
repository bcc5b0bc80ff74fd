"""A far side on loopback that answers as `vllm serve Qwen/Qwen3-ASR-1.7B` does, with a real recogniser
(the bundled Whisper engine) in place of the model, so the text is recognised speech, not a canned answer.

What it copies from vLLM (vllm-project/vllm, commit 01ed47b):
- `POST /v1/audio/transcriptions`: `verbose_json` is refused with a 400, because
  `Qwen3ASRForConditionalGeneration` (`vllm/model_executor/models/qwen3_asr.py`) does not set
  `supports_segment_timestamp` and the speech-to-text serving code refuses timestamps without it;
  `get_generation_prompt` reads `to_language` (the request's `language` is ignored, vllm#33768) and builds
  `<|im_start|>user\\n<audio><|im_end|>\\n<|im_start|>assistant\\n` with no system turn, so `prompt` is
  dropped; `post_process_output` returns only the text after the last `<asr_text>`; a `json` answer is
  `{"text", "usage"}` with no language at all (the speech-to-text serving code's non-verbose response).
- `POST /v1/chat/completions`: the chat template renders the system message (the context) and the
  audio; with `continue_final_message` and `add_generation_prompt: false` the last assistant message is
  continued, so a `language X<asr_text>` prefill forces the language and the answer holds only the
  text; without one the answer is the model's raw output, `language <Name><asr_text><text>`.
- `GET /v1/models` lists the served model, `owned_by: "vllm"`.

The model's output is stood in for by Whisper's: its detected (or forced) language named as Qwen3-ASR
names it, then its text, with the context passed as Whisper's prompt. Every chat request is kept in
`requests` for the tests to inspect.
"""

from __future__ import annotations

import base64
import io
import math
import threading
import time
import wave
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import requests as http
import uvicorn
from fastapi import FastAPI, Form, Request, UploadFile
from fastapi.responses import JSONResponse

from live_server import free_port
from openasr.engines.base import RecognitionItem, RecognitionRequest
from openasr.engines.qwen3_languages import CODE_TO_NAME, language_code

_MARKER = "<asr_text>"


class VllmLike:
    """The recogniser behind the far side, and what the far side was asked and answered."""

    def __init__(self, recogniser: Any, model: str) -> None:
        self.recogniser = recogniser
        self.model = model
        self.requests: list[dict[str, Any]] = []
        self.answers: list[str] = []

    def transcribe(self, samples: np.ndarray, language: str | None, context: str) -> tuple[str, str]:
        """(language name as the model writes it, text) for one chunk."""
        item = RecognitionItem(samples, RecognitionRequest(language, context))
        result = self.recogniser.recognize([item])[0]
        text = "".join(s.text for s in result.segments).strip()
        return CODE_TO_NAME.get(result.language, "None"), text

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/v1/models")
        def models() -> dict[str, Any]:
            return {"object": "list", "data": [{"id": self.model, "object": "model", "owned_by": "vllm"}]}

        @app.post("/v1/audio/transcriptions")
        def transcriptions(
            file: UploadFile,
            model: str = Form(""),
            response_format: str = Form("json"),
            to_language: str | None = Form(None),
        ) -> Any:
            if response_format == "verbose_json":
                refusal = f"Currently do not support verbose_json for {model}"
                return JSONResponse({"error": {"message": refusal}}, 400)
            forced = language_code(to_language) if to_language else None  # `language` is not read
            samples = _samples(file.file.read())
            name, text = self.transcribe(samples, forced, "")  # no system turn
            raw = f"language {name}{_MARKER}{text}" if forced is None else text
            usage = {"type": "duration", "seconds": math.ceil(len(samples) / 16_000)}
            return {"text": raw.rsplit(_MARKER, 1)[-1], "usage": usage}

        @app.post("/v1/chat/completions")
        async def chat(request: Request) -> Any:
            body = await request.json()
            self.requests.append(body)
            return self.complete(body)

        return app

    def complete(self, body: dict[str, Any]) -> dict[str, Any]:
        messages = body["messages"]
        context = " ".join(m["content"] for m in messages if m["role"] == "system")
        audio = next(p for m in messages if m["role"] == "user" for p in m["content"] if p["type"] == "audio_url")
        prefix, data = audio["audio_url"]["url"].split(",", 1)
        assert prefix.startswith("data:audio/") and prefix.endswith(";base64"), prefix
        prefill = messages[-1]["content"] if body.get("continue_final_message") else ""
        forced = prefill.removeprefix("language ").removesuffix(_MARKER) if prefill else None
        name, text = self.transcribe(
            _samples(base64.b64decode(data)), language_code(forced) if forced else None, context
        )
        answer = text if forced else f"language {name}{_MARKER}{text}"
        self.answers.append(answer)
        message = {"role": "assistant", "content": answer}
        return {
            "object": "chat.completion",
            "model": self.model,
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        }


def _samples(wav: bytes) -> np.ndarray:
    with wave.open(io.BytesIO(wav)) as w:
        assert w.getframerate() == 16_000 and w.getnchannels() == 1
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    return pcm.astype(np.float32) / 32768.0


@contextmanager
def vllm_far_side(side: VllmLike) -> Iterator[str]:
    """Serve `side` on a free loopback port; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(side.app(), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if http.get(f"{base}/v1/models", timeout=2).status_code == 200:
                break
        except http.ConnectionError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("the vLLM-like far side did not start")
        time.sleep(0.05)
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=10)
