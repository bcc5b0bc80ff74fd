"""OpenAI-compatible wire schemas: chat/completions ASR (spec §8) and /audio/transcriptions.

Chat mode serves only the qwen3-asr-flash family (spec §8.1); `asr_options` sits at the top level
because the openai SDK merges `extra_body` there. The transcription endpoint renders the same Transcript
through `postprocess.formats`, so every format is written once for all surfaces.
"""

from __future__ import annotations

import math
import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from openasr.core.errors import InvalidParameterError, ModelNotFoundError
from openasr.core.options import TokenCounter, TranscribeOptions, count_audio_tokens, count_context_tokens
from openasr.core.types import Transcript
from openasr.postprocess.formats import (
    FORMATS,
    TIMED_FORMATS,
    render_srt,
    render_text,
    render_verbose_json,
    render_vtt,
)
from openasr.server.annotations import AudioInfoAnnotation, audio_annotations
from openasr.server.models import LEGACY_MODELS, ModelCatalog


class InputAudio(BaseModel):
    model_config = ConfigDict(extra="allow")
    data: str
    format: str | None = None


class AudioUrl(BaseModel):
    """vLLM's form of an audio part (`{"type": "audio_url", "audio_url": {"url": …}}`): an http(s) URL or
    a data URI, so openasr and a vLLM server can stand in for each other."""

    model_config = ConfigDict(extra="allow")
    url: str


class ChatContentItem(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str | None = None
    text: str | None = None
    input_audio: InputAudio | None = None
    audio_url: AudioUrl | None = None

    @property
    def audio(self) -> str | None:
        if self.input_audio is not None:
            return self.input_audio.data
        return self.audio_url.url if self.audio_url is not None else None


class ChatMessage(BaseModel):
    """`content` may be absent or null for a system message: an empty context."""

    model_config = ConfigDict(extra="allow")
    role: str
    content: list[ChatContentItem] | str | None = None


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")
    include_usage: StrictBool = False


class ChatAsrOptions(BaseModel):
    model_config = ConfigDict(extra="allow")
    language: str | None = None
    enable_itn: StrictBool = False


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str = Field(min_length=1)
    messages: list[ChatMessage] = Field(min_length=1)
    stream: StrictBool = False
    stream_options: StreamOptions | None = None
    asr_options: ChatAsrOptions = Field(default_factory=ChatAsrOptions)


# ------------------------------------------------------------------------------------------ answers
# Exact models of what the converters below write (extra keys forbidden): the routes document them as
# their 200 answers, and the converter tests validate every shape against them.


class _Exact(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ChatAnswer(_Exact):
    role: Literal["assistant"]
    content: str
    annotations: list[AudioInfoAnnotation]


class ChatChoice(_Exact):
    index: int
    finish_reason: Literal["stop"]
    message: ChatAnswer


class PromptTokenDetails(_Exact):
    audio_tokens: int
    text_tokens: int


class CompletionTokenDetails(_Exact):
    text_tokens: int


class ChatUsage(_Exact):
    prompt_tokens: int
    prompt_tokens_details: PromptTokenDetails
    completion_tokens: int
    completion_tokens_details: CompletionTokenDetails
    total_tokens: int
    seconds: int = Field(description="billed audio seconds (rounded up)")


class ChatCompletion(_Exact):
    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[ChatChoice]
    usage: ChatUsage


class DurationUsage(_Exact):
    type: Literal["duration"]
    seconds: int


class Transcription(_Exact):
    """`response_format=json`."""

    text: str
    usage: DurationUsage


class Segment(_Exact):
    id: int
    seek: int
    start: float
    end: float
    text: str


class WordTiming(_Exact):
    word: str
    start: float
    end: float


class VerboseTranscription(_Exact):
    """`response_format=verbose_json` (`postprocess.formats.render_verbose_json`)."""

    task: str
    language: str
    duration: float
    text: str
    segments: list[Segment]
    words: list[WordTiming] | None = Field(default=None, description="with timestamp_granularities[]=word")


_EVENTS = {"text/event-stream": {"schema": {"type": "string"}}}
CHAT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "model": ChatCompletion,
        "description": "the transcript; with `stream: true`, a text/event-stream of chat.completion.chunk objects",
        "content": _EVENTS,
    }
}
TRANSCRIPTION_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "model": Transcription | VerboseTranscription,
        "description": "json or verbose_json; text and srt as text/plain, vtt as text/vtt; with stream=true, "
        "a text/event-stream of transcript.text.delta events ending with transcript.text.done",
        "content": {
            "text/plain": {"schema": {"type": "string"}},
            "text/vtt": {"schema": {"type": "string"}},
            **_EVENTS,
        },
    }
}


def chat_context(messages: list[ChatMessage]) -> str:
    texts: list[str] = []
    for m in messages:
        if m.role == "system" and m.content is not None:
            texts += [m.content] if isinstance(m.content, str) else [i.text for i in m.content if i.text]
    return "\n".join(texts)


