"""DashScope Qwen-ASR-Realtime's wire format (spec §1): `session.update` into the session's settings, the
session's events into the cloud's server events, and its `error` event.

`session.update` applies only the fields present (both SDKs send a full session; hand-written clients
send pieces), checks each value and names the bad one in `error.param` as the cloud does. Fields the
service has but recognition does not use (modalities, voice, output format, translation) are accepted
and ignored. The VAD threshold is DashScope's (−1…1) and is mapped to a Silero probability
(`realtime.turns.dashscope_threshold`); `session.updated` echoes the values as the client gave them.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, replace
from typing import Any

from openasr.realtime.audio_in import check_format
from openasr.realtime.errors import INVALID_VALUE, RealtimeError
from openasr.realtime.events import Committed, Event, Failed, Final, Partial, SpeechStarted, SpeechStopped
from openasr.realtime.session import SessionConfig, TurnDetection
from openasr.realtime.turns import dashscope_threshold

WireEvent = dict[str, Any]

SILENCE_RANGE_MS = (200, 6000)
"""The SDK's documented range of `silence_duration_ms`."""
NEUTRAL = "neutral"
"""The emotion DashScope reports when none was measured."""
_PARAMS = {
    "language": "session.input_audio_transcription.language",
    "context": "session.input_audio_transcription.corpus.text",
    "format": "session.input_audio_format",
    "sample_rate": "session.sample_rate",
}


@dataclass(frozen=True)
class Vad:
    """Server VAD as the client configured it, in DashScope's own terms."""

    threshold: float = 0.5
    silence_duration_ms: int = 800
    prefix_padding_ms: int = 300

    def wire(self) -> WireEvent:
        return {"type": "server_vad", **self.__dict__}


@dataclass(frozen=True)
class DashScopeSession:
    """A session's settings on the DashScope wire; `vad` None is Manual mode."""

    model: str
    engine_model: str
    input_audio_format: str = "pcm"
    sample_rate: int = 16000
    language: str | None = None
    corpus: str = ""
    vad: Vad | None = Vad()

    def config(self) -> SessionConfig:
        vad = self.vad
        turns = (
            TurnDetection(dashscope_threshold(vad.threshold), vad.silence_duration_ms, vad.prefix_padding_ms)
            if vad is not None
            else None
        )
        return SessionConfig(self.engine_model, self.language, self.corpus or None, turns)

    def wire(self, session_id: str) -> WireEvent:
        """The session as `session.created` / `session.updated` describe it."""
        transcription = {"language": self.language, "corpus": {"text": self.corpus}}
        return {
            "id": session_id,
            "object": "realtime.session",
            "model": self.model,
            "modalities": ["text"],
            "input_audio_format": self.input_audio_format,
            "sample_rate": self.sample_rate,
            "input_audio_transcription": transcription if self.language or self.corpus else None,
            "turn_detection": self.vad.wire() if self.vad is not None else None,
        }


def apply_update(current: DashScopeSession, session: object) -> DashScopeSession:
    """`current` with the fields of a `session.update`'s `session` object; `RealtimeError` names a bad one."""
    if not isinstance(session, dict):
        raise RealtimeError(INVALID_VALUE, "`session` must be an object", "session")
    updated = replace(current, **_audio_format(current, session), **_transcription(session))
    if "turn_detection" in session:
        updated = replace(updated, vad=_vad(session["turn_detection"], current.vad or Vad()))
    try:
        check_format(updated.input_audio_format, updated.sample_rate)
    except RealtimeError as error:
        raise named(error) from None
    return updated


