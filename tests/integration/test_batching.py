"""Batched recognition on real speech: a chunk's result does not depend on what it is batched with, and
concurrent callers sharing one engine each get exactly their own transcript."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from asr_metrics import ErrorCount, score

from audio_files import load_clip, write_long_flac
from openasr import pipeline
from openasr.core.options import TranscribeOptions
from openasr.core.types import Audio
from openasr.engines import whisper_decode
from openasr.engines.base import Recognition, RecognitionItem, RecognitionRequest
from openasr.engines.weights import bundled_model_dir
from openasr.engines.whisper import WhisperEngine
from openasr.runtime.batcher import BatchingEngine, Priority
from openasr.vad.silero import shared_vad
from openasr.vad.timeline import speech_chunks
from speech_clips import Clip, clip, load_clips

SHORT = [c for c in load_clips() if c.name != "two_cities"]  # one recognition window each (≤ 30 s)


@dataclass(frozen=True)
class Case:
    clip: Clip
    request: RecognitionRequest


def _cases() -> list[Case]:
    """Every short clip in its language, with and without word timing, some with a context: the batch
    below mixes all of them, as a busy server's does."""
    cases = [Case(c, RecognitionRequest(language=c.language, words=True)) for c in SHORT]
    cases += [Case(c, RecognitionRequest(language=c.language)) for c in SHORT[::3]]
    cases += [Case(c, RecognitionRequest(language=None)) for c in SHORT[1::3]]  # detected, in a mixed batch
    cases.append(Case(clip("BAC009S0724W0121"), RecognitionRequest(language="zh", prompt="房地产中介协会")))
    cases.append(Case(clip("cards_005"), RecognitionRequest(language="en", prompt="card game: clubs, spades")))
    return cases


@pytest.fixture(scope="module")
def whisper(engine: BatchingEngine) -> WhisperEngine:
    assert isinstance(engine.inner, WhisperEngine)
    return engine.inner


@pytest.fixture(scope="module")
def whisper_without_timestamps(cache_dir: Path) -> WhisperEngine:
    """The same weights decoded without timestamp tokens (`OPENASR_TIMESTAMP_TOKENS=0`)."""
    return WhisperEngine("whisper-base", bundled_model_dir("whisper-base", cache_dir), timestamp_tokens=False)


def _flat(result: Recognition) -> tuple[str, float | None, str, list[tuple[float, float, str]]]:
    segments = result.segments
    words = [(w.start_s, w.end_s, w.text) for s in segments for w in s.words]
    return result.language, result.language_probability, "".join(s.text for s in segments), words


@pytest.mark.parametrize("decoding", ["whisper", "whisper_without_timestamps"])
def test_a_chunk_gets_the_same_text_and_words_batched_or_alone(decoding: str, request: pytest.FixtureRequest) -> None:
    whisper: WhisperEngine = request.getfixturevalue(decoding)
    cases = _cases()
    items = [RecognitionItem(load_clip(c.clip.path), c.request) for c in cases]
    together = whisper.recognize(items)
    # Alone, every case costs its own engine call: the timestamp decoding checks all of them, the other
    # every second one (still every language, with and without words, detected and given, a context).
    checked = range(0, len(items), 1 if decoding == "whisper" else 2)
    alone = [whisper.recognize([items[i]])[0] for i in checked]
    assert [_flat(together[i]) for i in checked] == [_flat(r) for r in alone]
    errors = {"en": ErrorCount(0, 0), "zh": ErrorCount(0, 0)}
    for case, result in zip(cases, together, strict=True):
        segments = result.segments
        assert segments and result.language == case.clip.language, case.clip.name
        if case.request.words:
            assert all(s.words for s in segments)
        errors[case.clip.language] += score(case.clip.reference, "".join(s.text for s in segments), case.clip.language)
    # Without timestamp tokens Whisper base is less accurate on whole clips with their leading silence
    # (README, performance): the point here is that batching changes nothing, in either decoding.
    english_limit = 0.06 if decoding == "whisper" else 0.15
    assert errors["en"].rate <= english_limit and errors["zh"].rate <= 0.3


def test_context_biasing_still_applies_inside_a_mixed_batch(whisper: WhisperEngine) -> None:
    samples = load_clip(clip("BAC009S0724W0121").path)
    plain, biased = whisper.recognize(
        [
            RecognitionItem(samples, RecognitionRequest(language="zh")),
            RecognitionItem(samples, RecognitionRequest(language="zh", prompt="房地产中介协会")),
        ]
    )
    assert "房地产" not in "".join(s.text for s in plain.segments)
    assert "房地产" in "".join(s.text for s in biased.segments)


@pytest.fixture
def shared(whisper: WhisperEngine) -> Iterator[BatchingEngine]:
    """A batcher that waits long enough (0.3 s) for chunks of different callers to meet in one batch."""
    batcher = BatchingEngine(whisper, max_batch=8, max_wait_s=0.3)
    yield batcher
    batcher.close()


