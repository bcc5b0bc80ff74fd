"""OpenAI Realtime transcription sessions: the session object of `session.update` (GA) and
`transcription_session.update` (beta) in, the effective session out (spec §3.2, §3.3).

A session update applies only the fields present, so a client may change one thing at a time; every
value is checked here and a wrong one is a `RealtimeError` naming the field as the GA wire spells it, so
the surface answers one `error` and the session keeps its previous settings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from openasr.realtime.audio_in import PCM_RATES, check_format
from openasr.realtime.errors import INVALID_VALUE, RealtimeError
from openasr.realtime.session import TurnDetection

DEFAULT_MODEL = "whisper-1"
DEFAULT_RATE = 24000
DEFAULT_VAD = TurnDetection(threshold=0.5, silence_ms=500, prefix_padding_ms=300)
"""OpenAI's server VAD defaults (SDK docstrings, spec §5.2)."""
SEMANTIC_SILENCE_MS = {"high": 500, "medium": 800, "auto": 800, "low": 1200}
"""`semantic_vad` runs as server VAD with a silence that follows its eagerness (spec §3.2)."""
GA_FORMATS = {"audio/pcm": "pcm16", "audio/pcmu": "g711_ulaw", "audio/pcma": "g711_alaw"}
BETA_FORMATS = {v: k for k, v in GA_FORMATS.items()}
G711_RATE = 8000
SILENCE_RANGE_MS = (0, 6000)


@dataclass(frozen=True)
class Transcription:
    """A transcription session's effective settings, in the beta's format names."""

    audio_format: str = "pcm16"
    rate: int = DEFAULT_RATE
    model: str = DEFAULT_MODEL
    language: str | None = None
    prompt: str = ""
    turn_detection: TurnDetection | None = DEFAULT_VAD


def apply_ga(current: Transcription, session: Any) -> Transcription:
    """`session.update` of a GA transcription session: `session.type` must say "transcription"."""
    _object(session, "session")
    if session.get("type") != "transcription":
        raise RealtimeError(
            INVALID_VALUE,
            f"session.type must be 'transcription' on a transcription session, not {session.get('type')!r}",
            "session.type",
        )
    audio_input = _object(
        _object(session.get("audio") or {}, "session.audio").get("input") or {}, "session.audio.input"
    )
    new = current
    if "format" in audio_input:
        new = _ga_format(new, _object(audio_input["format"] or {}, "session.audio.input.format"))
    if "transcription" in audio_input:
        new = _transcription(new, audio_input["transcription"] or {}, "session.audio.input.transcription")
    if "turn_detection" in audio_input:
        new = replace(new, turn_detection=_turns(audio_input["turn_detection"], "session.audio.input.turn_detection"))
    return new


def apply_beta(current: Transcription, session: Any) -> Transcription:
    """`transcription_session.update` (beta): flat fields, G.711 by name, pcm16 at 24 kHz."""
    _object(session, "session")
    new = current
    if "input_audio_format" in session:
        fmt = session["input_audio_format"]
        if not isinstance(fmt, str) or fmt not in BETA_FORMATS:
            raise RealtimeError(
                INVALID_VALUE, f"input_audio_format must be one of {sorted(BETA_FORMATS)}", "session.input_audio_format"
            )
        new = replace(new, audio_format=fmt, rate=DEFAULT_RATE if fmt == "pcm16" else G711_RATE)
    if "input_audio_transcription" in session:
        new = _transcription(new, session["input_audio_transcription"] or {}, "session.input_audio_transcription")
    if "turn_detection" in session:
        new = replace(new, turn_detection=_turns(session["turn_detection"], "session.turn_detection"))
    return new


def ga_session(session_id: str, settings: Transcription) -> dict[str, Any]:
    """The GA session object of `session.created` / `session.updated`."""
    return {
        "object": "realtime.session",
        "type": "transcription",
        "id": session_id,
        "audio": {
            "input": {
                "format": {"type": BETA_FORMATS[settings.audio_format], "rate": settings.rate},
                "noise_reduction": None,
                "transcription": _transcription_view(settings),
                "turn_detection": _turns_view(settings.turn_detection),
            }
        },
        "include": None,
    }


def beta_session(session_id: str, settings: Transcription) -> dict[str, Any]:
    """The beta session object of `transcription_session.updated`."""
    return {
        "id": session_id,
        "object": "realtime.transcription_session",
        "input_audio_format": settings.audio_format,
        "input_audio_transcription": _transcription_view(settings),
        "turn_detection": _turns_view(settings.turn_detection),
        "input_audio_noise_reduction": None,
        "include": None,
    }


