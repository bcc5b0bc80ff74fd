"""How diarized transcripts and known speakers map onto OpenAI's wire (labels, segments, refusals); the
same surface on a real server with real speech is tests/contract/test_diarization_surfaces.py."""

from __future__ import annotations

import pytest

from openasr.core.errors import InvalidParameterError
from openasr.core.options import TranscribeOptions
from openasr.core.types import AudioInfo, ChannelTranscript, Sentence, Transcript
from openasr.server.models import DIARIZE_MODEL, ModelCatalog
from openasr.server.openai.diarized import letters, render_diarized_json
from openasr.server.openai.known_speakers import check_known_speakers
from openasr.server.openai.protocol import DiarizedTranscription, check_chunking, transcription_to_options

CATALOG = ModelCatalog("whisper-base")


def diarized(*speakers: tuple[int | None, str | None]) -> Transcript:
    sentences = tuple(
        Sentence(i, i * 1000, i * 1000 + 800, f"Line {i}.", "en", speaker_id=sid, speaker_name=name)
        for i, (sid, name) in enumerate(speakers)
    )
    channel = ChannelTranscript(0, " ".join(s.text for s in sentences), "en", sentences)
    audio = AudioInfo("wav", 16_000, 1, len(sentences) * 1.0)
    return Transcript((channel,), audio, TranscribeOptions(diarize=True), model="whisper-base")


def test_letters_count_like_spreadsheet_columns() -> None:
    assert [letters(i) for i in (0, 1, 25, 26, 27)] == ["A", "B", "Z", "AA", "AB"]


def test_known_speakers_keep_their_names_and_the_others_get_letters_in_order_of_appearance() -> None:
    body = render_diarized_json(diarized((0, None), (1, "agent"), (2, None), (0, None), (None, None)))
    DiarizedTranscription.model_validate(body)
    assert [s["speaker"] for s in body["segments"]] == ["A", "agent", "B", "A", "unknown"]
    assert [s["id"] for s in body["segments"]][:2] == ["seg_001", "seg_002"]
    assert body["segments"][1] == {
        "type": "transcript.text.segment", "id": "seg_002", "start": 1.0, "end": 1.8, "text": "Line 1.",
        "speaker": "agent",
    }  # fmt: skip
    assert body["usage"] == {"type": "duration", "seconds": 5} and body["task"] == "transcribe"


def options(model: str, response_format: str, **extra: object) -> TranscribeOptions:
    return transcription_to_options(
        CATALOG, model=model, language=None, prompt=None, response_format=response_format, granularities=[], **extra
    )  # type: ignore[arg-type]


def test_the_diarizing_model_turns_diarization_on_in_every_format() -> None:
    for fmt in ("json", "text", "diarized_json", "srt", "vtt"):
        got = options(DIARIZE_MODEL, fmt)
        assert got.diarize and got.sentences and got.model == "whisper-base"
    assert not options("whisper-1", "json").diarize
    assert options(DIARIZE_MODEL, "diarized_json", stream=True).diarize


@pytest.mark.parametrize(
    ("call", "param"),
    [
        (lambda: options("whisper-1", "diarized_json"), "response_format"),
        (lambda: check_chunking("sometimes", None), "chunking_strategy"),
        (lambda: check_chunking(None, "client_vad"), "chunking_strategy"),
        (lambda: check_chunking('{"type": "semantic"}', None), "chunking_strategy"),
        (lambda: check_known_speakers(["a"], ["data:,"], diarize=False, model=DIARIZE_MODEL), "known_speaker_names[]"),
        (lambda: check_known_speakers(list("abcde"), ["r"] * 5, diarize=True, model=""), "known_speaker_names[]"),
        (lambda: check_known_speakers(["a", "b"], ["r"], diarize=True, model=""), "known_speaker_names[]"),
        (lambda: check_known_speakers(["a"], ["r", "s"], diarize=True, model=""), "known_speaker_references[]"),
        (lambda: check_known_speakers(["a", "a"], ["r", "s"], diarize=True, model=""), "known_speaker_names[]"),
        (lambda: check_known_speakers([" "], ["r"], diarize=True, model=""), "known_speaker_names[]"),
    ],
)
def test_refusals_name_the_parameter(call, param: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidParameterError) as refused:
        call()
    assert refused.value.param == param


def test_chunking_strategies_openai_sends_are_accepted() -> None:
    for strategy, kind in (("auto", None), (None, "server_vad"), ('{"type": "server_vad", "threshold": 0.4}', None)):
        check_chunking(strategy, kind)