def test_concurrent_callers_get_their_own_transcripts(engine: BatchingEngine, shared: BatchingEngine) -> None:
    files = [clip(name) for name in ("0870", "cards_002", "BAC009S0724W0121", "beckett", "0920", "cards_004")]
    options = {
        c.name: TranscribeOptions(words=True, context="房地产中介协会" if c.language == "zh" else "") for c in files
    }
    expected = {c.name: pipeline.run(c.path, options[c.name], engine) for c in files}
    barrier = threading.Barrier(len(files))
    got: dict[str, str] = {}
    words: dict[str, list[tuple[int, int, str]]] = {}

    def caller(c: Clip, priority: Priority) -> None:
        barrier.wait()
        transcript = pipeline.run(c.path, options[c.name], shared, priority=priority)
        got[c.name] = transcript.text
        words[c.name] = [(w.begin_ms, w.end_ms, w.text) for s in transcript.channels[0].sentences for w in s.words]

    threads = [
        threading.Thread(target=caller, args=(c, Priority.INTERACTIVE if i % 3 == 0 else Priority.BULK))
        for i, c in enumerate(files)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert got == {name: t.text for name, t in expected.items()}
    assert words == {
        name: [(w.begin_ms, w.end_ms, w.text) for s in t.channels[0].sentences for w in s.words]
        for name, t in expected.items()
    }
    for c in files:
        assert score(c.reference, got[c.name], c.language).rate <= 0.3, c.name
    stats = shared.stats
    assert stats.chunks == len(files) and stats.batches < len(files)  # callers really shared batches


def test_a_long_file_is_recognised_in_batches(whisper: WhisperEngine, tmp_path: Path) -> None:
    """two_cities (44 s) plus the 13 one-window clips as one file: its chunks fill batches, and the text
    is exactly the text of one-chunk-at-a-time recognition."""
    pieces = [load_clip(c.path) for c in load_clips("en")]
    gap = np.zeros(16000 * 3, dtype=np.float32)
    path = write_long_flac(tmp_path / "long.flac", [p for piece in pieces for p in (piece, gap)])
    options = TranscribeOptions(words=True)
    one_by_one = BatchingEngine(whisper, max_batch=1)
    batched = BatchingEngine(whisper, max_batch=8)
    try:
        alone = pipeline.run(path, options, one_by_one)
        together = pipeline.run(path, options, batched)
    finally:
        one_by_one.close()
        batched.close()
    assert together.text == alone.text
    assert together.channels[0].sentences == alone.channels[0].sentences
    assert batched.stats.mean_batch > 2 and one_by_one.stats.mean_batch == 1


def test_a_stream_gets_its_first_delta_while_bulk_work_is_still_queued(whisper: WhisperEngine, tmp_path: Path) -> None:
    """An async-style caller floods the batcher with a long file; a sync stream started after it gets its
    first chunk back before that file is done: interactive chunks go ahead of queued bulk ones."""
    gap = np.zeros(16000 * 3, dtype=np.float32)
    bulk_file = write_long_flac(tmp_path / "bulk.flac", [p for c in SHORT for p in (load_clip(c.path), gap)] * 2)
    shared = BatchingEngine(whisper, max_batch=4)
    bulk_done = threading.Event()

    def bulk() -> None:
        pipeline.run(bulk_file, TranscribeOptions(), shared, priority=Priority.BULK)
        bulk_done.set()

    worker = threading.Thread(target=bulk)
    worker.start()
    try:
        while shared.stats.chunks == 0:  # the bulk file's chunks are being recognised
            time.sleep(0.01)
        interactive = pipeline.open(clip("two_cities").path, TranscribeOptions(), shared, priority=Priority.INTERACTIVE)
        stream = interactive.stream()
        first = next(stream)
        assert not bulk_done.is_set(), "the stream waited for the whole bulk file"
        assert "best of times" in first.text
        rest = list(stream)
        assert rest, "two_cities (44 s) is more than one chunk"
    finally:
        worker.join(timeout=300)
        shared.close()
    assert bulk_done.is_set()


@pytest.mark.parametrize("decoding", ["whisper", "whisper_without_timestamps"])
def test_a_chunk_with_nothing_heard_after_its_last_word_is_decoded_in_one_window(
    decoding: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A window that ends on a closed segment is decoded again from its last word only where the VAD heard
    speech after that word. Without timestamp tokens every window ends so: each chunk used to cost a second
    30 s window over its own trailing silence, which the decoder then dropped as no speech."""
    whisper: WhisperEngine = request.getfixturevalue(decoding)
    encoded: list[int] = []
    encode = whisper_decode._encode
    monkeypatch.setattr(
        whisper_decode, "_encode", lambda model, windows: encoded.append(len(windows)) or encode(model, windows)
    )
    for c in (clip("0870"), clip("0920"), clip("beckett")):
        samples = np.concatenate([load_clip(c.path), np.zeros(24_000, np.float32)])  # 1.5 s of silence after
        (chunk,) = speech_chunks([Audio(samples)], shared_vad())
        speech = tuple((s.start_s - chunk.start_s, s.end_s - chunk.start_s) for s in chunk.speech)
        encoded.clear()
        (result,) = whisper.recognize([RecognitionItem(chunk.audio.samples, RecognitionRequest("en"), speech)])
        assert encoded == [1], (c.name, encoded)
        assert score(c.reference, "".join(s.text for s in result.segments), "en").rate <= 0.15, c.name
