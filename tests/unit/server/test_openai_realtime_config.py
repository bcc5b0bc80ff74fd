"""The OpenAI transcription session object: GA and beta updates applied field by field, the effective
session rendered back, and every wrong value refused naming its field (spec §3.2)."""

from __future__ import annotations

from typing import Any

import pytest

from openasr.realtime.errors import INVALID_VALUE, RealtimeError
from openasr.realtime.session import TurnDetection
from openasr.server.openai.realtime_config import Transcription, apply_beta, apply_ga, beta_session, ga_session


def ga(**audio_input: Any) -> dict[str, Any]:
    return {"type": "transcription", "audio": {"input": audio_input}}


def test_a_ga_update_changes_only_the_fields_it_names() -> None:
    fmt = {"type": "audio/pcm", "rate": 16000}
    first = apply_ga(Transcription(), ga(format=fmt, transcription={"model": "whisper-1", "language": "en"}))
    second = apply_ga(first, ga(turn_detection=None))
    assert (second.audio_format, second.rate, second.language, second.turn_detection) == ("pcm16", 16000, "en", None)
    shown = ga_session("sess_1", second)["audio"]["input"]
    assert shown["format"] == fmt and shown["turn_detection"] is None and shown["transcription"]["language"] == "en"


def test_g711_and_semantic_vad() -> None:
    ulaw = apply_ga(
        Transcription(), ga(format={"type": "audio/pcmu"}, turn_detection={"type": "semantic_vad", "eagerness": "low"})
    )
    assert (ulaw.audio_format, ulaw.rate) == ("g711_ulaw", 8000)
    assert ulaw.turn_detection == TurnDetection(threshold=0.5, silence_ms=1200, prefix_padding_ms=300)
    beta = apply_beta(
        Transcription(), {"input_audio_format": "g711_alaw", "turn_detection": {"type": "server_vad", "threshold": 0.3}}
    )
    assert (beta.audio_format, beta.rate) == ("g711_alaw", 8000) and beta.turn_detection is not None
    assert beta.turn_detection.threshold == 0.3
    assert beta_session("sess_2", beta)["input_audio_format"] == "g711_alaw"


@pytest.mark.parametrize(
    ("apply", "session", "param"),
    [
        (apply_ga, {"type": "realtime"}, "session.type"),
        (apply_ga, {"audio": {}}, "session.type"),
        (apply_ga, ga(format={"type": "audio/pcm", "rate": 22050}), "session.audio.input.format.rate"),
        (apply_ga, ga(format={"type": "audio/pcmu", "rate": 16000}), "session.audio.input.format.rate"),
        (apply_ga, ga(format={"type": "audio/opus"}), "session.audio.input.format.type"),
        (
            apply_ga,
            ga(turn_detection={"type": "server_vad", "threshold": 1.5}),
            "session.audio.input.turn_detection.threshold",
        ),
        (apply_ga, ga(turn_detection={"type": "magic"}), "session.audio.input.turn_detection.type"),
        (apply_ga, ga(transcription={"language": 5}), "session.audio.input.transcription.language"),
        (apply_beta, {"input_audio_format": "mp3"}, "session.input_audio_format"),
        (apply_beta, {"turn_detection": {"silence_duration_ms": "long"}}, "session.turn_detection.silence_duration_ms"),
        (apply_beta, "not an object", "session"),
    ],
)
def test_wrong_values_name_their_field(apply: Any, session: Any, param: str) -> None:
    with pytest.raises(RealtimeError) as info:
        apply(Transcription(), session)
    assert (info.value.code, info.value.param) == (INVALID_VALUE, param)
