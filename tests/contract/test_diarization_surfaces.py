"""Who spoke when, through OpenAI's SDK and openasr's CLI and Python API, on a real two-speaker
conversation (tests/speaker_mix.py: real speech, A B A B, no overlap) against a real server on
loopback: `gpt-4o-transcribe-diarize` with `diarized_json` (and its stream), known speakers named by
their reference clips, speakers in subtitles, the model list, and every bad input a 400 naming its
parameter."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import openai
import pytest
import requests
from openai import OpenAI
from openai.types.audio import TranscriptionDiarized, TranscriptionTextSegmentEvent
from openai_schema import assert_conforms
from typer.testing import CliRunner, Result

from audio_files import SAMPLE_RATE_HZ, load_clip, write_audio
from live_server import KEY, live_server, server_settings
from openasr.cli.main import app as cli
from openasr.engines.backend import DIARIZATION
from openasr.postprocess.formats import render
from speaker_mix import Mix, reference_clip, two_speaker_mix

ENGINE = "whisper-tiny.en"
"""The fastest bundled model: these tests are about speakers, not about the words."""
DIARIZE = "gpt-4o-transcribe-diarize"


@pytest.fixture(scope="module")
def mix(tmp_path_factory: pytest.TempPathFactory) -> Mix:
    return two_speaker_mix(tmp_path_factory.mktemp("mix") / "conversation.wav")


@pytest.fixture(scope="module")
def references(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Each speaker's reference clip as a data URL, as OpenAI's SDK users send it."""
    folder = tmp_path_factory.mktemp("refs")
    return {s: data_url(reference_clip(s, folder / f"{s}.wav")) for s in ("A", "B")}


@pytest.fixture(scope="module")
def oa(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenAI]:
    settings = server_settings(tmp_path_factory.mktemp("srv"), default_model=ENGINE)
    with live_server(settings) as url:
        yield OpenAI(api_key=KEY, base_url=f"{url}/v1", max_retries=0, timeout=300)


@pytest.fixture(scope="module")
def diarized(oa: OpenAI, mix: Mix) -> TranscriptionDiarized:
    with mix.path.open("rb") as f:
        return oa.audio.transcriptions.create(model=DIARIZE, file=f, response_format="diarized_json")


def data_url(path: Path) -> str:
    return f"data:audio/wav;base64,{base64.b64encode(path.read_bytes()).decode()}"


def test_diarized_json_attributes_each_sentence_to_its_speaker(diarized: TranscriptionDiarized, mix: Mix) -> None:
    assert isinstance(diarized, TranscriptionDiarized) and diarized.task == "transcribe"
    assert_conforms("CreateTranscriptionResponseDiarizedJson", diarized.model_dump(exclude_unset=True))
    assert diarized.duration == pytest.approx(mix.turns[-1].end_s, abs=0.05)
    assert len(diarized.segments) >= 4 and {s.speaker for s in diarized.segments} == {"A", "B"}
    assert diarized.segments[0].speaker == "A"  # letters in order of first appearance
    share, _ = mix.attribution([(s.start, s.end, s.speaker) for s in diarized.segments])
    assert share >= 0.9, diarized.segments
    assert " ".join(s.text for s in diarized.segments) == " ".join(diarized.text.split())


def test_known_speakers_are_named_by_their_references(oa: OpenAI, mix: Mix, references: dict[str, str]) -> None:
    with mix.path.open("rb") as f:
        named = oa.audio.transcriptions.create(
            model=DIARIZE,
            file=f,
            response_format="diarized_json",
            known_speaker_names=["dickens", "austen"],
            known_speaker_references=[references["B"], references["A"]],
            chunking_strategy="auto",
        )
    assert {s.speaker for s in named.segments} == {"austen", "dickens"}
    share, mapping = mix.attribution([(s.start, s.end, s.speaker) for s in named.segments])
    assert mapping == {"austen": "A", "dickens": "B"} and share >= 0.9, named.segments


def test_a_stream_sends_deltas_then_one_segment_event_per_sentence(
    oa: OpenAI, mix: Mix, diarized: TranscriptionDiarized
) -> None:
    with mix.path.open("rb") as f:
        events = list(
            oa.audio.transcriptions.create(
                model=DIARIZE, file=f, response_format="diarized_json", stream=True, chunking_strategy="auto"
            )
        )
    kinds = [e.type for e in events]
    assert kinds[0] == "transcript.text.delta" and kinds[-1] == "transcript.text.done"
    segments = [e for e in events if isinstance(e, TranscriptionTextSegmentEvent)]
    assert kinds.index("transcript.text.segment") > max(i for i, k in enumerate(kinds) if k.endswith("delta"))
    for event in events:
        name = f"TranscriptText{event.type.rsplit('.', 1)[1].capitalize()}Event"
        assert_conforms(name, event.model_dump(exclude_unset=True))
    assert [s.model_dump() for s in segments] == [s.model_dump() for s in diarized.segments]


def test_json_keeps_working_for_the_diarizing_model(oa: OpenAI, mix: Mix, diarized: TranscriptionDiarized) -> None:
    """`json` (and `text`) answer as for any model, with the same text; speakers are in `diarized_json`,
    `srt` and `vtt` (rendered as the CLI renders them: the Python API test below)."""
    with mix.path.open("rb") as f:
        plain = oa.audio.transcriptions.create(model=DIARIZE, file=f, response_format="json")
    assert plain.text == diarized.text and "speaker" not in json.dumps(plain.model_dump())


