"""OpenAI-compatible wire schemas: chat/completions ASR (spec §8) and /audio/transcriptions.

Chat mode serves only the qwen3-asr-flash family (spec §8.1); `asr_options` sits at the top level
because the openai SDK merges `extra_body` there. The transcription endpoint renders the same Transcript
through `postprocess.formats`, so every format is written once for all surfaces.
"""

from __future__ import annotations

import math
import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from openasr.core.errors import InvalidParameterError, ModelNotFoundError
from openasr.core.options import TranscribeOptions, count_audio_tokens, count_context_tokens
from openasr.core.types import Transcript
from openasr.postprocess.formats import render_srt, render_text, render_verbose_json, render_vtt
from openasr.server.annotations import audio_annotations
from openasr.service import LEGACY_MODELS, ModelCatalog


class InputAudio(BaseModel):
    model_config = ConfigDict(extra="allow")
    data: str
    format: str | None = None


class ChatContentItem(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str | None = None
    text: str | None = None
    input_audio: InputAudio | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: str
    content: list[ChatContentItem] | str


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")
    include_usage: bool = False


class ChatAsrOptions(BaseModel):
    model_config = ConfigDict(extra="allow")
    language: str | None = None
    enable_itn: bool = False


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str = Field(min_length=1)
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    asr_options: ChatAsrOptions = Field(default_factory=ChatAsrOptions)


def chat_context(messages: list[ChatMessage]) -> str:
    texts: list[str] = []
    for m in messages:
        if m.role == "system":
            texts += [m.content] if isinstance(m.content, str) else [i.text for i in m.content if i.text]
    return "\n".join(texts)


def chat_to_options(request: ChatRequest, catalog: ModelCatalog) -> tuple[str, TranscribeOptions]:
    if request.model in LEGACY_MODELS:
        raise ModelNotFoundError(f"model {request.model} is not available in compatible mode")
    engine_model = catalog.engine_for_sync(request.model)
    users = [m for m in request.messages if m.role == "user"]
    audios = [
        item.input_audio.data
        for m in users
        if not isinstance(m.content, str)
        for item in m.content
        if item.input_audio is not None
    ]
    if len(users) != 1 or len(audios) != 1:
        raise InvalidParameterError("exactly one user message with one input_audio item is required", param="messages")
    options = TranscribeOptions(
        model=engine_model,
        language=request.asr_options.language or None,
        itn=request.asr_options.enable_itn,
        context=chat_context(request.messages),
        sentences=False,
    ).replace()
    return audios[0], options


def chat_usage(context: str, text: str, duration_s: float) -> dict[str, Any]:
    audio_tokens = count_audio_tokens(duration_s)
    text_tokens = count_context_tokens(context)
    completion = count_context_tokens(text)
    prompt = audio_tokens + text_tokens
    return {
        "prompt_tokens": prompt,
        "prompt_tokens_details": {"audio_tokens": audio_tokens, "text_tokens": text_tokens},
        "completion_tokens": completion,
        "completion_tokens_details": {"text_tokens": completion},
        "total_tokens": prompt + completion,
        "seconds": math.ceil(duration_s),
    }


def chat_to_response(completion_id: str, model: str, transcript: Transcript, context: str) -> dict[str, Any]:
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
        "usage": chat_usage(context, transcript.text, transcript.audio.duration_s),
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


TRANSCRIPTION_FORMATS = ("json", "text", "srt", "vtt", "verbose_json")


def transcription_options(
    catalog: ModelCatalog,
    *,
    model: str,
    language: str | None,
    prompt: str | None,
    response_format: str,
    granularities: list[str],
) -> TranscribeOptions:
    if response_format not in TRANSCRIPTION_FORMATS:
        raise InvalidParameterError(
            f"response_format must be one of {', '.join(TRANSCRIPTION_FORMATS)}", param="response_format"
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
        sentences=response_format in ("srt", "vtt", "verbose_json"),
    ).replace()


def transcription_body(transcript: Transcript, response_format: str) -> tuple[str | dict[str, Any], str]:
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
