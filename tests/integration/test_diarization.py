"""Speaker diarization on real speech: CAM++ embeddings of the committed clips' speakers, and mixes of
them (bench/speaker_mixes.py: turns of 2–15 s, gaps of 0–1 s) through the whole pipeline.

One 3-speaker mix is recognised once per module; the automatic count, a given `speaker_count` (the same
windows re-clustered) and known speakers are checked on it. Scores are the bench's (`speaker_mixes`)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from speaker_mixes import TEST_SPEAKERS, Mix, build_mix, diarization_error_rate, sentence_accuracy, speaker_streams
from speaker_mixes import write_wav as write_mix

from openasr import pipeline
from openasr.core.errors import InvalidParameterError
from openasr.core.options import KnownSpeaker, TranscribeOptions
from openasr.core.types import Transcript
from openasr.diarization.clustering import MAX_DIRECT, cluster
from openasr.diarization.embeddings import embed_clip, embed_windows
from openasr.diarization.speakers import find_speakers
from openasr.pipeline import ChunkResult, Transcription
from openasr.pipeline.diarization_stage import DIARIZATION
from openasr.postprocess.formats import render_json
from openasr.runtime.engine_pool import EnginePool

SPEAKERS = ("austen", "dickens", "aishell_768")


@pytest.fixture(scope="module")
def streams() -> dict[str, np.ndarray]:
    return speaker_streams(TEST_SPEAKERS)


@pytest.fixture(scope="module")
def mix(streams: dict[str, np.ndarray]) -> Mix:
    return build_mix({n: streams[n] for n in SPEAKERS}, 40.0, seed=3)


@pytest.fixture(scope="module")
def recognised(
    mix: Mix, engine_pool: EnginePool, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Transcription, list[ChunkResult], Transcript]:
    path = write_mix(tmp_path_factory.mktemp("mix") / "mix.wav", mix.samples)
    recognition = pipeline.start(path, TranscribeOptions(diarize=True), engine_pool)
    chunks = [c.resolved() for c in recognition.stream(None)]
    return recognition, chunks, recognition.assemble([chunks])


def _sentences(t: Transcript) -> list[tuple[float, float, int | None]]:
    return [(s.begin_ms / 1000, s.end_ms / 1000, s.speaker_id) for s in t.channels[0].sentences]


def _kept(chunks: list[ChunkResult]) -> list[dict[str, object]]:
    return [c.stage_data[DIARIZATION] for c in chunks if DIARIZATION in c.stage_data]


def test_embeddings_separate_the_speakers(streams: dict[str, np.ndarray]) -> None:
    """Windows of one speaker are closer to their own speaker's centroid than to any other's."""
    centroids, windows = {}, {}
    for name, samples in streams.items():
        starts = np.arange(0, len(samples) - 24_000, 24_000)[:16]
        windows[name] = embed_windows(samples, np.stack([starts, starts + 24_000], axis=1))
        centroid = windows[name].mean(axis=0)
        centroids[name] = centroid / np.linalg.norm(centroid)
    names = list(streams)
    matrix = np.stack([centroids[n] for n in names])
    right = sum(int(np.sum(np.argmax(windows[n] @ matrix.T, axis=1) == i)) for i, n in enumerate(names))
    assert right / sum(len(w) for w in windows.values()) >= 0.95
    between = matrix @ matrix.T
    assert between[~np.eye(len(names), dtype=bool)].max() < 0.4, between


def test_embed_clip_is_a_unit_vector_of_its_speaker(streams: dict[str, np.ndarray]) -> None:
    a, b = embed_clip(streams["austen"][:80_000]), embed_clip(streams["austen"][80_000:160_000])
    other = embed_clip(streams["dickens"][:80_000])
    assert a.shape == (192,) and np.linalg.norm(a) == pytest.approx(1.0, abs=1e-5)
    assert float(a @ b) > 0.6 > 0.3 > float(a @ other)
    with pytest.raises(ValueError, match="2–10 s"):
        embed_clip(streams["austen"][:16_000])


def test_a_mix_gets_its_speakers(mix: Mix, recognised: tuple[Transcription, list[ChunkResult], Transcript]) -> None:
    _, chunks, transcript = recognised
    sentences = transcript.channels[0].sentences
    assert all(s.speaker_id is not None for s in sentences)
    ids = [s.speaker_id for s in sentences]
    assert ids[0] == 0 and sorted(set(ids)) == list(range(len(set(ids))))  # numbered by first appearance
    assert sentence_accuracy(mix, _sentences(transcript)) >= 0.9
    turns = [(t.begin_ms / 1000, t.end_ms / 1000, t.speaker) for t in find_speakers(_kept(chunks)).turns]
    assert len({who for _, _, who in turns}) == len(SPEAKERS)  # (Whisper may drop a Mandarin turn's text)
    assert diarization_error_rate(mix, turns) <= 0.10
    document = render_json(transcript)
    assert all("speaker_id" in s for s in document["transcripts"][0]["sentences"])


def test_speaker_count_is_honoured(recognised: tuple[Transcription, list[ChunkResult], Transcript]) -> None:
    recognition, chunks, _ = recognised
    for count in (2, 4):
        options = TranscribeOptions(diarize=True, speaker_count=count)
        assert len({t.speaker for t in find_speakers(_kept(chunks), count).turns}) == count
        again = dataclasses.replace(recognition, options=options).assemble([chunks])
        assert len({s.speaker_id for s in again.channels[0].sentences}) <= count


def test_known_speakers_are_named(
    streams: dict[str, np.ndarray], recognised: tuple[Transcription, list[ChunkResult], Transcript], mix: Mix
) -> None:
    recognition, chunks, _ = recognised
    reference = KnownSpeaker("Elinor", tuple(float(x) for x in embed_clip(streams["austen"][-96_000:])))
    stranger = KnownSpeaker("Nobody", tuple(float(x) for x in embed_clip(streams["cards"][:64_000])))
    options = TranscribeOptions(diarize=True, known_speakers=(reference, stranger))
    named = dataclasses.replace(recognition, options=options).assemble([chunks])
    for s in named.channels[0].sentences:
        spoke = max(mix.turns, key=lambda t: min(t[1], s.end_ms / 1000) - max(t[0], s.begin_ms / 1000))[2]
        assert (s.speaker_name == "Elinor") == (spoke == "austen"), (s, spoke)


def test_without_diarize_nothing_changes(engine_pool: EnginePool, tmp_path: Path, mix: Mix) -> None:
    path = write_mix(tmp_path / "short.wav", mix.samples[: 12 * 16_000])
    transcript = pipeline.start(path, TranscribeOptions(), engine_pool).run()
    assert all(s.speaker_id is None and s.speaker_name is None for s in transcript.channels[0].sentences)
    assert all("speaker_id" not in s for s in render_json(transcript)["transcripts"][0]["sentences"])


@pytest.mark.parametrize("count", [0, 21, -1, True, 2.5])
def test_a_bad_speaker_count_names_the_parameter(count: object) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        TranscribeOptions(diarize=True, speaker_count=count)  # type: ignore[arg-type]
    assert caught.value.param == "speaker_count"


def test_more_than_four_known_speakers_are_refused() -> None:
    five = tuple(KnownSpeaker(f"s{i}", (1.0,) + (0.0,) * 191) for i in range(5))
    with pytest.raises(InvalidParameterError) as caught:
        TranscribeOptions(diarize=True, known_speakers=five)
    assert caught.value.param == "known_speaker_names"


def test_a_long_recording_is_clustered_in_two_stages(streams: dict[str, np.ndarray]) -> None:
    """3,000 windows (about 40 minutes of speech) of the real speakers' embeddings in turns of 3–20
    windows: past `MAX_DIRECT` the clustering merges blocks first, and still finds each speaker."""
    pools = []
    for name in ("austen", "dickens", "aishell_768"):
        starts = np.arange(0, len(streams[name]) - 24_000, 12_000)[:24]
        pools.append(embed_windows(streams[name], np.stack([starts, starts + 24_000], axis=1)))
    rng = np.random.default_rng(5)
    rows, truth = [], []
    while len(rows) < 3_000:
        speaker, length = int(rng.integers(3)), int(rng.integers(3, 20))
        rows += list(pools[speaker][rng.integers(len(pools[speaker]), size=length)])
        truth += [speaker] * length
    assert len(rows) > MAX_DIRECT
    labels, expected = cluster(np.array(rows)), np.array(truth)
    assert labels.max() + 1 == 3
    agree = sum(np.bincount(expected[labels == c]).max() for c in range(3))
    assert agree / len(expected) >= 0.98
    assert cluster(np.array(rows), 5).max() + 1 == 5
