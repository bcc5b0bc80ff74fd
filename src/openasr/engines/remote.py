"""An ASR server as an engine: `vllm serve Qwen/Qwen3-ASR-1.7B`, or another openasr.

Two far sides, chosen by `api` (`OPENASR_ENGINE_API`), never by trying one and failing:
- `chat` (the default, for vLLM): `POST {url}/v1/chat/completions` with the context as the system
  message, the chunk as a base64 WAV `audio_url` part and a forced language as an assistant prefill
  (`remote_chat`); the model's raw answer is read by the in-process engine's parser, so the language
  reported is the one the model wrote in its header.
- `transcriptions` (for another openasr): `POST {url}/v1/audio/transcriptions` as a 16-bit WAV with the
  context as `prompt`, a forced language as `language` and `verbose_json`, which openasr serves in full.

The far side batches (vLLM's continuous batching on a GPU), openasr adds its service around it (DashScope
API, durable tasks, subtitles). At most `concurrency` chunks are in flight. A 429, a 5xx or a connection
failure is retried with exponential backoff; when the retries run out the chunk fails with
`EngineUnavailableError` (a 503 to a sync caller; a task goes back to PENDING and resumes from its
checkpoints), never a hung request: every call has a timeout.
"""

from __future__ import annotations

import io
import logging
import threading
import time
import wave
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import httpx
import numpy as np

from openasr.core.errors import EngineUnavailableError, InvalidParameterError, ModelUnavailableError
from openasr.core.options import MAX_CONTEXT_TOKENS
from openasr.engines.backend import ModelStatus, capability_labels
from openasr.engines.base import Engine, EngineCapabilities, Recognition, RecognitionItem, RecognizedSegment
from openasr.engines.qwen3_budget import max_new_tokens
from openasr.engines.qwen3_languages import CODE_TO_NAME, language_code, parse_output
from openasr.engines.remote_chat import chat_answer, chat_request

log = logging.getLogger(__name__)

SAMPLE_RATE_HZ = 16_000
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RemoteConfig:
    """Where the far side is and how hard to try (see `Settings.engine_*`)."""

    url: str
    model: str
    api_key: str | None = None
    timeout_s: float = 120.0
    concurrency: int = 8
    retries: int = 4
    backoff_s: float = 0.5
    api: str = "chat"
    """`chat` (vLLM's chat completions) or `transcriptions` (another openasr's OpenAI endpoint)."""
    served_as: str | None = None
    """The model name whose chunks go to the far side (the default model); None: `model`."""