def test_the_model_list_offers_the_diarizing_model_for_transcription_only(oa: OpenAI) -> None:
    cards = {m.id: m for m in oa.models.list()}
    assert cards[DIARIZE].model_extra == {"engine": ENGINE, "surfaces": ["audio.transcriptions"]}


def clip_url(tmp_path: Path, seconds: float) -> str:
    samples = load_clip(reference_clip("A", tmp_path / "a.wav"))
    looped = np.resize(samples, int(seconds * SAMPLE_RATE_HZ))
    return data_url(write_audio(tmp_path / f"{seconds}.wav", looped, "wav"))


def test_bad_inputs_are_400s_naming_the_parameter(oa: OpenAI, mix: Mix, tmp_path: Path) -> None:
    good = clip_url(tmp_path, 4.0)
    not_audio = f"data:audio/wav;base64,{base64.b64encode(b'this is not audio' * 50).decode()}"
    names, refs = "known_speaker_names", "known_speaker_references"
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({names: list("abcde"), refs: [good] * 5}, f"{names}[]", "4"),
        ({names: ["a", "b"], refs: [good]}, f"{names}[]", "one"),
        ({names: ["a"], refs: [not_audio]}, f"{refs}[]", "[0]"),
        ({names: ["a"], refs: ["https://example.com/a.wav"]}, f"{refs}[]", "data URL"),
        ({names: ["a"], refs: [clip_url(tmp_path, 1.0)]}, f"{refs}[]", "1.0 s"),
        ({names: ["a"], refs: [clip_url(tmp_path, 12.0)]}, f"{refs}[]", "12.0 s"),
        ({"chunking_strategy": {"type": "semantic"}}, "chunking_strategy", "server_vad"),
        ({"model": "whisper-1", "response_format": "diarized_json"}, "response_format", DIARIZE),
        ({"model": "whisper-1", names: ["a"], refs: [good]}, f"{names}[]", DIARIZE),
    ]
    for fields, param, words in cases:
        with pytest.raises(openai.BadRequestError) as refused, mix.path.open("rb") as f:
            oa.audio.transcriptions.create(**{"model": DIARIZE, "file": f, **fields})  # type: ignore[call-overload]
        body = refused.value.body
        assert isinstance(body, dict) and body["param"] == param and words in body["message"], (fields, body)


def run_cli(*args: str | Path) -> Result:
    """`openasr transcribe …` in this process (the engine loads as in a shell, without a new interpreter)."""
    return CliRunner().invoke(cli, ["transcribe", *map(str, args), "--model", ENGINE])


def test_cli_json_has_a_speaker_id_per_sentence_and_word(mix: Mix) -> None:
    done = run_cli(mix.path, "--diarize", "--words", "-f", "json")
    assert done.exit_code == 0, done.output
    sentences = json.loads(done.stdout)["transcripts"][0]["sentences"]
    assert sentences[0]["speaker_id"] == 0 and {s["speaker_id"] for s in sentences} == {0, 1}
    assert all(w["speaker_id"] == s["speaker_id"] for s in sentences for w in s["words"])
    spans = [(s["begin_time"] / 1000, s["end_time"] / 1000, str(s["speaker_id"])) for s in sentences]
    assert mix.attribution(spans)[0] >= 0.9, sentences


def test_cli_refuses_a_speaker_count_out_of_range(mix: Mix) -> None:
    refused = run_cli(mix.path, "--speakers", "21", "-f", "vtt")
    assert refused.exit_code == 1 and isinstance(refused.exception, SystemExit)  # an error line, no traceback
    assert "speaker_count" in refused.stderr


def test_python_api_diarizes_with_a_speaker_count_and_subtitles_name_the_speakers(mix: Mix) -> None:
    """`render(t, fmt)` is what `openasr transcribe -f fmt` prints: SubRip prefixes, WebVTT voices."""
    import openasr

    try:
        result = openasr.transcribe(mix.path, model=ENGINE, diarize=True, speakers=2)
    finally:
        openasr.close()
    sentences = result.channels[0].sentences
    assert sentences[0].speaker_id == 0 and {s.speaker_id for s in sentences} == {0, 1}
    spans = [(s.begin_ms / 1000, s.end_ms / 1000, str(s.speaker_id)) for s in sentences]
    assert mix.attribution(spans)[0] >= 0.9
    expected = [f"Speaker {s.speaker_id + 1}" for s in sentences if s.text.strip()]
    srt = [line.split(": ")[0] for line in render(result, "srt").splitlines() if line.startswith("Speaker ")]
    vtt = [line[3:].split(">")[0] for line in render(result, "vtt").splitlines() if line.startswith("<v ")]
    assert srt == expected and vtt == expected


def test_docs_and_models_say_diarization_is_active_and_what_it_costs(oa: OpenAI) -> None:
    base = str(oa.base_url).rstrip("/").removesuffix("/v1")
    oa.models.list()
    info = requests.get(f"{base}/openapi.json", timeout=30).json()["info"]
    assert info["x-capabilities"]["diarization"] is True
    assert "- speaker diarization: active" in info["description"] and "% of one core" in info["description"]
    listed = CliRunner().invoke(cli, ["models"])
    assert listed.exit_code == 0 and DIARIZATION in listed.stdout, listed.output
