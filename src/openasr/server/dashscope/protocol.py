"""DashScope native wire schemas (spec §4, §5) and their two converters.

`to_options` reads a sync generation request into an audio reference and `TranscribeOptions`, refusing
what cannot be honoured with the parameter named; `to_response` renders a transcript (or a streamed step)
in the native shape. `annotations[].emotion` is there only when an emotion classifier is active and has
classified the audio: otherwise an absent key, never a constant "neutral" (see README, "Emotion").
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from openasr.core.billing import Charge, charge
from openasr.core.errors import InvalidParameterError
from openasr.core.options import TokenCounter, TranscribeOptions, count_context_tokens
from openasr.server.annotations import AudioInfoAnnotation, audio_annotations
from openasr.server.models import LEGACY_MODELS, ModelCatalog


class ContentItem(BaseModel):
    model_config = ConfigDict(extra="allow")
    text: str | None = None
    audio: str | None = None


class Message(BaseModel):
    """`content` may be absent or null: the Java SDK sends `{"role": "system"}` for an empty system
    message, which is an empty context."""

    model_config = ConfigDict(extra="allow")
    role: str
    content: list[ContentItem] | str | None = None


class GenerationInput(BaseModel):
    model_config = ConfigDict(extra="allow")
    messages: list[Message] = Field(min_length=1)


class AsrOptions(BaseModel):
    """`enable_lid` appears in one doc sample only; accepted and ignored (language is always detected)."""

    model_config = ConfigDict(extra="allow")
    language: str | None = None
    enable_itn: StrictBool = False
    enable_lid: StrictBool | None = None


class GenerationParameters(BaseModel):
    """Unknown parameters (temperature, result_format …) are accepted and ignored (spec §4.2)."""

    model_config = ConfigDict(extra="allow")
    asr_options: AsrOptions = Field(default_factory=AsrOptions)
    incremental_output: StrictBool | None = None
    result_format: str | None = None


class GenerationRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str = Field(min_length=1)
    input: GenerationInput
    parameters: GenerationParameters = Field(default_factory=GenerationParameters)


# ------------------------------------------------------------------------------------------ answers
# Exact models of what `to_response` writes (extra keys forbidden): the route documents them as its
# 200 answer, and the converter tests validate every shape against them.


class _Exact(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TextContent(_Exact):
    text: str


class AssistantMessage(_Exact):
    role: Literal["assistant"]
    content: list[TextContent]
    annotations: list[AudioInfoAnnotation]


class Choice(_Exact):
    finish_reason: str = Field(description='"stop", or "null" on a stream\'s intermediate events')
    message: AssistantMessage


class GenerationOutput(_Exact):
    choices: list[Choice]


class TokenDetails(_Exact):
    text_tokens: int


class GenerationUsage(_Exact):
    input_tokens_details: TokenDetails
    output_tokens_details: TokenDetails
    seconds: int


class GenerationResponse(_Exact):
    """E1's answer (and each SSE event's data) for the qwen3-asr-flash family."""

    request_id: str
    output: GenerationOutput
    usage: GenerationUsage


class LegacyMessage(_Exact):
    role: Literal["assistant"]
    content: list[TextContent]


class LegacyChoice(_Exact):
    finish_reason: str
    message: LegacyMessage


class LegacyOutput(_Exact):
    text: None
    finish_reason: None
    choices: list[LegacyChoice]


class LegacyUsage(_Exact):
    input_tokens: int
    output_tokens: int
    audio_tokens: int


class LegacyGenerationResponse(_Exact):
    """E1's answer for qwen-audio-asr, in that model's older shape."""

    status_code: int
    request_id: str
    code: str
    message: str
    output: LegacyOutput
    usage: LegacyUsage


GENERATION_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "model": GenerationResponse | LegacyGenerationResponse,
        "description": "the transcript; with `X-DashScope-SSE: enable`, a text/event-stream of such objects",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }
}


def context_of(messages: list[Message]) -> str:
    """System messages carry context-biasing text, not a role prompt (spec §4.2)."""
    texts = []
    for m in messages:
        if m.role != "system":
            continue
        if isinstance(m.content, str):
            texts.append(m.content)
        elif m.content is not None:
            texts.extend(item.text for item in m.content if item.text)
    return "\n".join(texts)


def audio_of(messages: list[Message]) -> str:
    users = [m for m in messages if m.role == "user"]
    if len(users) != 1:
        raise InvalidParameterError("exactly one user message is required", param="input.messages")
    content = users[0].content or []
    audios = [content] if isinstance(content, str) else [i.audio for i in content if i.audio]
    if len(audios) != 1 or not audios[0]:
        raise InvalidParameterError("the user message must hold exactly one audio item", param="input.messages")
    return audios[0]


def to_options(request: GenerationRequest, catalog: ModelCatalog) -> tuple[str, TranscribeOptions]:
    engine_model = catalog.engine_for_sync(request.model)
    asr = request.parameters.asr_options
    legacy = request.model in LEGACY_MODELS
    options = TranscribeOptions(
        model=engine_model,
        language=asr.language or None,
        itn=asr.enable_itn,
        context="" if legacy else context_of(request.input.messages),
        sentences=False,
    )
    return audio_of(request.input.messages), options


def native_usage(billed: Charge) -> dict[str, Any]:
    """The usage of the qwen3-asr models' answers (spec §4): text tokens and billed seconds."""
    return {
        "input_tokens_details": {"text_tokens": billed.context_tokens},
        "output_tokens_details": {"text_tokens": billed.output_tokens},
        "seconds": billed.seconds,
    }


def legacy_usage(billed: Charge) -> dict[str, Any]:
    """The usage of the legacy qwen-audio-asr answers: tokens, the audio's included."""
    return {
        "input_tokens": billed.input_tokens,
        "output_tokens": billed.output_tokens,
        "audio_tokens": billed.audio_tokens,
    }


def to_response(
    *,
    request_id: str,
    model: str,
    text: str,
    language: str,
    context: str,
    duration_s: float,
    finish_reason: str = "stop",
    count: TokenCounter = count_context_tokens,
    billed_text: str | None = None,
    emotion: str | None = None,
) -> dict[str, Any]:
    """One native response or stream event; `text` is the whole text, or a delta when streaming.

    Usage always counts the whole text so far (`billed_text`, default `text`), so an incremental
    stream's last event reports every output token, not those of its (often empty) last delta."""
    billed = charge(duration_s, context=context, text=text if billed_text is None else billed_text, count=count)
    message: dict[str, Any] = {"role": "assistant", "content": [{"text": text}]}
    if model in LEGACY_MODELS:
        return {
            "status_code": 200,
            "request_id": request_id,
            "code": "",
            "message": "",
            "output": {
                "text": None,
                "finish_reason": None,
                "choices": [{"finish_reason": finish_reason, "message": message}],
            },
            "usage": legacy_usage(billed),
        }
    message["annotations"] = audio_annotations(language, emotion)
    return {
        "request_id": request_id,
        "output": {"choices": [{"finish_reason": finish_reason, "message": message}]},
        "usage": native_usage(billed),
    }