def chat_to_options(request: ChatRequest, catalog: ModelCatalog) -> tuple[str, TranscribeOptions]:
    if request.model in LEGACY_MODELS:
        raise ModelNotFoundError(f"model {request.model} is not available in compatible mode")
    engine_model = catalog.engine_for_sync(request.model)
    users = [m for m in request.messages if m.role == "user"]
    audios = [
        item.audio for m in users if isinstance(m.content, list) for item in m.content if item.audio is not None
    ]
    if len(users) != 1 or len(audios) != 1:
        raise InvalidParameterError(
            "exactly one user message with one input_audio (or audio_url) item is required", param="messages"
        )
    options = TranscribeOptions(
        model=engine_model,
        language=request.asr_options.language or None,
        itn=request.asr_options.enable_itn,
        context=chat_context(request.messages),
        sentences=False,
    )
    return audios[0], options


def chat_usage(
    context: str, text: str, duration_s: float, count: TokenCounter = count_context_tokens
) -> dict[str, Any]:
    audio_tokens = count_audio_tokens(duration_s)
    text_tokens = count(context)
    completion = count(text)
    prompt = audio_tokens + text_tokens
    return {
        "prompt_tokens": prompt,
        "prompt_tokens_details": {"audio_tokens": audio_tokens, "text_tokens": text_tokens},
        "completion_tokens": completion,
        "completion_tokens_details": {"text_tokens": completion},
        "total_tokens": prompt + completion,
        "seconds": math.ceil(duration_s),
    }


def chat_to_response(
    completion_id: str, model: str, transcript: Transcript, context: str, count: TokenCounter = count_context_tokens
) -> dict[str, Any]:
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {
                    "role": "assistant",
                    "content": transcript.text,
                    "annotations": audio_annotations(transcript.language, transcript.emotion),
                },
            }
        ],
        "usage": chat_usage(context, transcript.text, transcript.audio.duration_s, count),
    }


def chat_chunk(
    completion_id: str,
    model: str,
    *,
    delta: dict[str, Any] | None = None,
    finish_reason: str | None = None,
    usage: dict[str, Any] | None = None,
) -> dict[str, Any]:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish_reason}]
    return {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": choices,
        "usage": usage,
    }


STREAMED_FORMATS = ("json", "text")
"""OpenAI streams transcriptions as text events only; subtitles and verbose_json need the whole file."""


def strict_flag(value: str | None, param: str) -> bool:
    """A form field's boolean: only `true` or `false` (multipart carries text, so no JSON booleans)."""
    if value is None or value.strip().lower() == "false":
        return False
    if value.strip().lower() == "true":
        return True
    raise InvalidParameterError(f"{param} must be true or false, not {value!r}", param=param)


def transcript_delta_event(delta: str) -> dict[str, Any]:
    return {"type": "transcript.text.delta", "delta": delta}


def transcript_done_event(
    text: str, context: str, duration_s: float, count: TokenCounter = count_context_tokens
) -> dict[str, Any]:
    """The last event of a streamed transcription, with its usage in OpenAI's token shape."""
    audio_tokens = count_audio_tokens(duration_s)
    text_tokens = count(context)
    output = count(text)
    usage = {
        "type": "tokens",
        "input_tokens": audio_tokens + text_tokens,
        "input_token_details": {"audio_tokens": audio_tokens, "text_tokens": text_tokens},
        "output_tokens": output,
        "total_tokens": audio_tokens + text_tokens + output,
    }
    return {"type": "transcript.text.done", "text": text, "usage": usage}


def transcription_to_options(
    catalog: ModelCatalog,
    *,
    model: str,
    language: str | None,
    prompt: str | None,
    response_format: str,
    granularities: list[str],
    temperature: float | None = None,
    stream: bool = False,
) -> TranscribeOptions:
    """`temperature` is checked, not applied: decoding is deterministic beam search, which is what
    temperature 0 asks for (a resumed task must give the identical text), and `verbose_json` says 0.0."""
    if temperature is not None and not 0.0 <= temperature <= 1.0:
        raise InvalidParameterError("temperature must be between 0 and 1", param="temperature")
    if stream and response_format not in STREAMED_FORMATS:
        raise InvalidParameterError(
            f"stream=true answers text events; response_format must be {' or '.join(STREAMED_FORMATS)}",
            param="response_format",
        )
    if response_format not in FORMATS:
        raise InvalidParameterError(
            f"response_format must be one of {', '.join(FORMATS)}", param="response_format"
        )
    unknown = set(granularities) - {"word", "segment"}
    if unknown:
        raise InvalidParameterError(
            f"unknown timestamp granularity {sorted(unknown)[0]!r}", param="timestamp_granularities[]"
        )
    if granularities and response_format != "verbose_json":
        raise InvalidParameterError(
            "timestamp_granularities needs response_format verbose_json", param="timestamp_granularities[]"
        )
    return TranscribeOptions(
        model=catalog.engine_for_openai(model),
        language=language or None,
        context=prompt or "",
        words="word" in granularities,
        sentences=response_format in TIMED_FORMATS,
    )


def transcription_to_response(transcript: Transcript, response_format: str) -> tuple[str | dict[str, Any], str]:
    """The body and its content type, as OpenAI answers each format."""
    if response_format == "json":
        usage = {"type": "duration", "seconds": math.ceil(transcript.audio.duration_s)}
        return {"text": transcript.text, "usage": usage}, "application/json"
    if response_format == "verbose_json":
        return render_verbose_json(transcript), "application/json"
    if response_format == "srt":
        return render_srt(transcript), "text/plain; charset=utf-8"
    if response_format == "vtt":
        return render_vtt(transcript), "text/vtt; charset=utf-8"
    return render_text(transcript) + "\n", "text/plain; charset=utf-8"