def _audio_format(current: DashScopeSession, session: dict[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if session.get("input_audio_format") is not None:
        fields["input_audio_format"] = _string(session["input_audio_format"], "session.input_audio_format")
    if "sample_rate" in session:
        fields["sample_rate"] = _integer(session["sample_rate"], "session.sample_rate")
    audio = _object(session.get("audio"), "session.audio")
    new_style = _object(_object(audio.get("input"), "session.audio.input").get("format"), "session.audio.input.format")
    if new_style.get("type") is not None:  # `AudioFormatConfig`: it wins
        fields["input_audio_format"] = _string(new_style["type"], "session.audio.input.format.type")
    if "sample_rate" in new_style:
        fields["sample_rate"] = _integer(new_style["sample_rate"], "session.audio.input.format.sample_rate")
    return fields


def _transcription(session: dict[str, Any]) -> dict[str, Any]:
    settings = _object(session.get("input_audio_transcription"), "session.input_audio_transcription")
    fields: dict[str, Any] = {}
    if "language" in settings:
        language = settings["language"]
        if language is not None and not isinstance(language, str):
            raise RealtimeError(INVALID_VALUE, "language must be a string", _PARAMS["language"])
        fields["language"] = None if not language or language == "auto" else language
    corpus = settings.get("corpus")
    text = corpus.get("text") if isinstance(corpus, dict) else settings.get("corpus_text")
    if text is not None:
        if not isinstance(text, str):
            raise RealtimeError(INVALID_VALUE, "corpus.text must be a string", _PARAMS["context"])
        fields["corpus"] = text
    return fields


def _vad(value: object, current: Vad) -> Vad | None:
    if value is None:
        return None
    param = "session.turn_detection"
    if not isinstance(value, dict):
        raise RealtimeError(INVALID_VALUE, "turn_detection must be an object or null", param)
    kind = value.get("type", "server_vad")
    if kind != "server_vad":
        raise RealtimeError(INVALID_VALUE, f"Invalid value: {kind!r}. Supported: server_vad.", f"{param}.type")
    threshold = value.get("threshold", current.threshold)
    if not isinstance(threshold, int | float) or isinstance(threshold, bool) or not -1 <= threshold <= 1:
        raise RealtimeError(INVALID_VALUE, f"Invalid value: {threshold}. Supported range: -1-1.", f"{param}.threshold")
    silence = _integer(value.get("silence_duration_ms", current.silence_duration_ms), f"{param}.silence_duration_ms")
    low, high = SILENCE_RANGE_MS
    if not low <= silence <= high:
        raise RealtimeError(
            INVALID_VALUE, f"Invalid value: {silence}. Supported range: {low}-{high}.", f"{param}.silence_duration_ms"
        )
    prefix = _integer(value.get("prefix_padding_ms", current.prefix_padding_ms), f"{param}.prefix_padding_ms")
    if not 0 <= prefix <= 5000:
        raise RealtimeError(
            INVALID_VALUE, f"Invalid value: {prefix}. Supported range: 0-5000.", f"{param}.prefix_padding_ms"
        )
    return Vad(float(threshold), silence, prefix)


def _integer(value: object, param: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value != int(value):
        raise RealtimeError(INVALID_VALUE, f"Invalid value: {value!r}. Expected an integer.", param)
    return int(value)


def _object(value: object, param: str) -> dict[str, Any]:
    """An optional object field: absent or null is empty, anything but an object is refused."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RealtimeError(INVALID_VALUE, f"Invalid value: {value!r}. Expected an object.", param)
    return value


def _string(value: object, param: str) -> str:
    if not isinstance(value, str):
        raise RealtimeError(INVALID_VALUE, f"Invalid value: {value!r}. Expected a string.", param)
    return value


def named(error: RealtimeError) -> RealtimeError:
    """An error of the session or the audio decoder with the wire's full parameter name."""
    param = _PARAMS.get(error.param or "", error.param)
    return RealtimeError(error.code, error.message, param)


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


def render(event: Event) -> list[WireEvent]:
    """The server events of one session event (spec §1.4), without `event_id` (added when sent)."""
    if isinstance(event, SpeechStarted):
        return [
            {
                "type": "input_audio_buffer.speech_started",
                "audio_start_ms": event.audio_start_ms,
                "item_id": event.item_id,
            }
        ]
    if isinstance(event, SpeechStopped):
        return [
            {"type": "input_audio_buffer.speech_stopped", "audio_end_ms": event.audio_end_ms, "item_id": event.item_id}
        ]
    if isinstance(event, Committed):
        previous = event.previous_item_id or ""
        item: WireEvent = {
            "id": event.item_id,
            "object": "realtime.item",
            "type": "message",
            "status": "completed",
            "role": "user",
            "content": [{"type": "input_audio", "transcript": None}],
        }
        return [
            {"type": "input_audio_buffer.committed", "previous_item_id": previous, "item_id": event.item_id},
            {"type": "conversation.item.created", "previous_item_id": previous, "item": item},
        ]
    prefix = "conversation.item.input_audio_transcription"
    common = {"item_id": event.item_id, "content_index": 0}
    if isinstance(event, Partial):
        text = {"language": event.language, "emotion": NEUTRAL, "text": event.confirmed, "stash": event.stash}
        return [{"type": f"{prefix}.text", **common, **text}]
    if isinstance(event, Final):
        final = {"language": event.language, "emotion": event.emotion or NEUTRAL, "transcript": event.transcript}
        return [{"type": f"{prefix}.completed", **common, **final}]
    assert isinstance(event, Failed)
    failure = {"code": event.code, "message": event.message, "param": None}
    return [{"type": f"{prefix}.failed", **common, "error": failure}]


def error_event(error: RealtimeError, event_id: str | None, *, fatal: bool = False) -> WireEvent:
    """`error`: `invalid_request_error` for a client's mistake (the session goes on), `server_error` else."""
    body = {
        "type": "server_error" if fatal else "invalid_request_error",
        "code": error.code,
        "message": error.message,
        "param": error.param,
        "event_id": event_id,
    }
    return {"type": "error", "error": body}
