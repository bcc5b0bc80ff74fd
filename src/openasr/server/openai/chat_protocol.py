"""chat/completions ASR (spec §8) on the wire: the request as OpenAI and DashScope's compatible mode send
it, and the completion and its stream chunks as OpenAI's schema declares them.

The audio part comes in OpenAI's form (`input_audio` with plain base64 `data` and a `format` hint),
DashScope compatible mode's (`input_audio.data` as a `data:` URI or an http(s) URL) or vLLM's
(`audio_url`). `asr_options` sits at the top level because the openai SDK merges `extra_body` there.
Answers carry every field OpenAI's `CreateChatCompletionResponse` requires (`logprobs` and `refusal`
as null: a transcript has neither) plus DashScope's `annotations` of type `audio_info` (language,
emotion), which OpenAI's schema only knows as url citations; the SDK keeps them as extra fields.
"""

from __future__ import annotations

import re
import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from openasr.core.billing import Charge, charge
from openasr.core.errors import InvalidParameterError, ModelNotFoundError
from openasr.core.options import TokenCounter, TranscribeOptions, count_context_tokens
from openasr.core.types import Transcript
from openasr.server.annotations import AudioInfoAnnotation, audio_annotations
from openasr.server.models import LEGACY_MODELS, ModelCatalog

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
"""A reference with a scheme (data:, http(s):, oss:, file:); base64 has no colon, so never matches."""
_FORMAT = re.compile(r"^[a-z0-9]{1,10}$")
_FORMAT_MIMES = {"mp3": "audio/mpeg", "m4a": "audio/mp4", "pcm": "audio/pcm", "opus": "audio/ogg", "oga": "audio/ogg"}
"""`input_audio.format` values whose MIME type is not `audio/<format>`; pcm keeps raw PCM decodable."""


class InputAudio(BaseModel):
    model_config = ConfigDict(extra="allow")
    data: str
    format: str | None = None

    def reference(self) -> str:
        """The audio as `audio.sources` resolves it: OpenAI's plain base64 becomes a `data:` URI typed by
        `format` (the container hint; the decoder still probes the bytes), while the URI and URL forms
        DashScope's compatible mode documents pass unchanged."""
        if _SCHEME.match(self.data):
            return self.data
        fmt = (self.format or "").strip().lower()
        if fmt and not _FORMAT.fullmatch(fmt):
            raise InvalidParameterError(
                f"input_audio.format {self.format!r} is not an audio format name (wav, mp3, …)",
                param="messages.content.input_audio.format",
            )
        mime = _FORMAT_MIMES.get(fmt, f"audio/{fmt}" if fmt else "")
        return f"data:{mime};base64,{self.data}"


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
            return self.input_audio.reference()
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
    refusal: None = Field(description="always null: a transcript refuses nothing")
    annotations: list[AudioInfoAnnotation]


class ChatChoice(_Exact):
    index: int
    finish_reason: Literal["stop"]
    logprobs: None = Field(description="always null: token log probabilities are not offered")
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


_EVENTS = {"text/event-stream": {"schema": {"type": "string"}}}
CHAT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "model": ChatCompletion,
        "description": "the transcript; with `stream: true`, a text/event-stream of chat.completion.chunk objects "
        "(the first delta carries `role`, later ones only `content` and `annotations`)",
        "content": _EVENTS,
    }
}


def chat_context(messages: list[ChatMessage]) -> str:
    texts: list[str] = []
    for m in messages:
        if m.role == "system" and m.content is not None:
            texts += [m.content] if isinstance(m.content, str) else [i.text for i in m.content if i.text]
    return "\n".join(texts)


def chat_to_options(request: ChatRequest, catalog: ModelCatalog) -> tuple[str, TranscribeOptions]:
    """The audio reference and the options; the model may be any name `/v1/models` lists for chat."""
    if request.model in LEGACY_MODELS:
        raise ModelNotFoundError(f"model {request.model} is not available in compatible mode")
    engine_model = catalog.engine_for_chat(request.model)
    users = [m for m in request.messages if m.role == "user"]
    audios = [item.audio for m in users if isinstance(m.content, list) for item in m.content if item.audio is not None]
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


def chat_usage(billed: Charge) -> dict[str, Any]:
    """The usage of a chat completion (spec §8): prompt tokens (audio and context), completion tokens."""
    return {
        "prompt_tokens": billed.input_tokens,
        "prompt_tokens_details": {"audio_tokens": billed.audio_tokens, "text_tokens": billed.context_tokens},
        "completion_tokens": billed.output_tokens,
        "completion_tokens_details": {"text_tokens": billed.output_tokens},
        "total_tokens": billed.total_tokens,
        "seconds": billed.seconds,
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
                "logprobs": None,
                "message": {
                    "role": "assistant",
                    "content": transcript.text,
                    "refusal": None,
                    "annotations": audio_annotations(transcript.language, transcript.emotion),
                },
            }
        ],
        "usage": chat_usage(charge(transcript.audio.duration_s, context=context, text=transcript.text, count=count)),
    }


def chat_chunk(
    completion_id: str,
    model: str,
    *,
    delta: dict[str, Any] | None = None,
    finish_reason: str | None = None,
    usage: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One `chat.completion.chunk`. A delta holds only what it adds: `role` in the first chunk alone (the
    schema has no null role), then `content` and `annotations`; the last choice chunk has an empty delta."""
    choices = [] if delta is None else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]
    return {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": choices,
        "usage": usage,
    }
