"""The service's public model names and which engine model serves each, per surface.

These names are part of the wire (DashScope's qwen3-asr-flash …, OpenAI's whisper-1), so they live with
the surfaces; the use-cases below `server/` only ever see engine model names.
"""

from __future__ import annotations

from dataclasses import dataclass

from openasr.core.errors import InvalidParameterError, ModelNotFoundError
from openasr.engines.weights import BUNDLED

SYNC_MODELS = frozenset(
    {
        "qwen3-asr-flash",
        "qwen3-asr-flash-2025-09-08",
        "qwen3-asr-flash-2026-02-10",
        "qwen3-asr-flash-us",
        "qwen3-asr-flash-2025-09-08-us",
        "qwen-audio-asr",
    }
)
ASYNC_MODEL = "qwen3-asr-flash-filetrans"
"""The file-transcription model clients (the CLI) name by default."""
ASYNC_MODELS = frozenset({ASYNC_MODEL, "qwen3-asr-flash-filetrans-2025-11-17"})
LEGACY_MODELS = frozenset({"qwen-audio-asr"})
REALTIME_MODEL = "qwen3-asr-flash-realtime"
REALTIME_MODELS = frozenset(
    {REALTIME_MODEL, "qwen3-asr-flash-realtime-2025-10-27", "qwen3-asr-flash-realtime-2026-02-10"}
)
"""The realtime (WebSocket) model names; the stable alias points at the 2025-10-27 snapshot."""
OPENAI_ALIASES = frozenset({"whisper-1"})
DIARIZE_MODEL = "gpt-4o-transcribe-diarize"
"""OpenAI's diarizing transcription model: the configured engine with the diarization stage on. Only the
transcription endpoint takes it (OpenAI's chat and translation do not)."""

SURFACES = (
    "chat.completions",
    "audio.transcriptions",
    "audio.translations",
    "dashscope.recognition",
    "dashscope.file_transcription",
)
"""Where a model name is accepted: OpenAI's chat, transcription and translation endpoints (under /v1 and
/compatible-mode/v1), DashScope's sync recognition and its async file transcription."""


@dataclass(frozen=True)
class ModelCatalog:
    """Which public model names exist and which engine model serves each."""

    default_engine_model: str

    def engine_for_sync(self, name: str) -> str:
        if name in SYNC_MODELS:
            return self.default_engine_model
        if name in ASYNC_MODELS:
            raise InvalidParameterError(
                f"model {name} only supports asynchronous calls (X-DashScope-Async: enable)", param="model"
            )
        raise ModelNotFoundError(f"model {name!r} does not exist; use one of {', '.join(sorted(SYNC_MODELS))}")

    def engine_for_async(self, name: str) -> str:
        if name in ASYNC_MODELS:
            return self.default_engine_model
        raise ModelNotFoundError(
            f"model {name!r} does not support file transcription; use {', '.join(sorted(ASYNC_MODELS))}"
        )

    def engine_for_chat(self, name: str) -> str:
        """Chat takes the names the transcription endpoint takes (whisper-1, openasr's model names, the
        sync service names) except the file-transcription ones, which are async only, and the diarizing
        one, whose speaker labels chat has no place for."""
        if name in ASYNC_MODELS:
            return self.engine_for_sync(name)
        if name == DIARIZE_MODEL:
            raise InvalidParameterError(
                f"model {DIARIZE_MODEL} only serves POST /v1/audio/transcriptions", param="model"
            )
        return self.engine_for_openai(name)

    def engine_for_realtime(self, name: str) -> str:
        """The realtime names, and every name the transcription endpoint takes (openasr's own models)."""
        if name in REALTIME_MODELS:
            return self.default_engine_model
        try:
            return self.engine_for_openai(name)
        except ModelNotFoundError:
            raise ModelNotFoundError(
                f"model {name!r} does not exist; use one of {', '.join(sorted(REALTIME_MODELS))}"
            ) from None

    def engine_for(self, name: str) -> str:
        """The engine model behind any public name, whichever surface takes it."""
        return self.engine_for_async(name) if name in ASYNC_MODELS else self.engine_for_openai(name)

    def public_names(self, loaded: list[str]) -> list[str]:
        """The names a client may use: the service's and OpenAI's, then the engine models (the default and
        any loaded so far; other bundled ones load on first use)."""
        engines = [self.default_engine_model, *(m for m in loaded if m != self.default_engine_model)]
        names = [*sorted(OPENAI_ALIASES), DIARIZE_MODEL, *sorted(SYNC_MODELS), *sorted(ASYNC_MODELS)]
        return names + [m for m in engines if m not in names]

    def surfaces(self, name: str, can_translate: bool) -> tuple[str, ...]:
        """Which of `SURFACES` accept `name`; `can_translate` is whether its engine can."""
        if name in ASYNC_MODELS:
            return ("dashscope.file_transcription",)
        if name == DIARIZE_MODEL:
            return ("audio.transcriptions",)
        chat = () if name in LEGACY_MODELS else ("chat.completions",)
        openai = (*chat, "audio.transcriptions", *(("audio.translations",) if can_translate else ()))
        return (*openai, "dashscope.recognition") if name in SYNC_MODELS else openai

    def engine_for_openai(self, name: str) -> str:
        """OpenAI's transcription endpoint also takes openasr's own model names, `whisper-1` and the
        diarizing model (the caller turns diarization on for it: `engine_for_openai` names only the engine)."""
        if name in OPENAI_ALIASES or name in SYNC_MODELS or name == DIARIZE_MODEL:
            return self.default_engine_model
        if name in BUNDLED or name == self.default_engine_model:
            return name
        raise ModelNotFoundError(
            f"model {name!r} does not exist; use whisper-1, {DIARIZE_MODEL}, {', '.join(BUNDLED)} or "
            f"{', '.join(sorted(SYNC_MODELS))}"
        )