def _ga_format(current: Transcription, fmt: dict[str, Any]) -> Transcription:
    kind = fmt.get("type", BETA_FORMATS[current.audio_format])
    if not isinstance(kind, str) or kind not in GA_FORMATS:
        raise RealtimeError(
            INVALID_VALUE, f"format type must be one of {sorted(GA_FORMATS)}", "session.audio.input.format.type"
        )
    audio_format = GA_FORMATS[kind]
    default_rate = DEFAULT_RATE if audio_format == "pcm16" else G711_RATE
    rate = fmt.get("rate", default_rate)
    if (
        not isinstance(rate, int | float)
        or isinstance(rate, bool)
        or (audio_format == "pcm16" and rate not in PCM_RATES)
        or (audio_format != "pcm16" and rate != G711_RATE)
    ):
        allowed = sorted(PCM_RATES) if audio_format == "pcm16" else [G711_RATE]
        raise RealtimeError(
            INVALID_VALUE,
            f"rate {rate!r} is not supported for {kind}; use {allowed}",
            "session.audio.input.format.rate",
        )
    check_format(audio_format, int(rate))
    return replace(current, audio_format=audio_format, rate=int(rate))


def _transcription(current: Transcription, value: Any, where: str) -> Transcription:
    _object(value, where)
    new = current
    if value.get("model"):
        if not isinstance(value["model"], str):
            raise RealtimeError(INVALID_VALUE, "model must be a string", f"{where}.model")
        new = replace(new, model=value["model"])
    if "language" in value:
        language = value["language"]
        if language is not None and not isinstance(language, str):
            raise RealtimeError(INVALID_VALUE, "language must be a string", f"{where}.language")
        new = replace(new, language=language or None)
    if "prompt" in value:
        if value["prompt"] is not None and not isinstance(value["prompt"], str):
            raise RealtimeError(INVALID_VALUE, "prompt must be a string", f"{where}.prompt")
        new = replace(new, prompt=value["prompt"] or "")
    return new


def _turns(value: Any, where: str) -> TurnDetection | None:
    if value is None:
        return None
    _object(value, where)
    kind = value.get("type", "server_vad")
    if kind == "semantic_vad":
        eagerness = value.get("eagerness", "auto")
        if not isinstance(eagerness, str) or eagerness not in SEMANTIC_SILENCE_MS:
            raise RealtimeError(
                INVALID_VALUE, f"eagerness must be one of {sorted(SEMANTIC_SILENCE_MS)}", f"{where}.eagerness"
            )
        return replace(DEFAULT_VAD, silence_ms=SEMANTIC_SILENCE_MS[eagerness])
    if kind != "server_vad":
        raise RealtimeError(INVALID_VALUE, "turn_detection.type must be server_vad or semantic_vad", f"{where}.type")
    threshold = _number(value, "threshold", DEFAULT_VAD.threshold, (0.0, 1.0), where)
    silence = _number(value, "silence_duration_ms", DEFAULT_VAD.silence_ms, SILENCE_RANGE_MS, where)
    prefix = _number(value, "prefix_padding_ms", DEFAULT_VAD.prefix_padding_ms, (0, 10_000), where)
    return TurnDetection(threshold=float(threshold), silence_ms=int(silence), prefix_padding_ms=int(prefix))


def _number(value: dict[str, Any], name: str, default: float, bounds: tuple[float, float], where: str) -> float:
    number = value.get(name, default)
    if number is None:
        return default
    low, high = bounds
    ok = isinstance(number, int | float) and not isinstance(number, bool) and math.isfinite(number)
    if not ok or not low <= number <= high:
        raise RealtimeError(
            INVALID_VALUE, f"Invalid value: {number!r}. Supported range: {low:g}-{high:g}.", f"{where}.{name}"
        )
    return float(number)


def _transcription_view(settings: Transcription) -> dict[str, Any]:
    return {"model": settings.model, "language": settings.language, "prompt": settings.prompt}


def _turns_view(turns: TurnDetection | None) -> dict[str, Any] | None:
    if turns is None:
        return None
    return {
        "type": "server_vad",
        "threshold": turns.threshold,
        "prefix_padding_ms": turns.prefix_padding_ms,
        "silence_duration_ms": turns.silence_ms,
    }


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise RealtimeError(INVALID_VALUE, f"{where} must be a JSON object", where)
    return value
