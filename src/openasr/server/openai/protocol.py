"""OpenAI's audio endpoints on the wire: POST /audio/transcriptions and /audio/translations.

Both render the one Transcript through `postprocess.formats`, so every format is written once for all
surfaces; a translation is the same recognition with Whisper's `translate` task (English text). As in
OpenAI's API, `model` is required and each answer has the shape OpenAI's schema declares for it (the
chat surface is `chat_protocol`, the model list `models_protocol`).
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from openasr.core.billing import Charge, billed_seconds, charge
from openasr.core.errors import InvalidParameterError
from openasr.core.options import TokenCounter, TranscribeOptions, count_context_tokens
from openasr.core.types import Transcript
from openasr.postprocess.formats import (
    FORMATS,
    TIMED_FORMATS,
    render_srt,
    render_text,
    render_verbose_json,
    render_vtt,
)
from openasr.server.models import DIARIZE_MODEL, ModelCatalog
from openasr.server.openai.diarized import DIARIZED_FORMAT, render_diarized_json

# ------------------------------------------------------------------------------------------ answers
# Exact models of what the converters below write (extra keys forbidden): the routes document them as
# their 200 answers, and the converter tests validate every shape against them.


class _Exact(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DurationUsage(_Exact):
    type: Literal["duration"]
    seconds: int


class Transcription(_Exact):
    """`response_format=json`."""

    text: str
    usage: DurationUsage


class Translation(_Exact):
    """A translation's `response_format=json`, as OpenAI answers it."""

    text: str


class Segment(_Exact):
    """A sentence. The decoder numbers are the sentence's (`postprocess.decoder_stats`), or
    `formats.UNMEASURED` (no tokens, compression ratio 0) where the engine measures none."""

    id: int
    seek: int
    start: float
    end: float
    text: str
    tokens: list[int]
    temperature: float = Field(description="0.0: decoding is beam search, never sampled")
    avg_logprob: float
    compression_ratio: float
    no_speech_prob: float


class WordTiming(_Exact):
    word: str
    start: float
    end: float


class VerboseTranscription(_Exact):
    """`response_format=verbose_json` (`postprocess.formats.render_verbose_json`); a translation's has
    task `translate` and language `english`."""

    task: Literal["transcribe", "translate"]
    language: str
    duration: float
    text: str
    segments: list[Segment]
    words: list[WordTiming] | None = Field(default=None, description="with timestamp_granularities[]=word")


class DiarizedSegment(_Exact):
    """A sentence with its speaker: a known speaker's name, else `A`, `B`, … in order of first appearance
    (`server.openai.diarized`); also the `transcript.text.segment` stream event."""

    type: Literal["transcript.text.segment"]
    id: str
    start: float
    end: float
    text: str
    speaker: str


class DiarizedTranscription(_Exact):
    """`response_format=diarized_json` (model `gpt-4o-transcribe-diarize`)."""

    task: Literal["transcribe"]
    duration: float
    text: str
    segments: list[DiarizedSegment]
    usage: DurationUsage


_EVENTS = {"text/event-stream": {"schema": {"type": "string"}}}
TRANSCRIPTION_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "model": Transcription | VerboseTranscription | DiarizedTranscription,
        "description": "json, verbose_json or diarized_json; text and srt as text/plain, vtt as text/vtt; with "
        "stream=true, a text/event-stream of transcript.text.delta events (then, for diarized_json, one "
        "transcript.text.segment per sentence once the speakers are known) ending with transcript.text.done",
        "content": {
            "text/plain": {"schema": {"type": "string"}},
            "text/vtt": {"schema": {"type": "string"}},
            **_EVENTS,
        },
    }
}
TRANSLATION_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "model": Translation | VerboseTranscription,
        "description": "English text: json or verbose_json; text and srt as text/plain, vtt as text/vtt",
        "content": {"text/plain": {"schema": {"type": "string"}}, "text/vtt": {"schema": {"type": "string"}}},
    }
}


STREAMED_FORMATS = ("json", "text", DIARIZED_FORMAT)
"""OpenAI streams transcriptions as text events (and a diarized one's segments); subtitles and
verbose_json need the whole file."""
OPENAI_FORMATS = (*FORMATS, DIARIZED_FORMAT)
CHUNKING_STRATEGIES = ("auto", "server_vad")
"""OpenAI's `chunking_strategy` values: `auto`, or an object whose `type` is `server_vad`."""


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
    billed = charge(duration_s, context=context, text=text, count=count)
    return {"type": "transcript.text.done", "text": text, "usage": transcription_usage(billed)}


def transcription_usage(billed: Charge) -> dict[str, Any]:
    """The usage of a streamed transcription, in OpenAI's token shape (a whole answer reports only its
    `duration`, `transcription_to_response`)."""
    return {
        "type": "tokens",
        "input_tokens": billed.input_tokens,
        "input_token_details": {"audio_tokens": billed.audio_tokens, "text_tokens": billed.context_tokens},
        "output_tokens": billed.output_tokens,
        "total_tokens": billed.total_tokens,
    }


