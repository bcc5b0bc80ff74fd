"""DashScope realtime's `session.update` parsing and event rendering, on the payloads the SDKs send
(spec §1.3, captured from dashscope 2.0.2) and on the values they must refuse."""

from __future__ import annotations

from typing import Any

import pytest

from openasr.realtime.errors import INVALID_VALUE, RealtimeError
from openasr.realtime.events import Committed, Failed, Final, Partial
from openasr.server.dashscope.realtime_protocol import DashScopeSession, Vad, apply_update, render

DEFAULT = DashScopeSession("qwen3-asr-flash-realtime", "whisper-base")
LEGACY_SDK = {
    "modalities": ["text"],
    "voice": None,
    "input_audio_format": "pcm",
    "output_audio_format": "pcm16",
    "input_audio_transcription": {"language": "zh", "corpus": {"text": "Qwen"}},
    "turn_detection": {"type": "server_vad", "threshold": 0.2, "prefix_padding_ms": 300, "silence_duration_ms": 800},
    "sample_rate": 16000,
}


def test_the_legacy_sdk_payload_configures_the_session() -> None:
    session = apply_update(DEFAULT, LEGACY_SDK)
    assert (session.language, session.corpus, session.vad) == ("zh", "Qwen", Vad(0.2, 800, 300))
    config = session.config()
    assert config.model == "whisper-base" and config.language == "zh" and config.context == "Qwen"
    assert config.turn_detection is not None and config.turn_detection.threshold == pytest.approx(0.5)
    assert session.wire("sess_1")["turn_detection"] == {"type": "server_vad", **Vad(0.2, 800, 300).__dict__}


def test_fields_absent_from_an_update_keep_their_values() -> None:
    configured = apply_update(DEFAULT, LEGACY_SDK)
    manual = apply_update(configured, {"turn_detection": None})
    assert manual.vad is None and manual.language == "zh" and manual.config().turn_detection is None
    auto = apply_update(manual, {"input_audio_transcription": {"language": "auto"}})
    assert auto.language is None and auto.corpus == "Qwen"


def test_the_v2_sdk_shapes_are_understood() -> None:
    v2 = {"input_audio_format": "pcm16", "input_audio_transcription": {"model": None}}
    assert apply_update(DEFAULT, v2).input_audio_format == "pcm16"
    nested = {"audio": {"input": {"format": {"type": "pcm", "sample_rate": 8000}}}, "sample_rate": 16000}
    assert apply_update(DEFAULT, nested).sample_rate == 8000  # the new-style field wins
    third_party = {"input_audio_transcription": {"corpus_text": "DashScope"}}
    assert apply_update(DEFAULT, third_party).corpus == "DashScope"


@pytest.mark.parametrize(
    ("session", "param"),
    [
        ({"turn_detection": {"silence_duration_ms": 7000}}, "session.turn_detection.silence_duration_ms"),
        ({"turn_detection": {"threshold": 1.5}}, "session.turn_detection.threshold"),
        ({"turn_detection": {"type": "semantic_vad"}}, "session.turn_detection.type"),
        ({"turn_detection": "on"}, "session.turn_detection"),
        ({"sample_rate": 11025}, "session.sample_rate"),
        ({"sample_rate": "16k"}, "session.sample_rate"),
        ({"input_audio_format": "speex"}, "session.input_audio_format"),
        ({"input_audio_transcription": {"language": 7}}, "session.input_audio_transcription.language"),
        ("not an object", "session"),
    ],
)
def test_bad_values_are_refused_naming_the_field(session: Any, param: str) -> None:
    with pytest.raises(RealtimeError) as refused:
        apply_update(DEFAULT, session)
    assert refused.value.code == INVALID_VALUE and refused.value.param == param


def test_events_render_as_the_cloud_sends_them() -> None:
    committed = render(Committed("item_2", None))
    assert [e["type"] for e in committed] == ["input_audio_buffer.committed", "conversation.item.created"]
    assert committed[0]["previous_item_id"] == "" and committed[1]["item"]["id"] == "item_2"
    (text,) = render(Partial("item_2", "It was", " the best", " was", "en"))
    assert (text["text"], text["stash"], text["emotion"]) == ("It was", " the best", "neutral")
    (done,) = render(Final("item_2", "It was the best of times.", "en", "happy", 2.0))
    assert done["transcript"] == "It was the best of times." and done["emotion"] == "happy"
    (failed,) = render(Failed("item_3", "InternalError", "boom"))
    assert failed["error"] == {"code": "InternalError", "message": "boom", "param": None}