def remote_capabilities(config: RemoteConfig) -> EngineCapabilities:
    """What a remote engine offers, declared once (for the engine and for `openasr models`): text only,
    so no word timestamps, and the far side's Qwen3-ASR languages and context."""
    return EngineCapabilities(
        languages=frozenset(CODE_TO_NAME),
        language_id=True,
        word_timestamps=False,
        context_biasing=True,
        emotion=False,
        max_chunk_s=30.0,
        max_prompt_tokens=MAX_CONTEXT_TOKENS,
        concurrent_calls=max(1, config.concurrency // 4),
        why_not={
            "word_timestamps": "the remote engine returns text only",
            "emotion": "no emotion classifier for a remote engine",
            "translation": "the remote engine only transcribes",
        },
        notes=(
            f"recognition by {config.url} (model {config.model}, {config.api} API); sentence times are the VAD chunks'",
        ),
    )


class RemoteBackend:
    """The configured remote server, for the one model name it serves as."""

    name: ClassVar[str] = "remote"
    config_type: ClassVar[type] = RemoteConfig
    holds_weights: ClassVar[bool] = False
    needs_config: ClassVar[bool] = True

    def __init__(self, config: RemoteConfig) -> None:
        self._config = config

    def recognises(self, model: str) -> bool:
        return model == (self._config.served_as or self._config.model)

    def load(self, model: str, cache_dir: Path) -> Engine:
        return RemoteEngine(model, self._config)

    def status(self, model: str, cache_dir: Path, emotion_model: str | None = None) -> ModelStatus:
        """The far side is not contacted."""
        config = self._config
        on, off = capability_labels(remote_capabilities(config), emotion_model)
        languages = f"as {config.model} at {config.url} (Qwen3-ASR: 30 languages)"
        return ModelStatus(model, "remote", 0, languages, on, off)


class RemoteEngine:
    """Chunks recognised by a remote OpenAI-compatible transcription endpoint."""

    def __init__(self, name: str, config: RemoteConfig, *, client: httpx.Client | None = None) -> None:
        self.name = name
        self._config = config
        headers = {"Authorization": f"Bearer {config.api_key}"} if config.api_key else {}
        self._client = client or httpx.Client(
            base_url=config.url.rstrip("/"),
            headers=headers,
            timeout=httpx.Timeout(config.timeout_s, connect=min(10.0, config.timeout_s)),
            limits=httpx.Limits(max_connections=config.concurrency),
        )
        self._slots = threading.BoundedSemaphore(max(1, config.concurrency))
        self._pool = ThreadPoolExecutor(max_workers=max(1, config.concurrency), thread_name_prefix="remote-asr")
        self.capabilities = remote_capabilities(config)

    def recognize(self, items: Sequence[RecognitionItem]) -> list[Recognition]:
        """All items of the batch in flight at once (within `concurrency`); results in order."""
        for item in items:
            if item.request.language is not None and item.request.language not in CODE_TO_NAME:
                raise InvalidParameterError(
                    f"model {self.name} cannot transcribe language {item.request.language!r}", param="language"
                )
        return list(self._pool.map(self._recognize_one, items))

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._client.close()

    def _recognize_one(self, item: RecognitionItem) -> Recognition:
        raw, reported, truncated = self._ask(item)
        parsed = parse_output(raw, item.request.language)
        language = parsed.language or _code(reported) or item.request.language or "en"
        if truncated:
            log.warning(
                "remote engine %s: a %.1f s chunk was cut at its token budget", self._config.url, _seconds(item)
            )
        if not parsed.text:
            return Recognition((), language, None, truncated)
        if item.speech:
            start_s, end_s = item.speech[0][0], item.speech[-1][1]
        else:
            start_s, end_s = 0.0, _seconds(item)
        return Recognition((RecognizedSegment(start_s, end_s, parsed.text),), language, None, truncated)

    def _ask(self, item: RecognitionItem) -> tuple[str, object, bool]:
        """The far side's raw text, the language it reports apart from the text, and whether it was cut."""
        wav = wav_bytes(item.samples)
        if self._config.api == "chat":
            budget = max_new_tokens(_seconds(item))
            body = chat_request(self._config.model, wav, item.request.prompt, item.request.language, budget)
            raw, truncated = chat_answer(self._post("/v1/chat/completions", json=body))
            return raw, None, truncated
        data = {"model": self._config.model, "response_format": "verbose_json", "temperature": "0"}
        if item.request.language:
            data["language"] = item.request.language
        if item.request.prompt:
            data["prompt"] = item.request.prompt
        files = {"file": ("chunk.wav", wav, "audio/wav")}
        answer = self._post("/v1/audio/transcriptions", data=data, files=files)
        return str(answer.get("text") or ""), answer.get("language"), False

    def _post(self, path: str, **content: Any) -> dict[str, Any]:
        last = ""
        for attempt in range(self._config.retries + 1):
            if attempt:
                time.sleep(self._config.backoff_s * 2 ** (attempt - 1))
            try:
                with self._slots:
                    response = self._client.post(path, **content)
            except httpx.HTTPError as exc:  # refused, reset, timed out: the far side may come back
                last = f"{type(exc).__name__}: {exc}"
                continue
            if response.status_code in _RETRY_STATUSES:
                last = f"HTTP {response.status_code}"
                continue
            if response.status_code >= 400:
                refused = f"the remote engine at {self._config.url} refused the chunk: HTTP {response.status_code}"
                detail = f"{refused} {response.text[:300]}"
                if response.status_code == 400:
                    raise InvalidParameterError(detail)
                raise ModelUnavailableError(detail)  # a wrong key, model name or path: configuration
            return dict(response.json())
        log.warning("remote engine %s unavailable after %d tries: %s", self._config.url, self._config.retries + 1, last)
        raise EngineUnavailableError(f"the remote engine at {self._config.url} is unavailable ({last}); retry later")


def _seconds(item: RecognitionItem) -> float:
    return len(item.samples) / SAMPLE_RATE_HZ


def _code(language: object) -> str | None:
    """The far side's language as a service code: vLLM answers a code or a name ("english")."""
    if not isinstance(language, str) or not language:
        return None
    return language if language in CODE_TO_NAME else language_code(language)


def wav_bytes(samples: np.ndarray) -> bytes:
    """16 kHz mono 16-bit PCM WAV: what every transcription server decodes."""
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2").tobytes()
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE_HZ)
        w.writeframes(pcm)
    return out.getvalue()