def transcription_to_options(
    catalog: ModelCatalog,
    *,
    model: str | None,
    language: str | None,
    prompt: str | None,
    response_format: str,
    granularities: list[str],
    temperature: float | None = None,
    stream: bool = False,
) -> TranscribeOptions:
    """`temperature` is checked, not applied: decoding is deterministic beam search, which is what
    temperature 0 asks for (a resumed task must give the identical text), and `verbose_json` says 0.0.
    The diarizing model turns the diarization stage on, whatever the format (`json` and `text` carry no
    speakers, but answer as for any model); `diarized_json` needs it."""
    name = required_model(model)
    diarize = name == DIARIZE_MODEL
    check_format(response_format, temperature)
    if response_format == DIARIZED_FORMAT and not diarize:
        raise InvalidParameterError(
            f"response_format diarized_json needs model {DIARIZE_MODEL}", param="response_format"
        )
    if stream and response_format not in STREAMED_FORMATS:
        raise InvalidParameterError(
            f"stream=true answers text events; response_format must be {' or '.join(STREAMED_FORMATS)}",
            param="response_format",
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
        model=catalog.engine_for_openai(name),
        language=language or None,
        context=prompt or "",
        words="word" in granularities,
        sentences=response_format in TIMED_FORMATS or diarize,
        diarize=diarize,
    )


def check_chunking(strategy: str | None, strategy_type: str | None) -> None:
    """OpenAI's `chunking_strategy` is accepted, not applied: `auto`, or a `server_vad` object (which the
    SDK sends as `chunking_strategy[type]` and its tuning fields, curl as JSON text). Every recognition
    here is cut at the pauses Silero VAD finds, which is what both ask for, and is never one block, so
    the >30 s rule of OpenAI's diarizing model does not arise."""
    if strategy is None and strategy_type is None:
        return
    kind = strategy_type if strategy is None else strategy.strip()
    if kind is not None and kind.startswith("{"):
        try:
            kind = json.loads(kind).get("type")
        except (ValueError, AttributeError):
            kind = None
    if kind not in CHUNKING_STRATEGIES:
        raise InvalidParameterError(
            "chunking_strategy must be auto or an object of type server_vad", param="chunking_strategy"
        )


def translation_to_options(
    catalog: ModelCatalog, *, model: str | None, prompt: str | None, response_format: str, temperature: float | None
) -> TranscribeOptions:
    """Whisper's `translate` task: the spoken language is detected per chunk (OpenAI's translation API
    takes no `language`), and the text is English. Whether the engine can is `pipeline.check_engine`'s."""
    check_format(response_format, temperature)
    name = required_model(model)
    if response_format == DIARIZED_FORMAT:
        raise InvalidParameterError("a translation has no diarized_json", param="response_format")
    if name == DIARIZE_MODEL:
        raise InvalidParameterError(f"model {DIARIZE_MODEL} only transcribes", param="model")
    return TranscribeOptions(
        model=catalog.engine_for_openai(name),
        context=prompt or "",
        sentences=response_format in TIMED_FORMATS,
        task="translate",
    )


def required_model(model: str | None) -> str:
    """OpenAI requires `model`; a request without it is refused, naming it, rather than given a default."""
    if model is None or not model.strip():
        raise InvalidParameterError("model is required (whisper-1 or a name GET /v1/models lists)", param="model")
    return model.strip()


def check_format(response_format: str, temperature: float | None) -> None:
    if temperature is not None and not 0.0 <= temperature <= 1.0:
        raise InvalidParameterError("temperature must be between 0 and 1", param="temperature")
    if response_format not in OPENAI_FORMATS:
        raise InvalidParameterError(
            f"response_format must be one of {', '.join(OPENAI_FORMATS)}", param="response_format"
        )


def transcription_to_response(transcript: Transcript, response_format: str) -> tuple[str | dict[str, Any], str]:
    """The body and its content type, as OpenAI answers each format; a translation's `json` is its text
    alone, as OpenAI's."""
    task = transcript.options.task
    if response_format == "json" and task == "translate":
        return {"text": transcript.text}, "application/json"
    if response_format == "json":
        usage = {"type": "duration", "seconds": billed_seconds(transcript.audio.duration_s)}
        return {"text": transcript.text, "usage": usage}, "application/json"
    if response_format == "verbose_json":
        return render_verbose_json(transcript, task=task), "application/json"
    if response_format == DIARIZED_FORMAT:
        return render_diarized_json(transcript), "application/json"
    if response_format == "srt":
        return render_srt(transcript), "text/plain; charset=utf-8"
    if response_format == "vtt":
        return render_vtt(transcript), "text/vtt; charset=utf-8"
    return render_text(transcript) + "\n", "text/plain; charset=utf-8"
