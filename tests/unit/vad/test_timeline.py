"""From VAD probabilities to recognition chunks: constructed probabilities for the rules, a real clip
for streaming invariance, and the word-time correction against the VAD's speech stretches."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from audio_files import load_clip
from openasr.core.types import Audio, SpeechSpan, Word
from openasr.vad.silero import FRAME_SAMPLES, shared_vad
from openasr.vad.timeline import (
    ChunkPacker,
    PaddedSpan,
    SpanSegmenter,
    SpeechChunk,
    VadOptions,
    fit_words_to_speech,
    speech_chunks,
)
from speech_clips import clip

FRAME_S = FRAME_SAMPLES / 16_000  # 32 ms
OPTIONS = VadOptions()
PAD_S = OPTIONS.speech_pad_ms / 1000


def frames(*runs: tuple[int, float]) -> np.ndarray:
    """Probabilities from (frame count, probability) runs."""
    return np.concatenate([np.full(n, p, dtype=np.float32) for n, p in runs])


def segment(probs: np.ndarray, options: VadOptions = OPTIONS, chunk: int | None = None) -> list[SpeechSpan]:
    segmenter = SpanSegmenter(options)
    step = chunk or len(probs)
    spans = [s for i in range(0, len(probs), step) for s in segmenter.push(probs[i : i + step])]
    return spans + segmenter.finish()


def test_spans_are_padded_without_overlapping_and_remember_the_unpadded_speech() -> None:
    # 0.96 s silence, 1.92 s speech, 0.448 s pause (> 300 ms), 1.6 s speech, 3.2 s silence
    spans = segment(frames((30, 0.0), (60, 0.9), (14, 0.1), (50, 0.9), (100, 0.0)))
    assert len(spans) == 2
    first, second = spans
    assert isinstance(first, PaddedSpan) and isinstance(second, PaddedSpan)
    assert first.speech_start_s == pytest.approx(30 * FRAME_S)
    assert first.speech_end_s == pytest.approx(90 * FRAME_S)
    assert (first.start_s, first.end_s) == pytest.approx((30 * FRAME_S - PAD_S, 90 * FRAME_S + PAD_S))
    assert second.speech_start_s == pytest.approx(104 * FRAME_S)
    assert second.start_s == pytest.approx(first.end_s)  # the two pads would overlap: they meet instead
    assert second.end_s == pytest.approx(154 * FRAME_S + PAD_S)


def test_a_short_dip_or_an_uncertain_stretch_does_not_end_speech() -> None:
    dip = segment(frames((20, 0.0), (40, 0.9), (5, 0.1), (40, 0.9), (40, 0.0)))  # 160 ms < 300 ms
    assert len(dip) == 1
    # 0.4 lies between the end threshold (0.35) and the start threshold (0.5): speech goes on.
    uncertain = segment(frames((20, 0.0), (40, 0.9), (30, 0.4), (40, 0.9), (40, 0.0)))
    assert len(uncertain) == 1
    assert uncertain[0].end_s - uncertain[0].start_s == pytest.approx(110 * FRAME_S + 2 * PAD_S)


def test_bursts_shorter_than_min_speech_are_dropped() -> None:
    assert segment(frames((20, 0.0), (7, 0.95), (60, 0.0))) == []  # 224 ms < 250 ms
    assert len(segment(frames((20, 0.0), (9, 0.95), (60, 0.0)))) == 1  # 288 ms


def test_speech_at_the_very_start_and_end_is_clamped_to_the_audio() -> None:
    (span,) = segment(frames((50, 0.9)))
    assert span.start_s == 0.0 and span.end_s == pytest.approx(50 * FRAME_S)


@pytest.mark.parametrize("dips", [False, True])
def test_long_speech_is_cut_into_spans_that_fit_a_chunk(dips: bool) -> None:
    run = (30, 0.9), (4, 0.2) if dips else (4, 0.9)  # 128 ms dips: shorter than a pause, long enough to cut at
    probs = frames((20, 0.0), *(run * 100), (50, 0.0))  # about 109 s of speech
    spans = segment(probs)
    assert len(spans) >= 4
    assert all(s.end_s - s.start_s <= OPTIONS.max_chunk_s + 1e-9 for s in spans)
    assert all(a.end_s <= b.start_s + 1e-9 for a, b in itertools.pairwise(spans))
    assert spans[0].start_s == pytest.approx(20 * FRAME_S - PAD_S)
    last_speech_frame = 20 + 3400 - (4 if dips else 0)  # with dips the speech ends before the last one
    assert spans[-1].end_s == pytest.approx(last_speech_frame * FRAME_S + PAD_S)
    if dips:  # cut at a dip: the speech between spans is not split mid-phrase
        assert all(isinstance(s, PaddedSpan) and s.speech_end_s < s.end_s for s in spans[:-1])


def _markov_probabilities(seed: int, n: int) -> np.ndarray:
    """Random speech/silence runs with noisy probabilities: 10 minutes of 32 ms frames."""
    rng = np.random.default_rng(seed)
    out = np.empty(n, dtype=np.float32)
    speaking = False
    for i in range(n):
        if rng.random() < (0.01 if speaking else 0.02):
            speaking = not speaking
        out[i] = np.clip(rng.normal(0.85 if speaking else 0.15, 0.2), 0, 1)
    return out


@pytest.mark.parametrize("seed", range(5))
def test_random_probabilities_keep_every_invariant(seed: int) -> None:
    probs = _markov_probabilities(seed, 18_750)
    options = VadOptions(max_chunk_s=12.0, max_gap_s=1.0)
    spans = segment(probs, options, chunk=97)
    assert spans == segment(probs, options)  # the block size never matters
    for a, b in itertools.pairwise(spans):
        assert a.end_s <= b.start_s + 1e-9
    for s in spans:
        assert isinstance(s, PaddedSpan)
        assert s.start_s <= s.speech_start_s < s.speech_end_s <= s.end_s
        assert s.end_s - s.start_s <= options.max_chunk_s + 1e-9
    packer = ChunkPacker(options)
    chunks = [c for s in spans for c in packer.push(s)] + packer.finish()
    assert [s for c in chunks for s in c] == spans
    for c in chunks:
        assert c[-1].end_s - c[0].start_s <= options.max_chunk_s + 1e-9
        assert all(b.start_s - a.end_s <= options.max_gap_s for a, b in itertools.pairwise(c))
    for a, b in itertools.pairwise(chunks):
        fits = b[-1].end_s - a[0].start_s <= options.max_chunk_s and b[0].start_s - a[-1].end_s <= options.max_gap_s
        assert not fits  # chunks are only cut when the next span would not fit


def test_packer_cuts_at_long_pauses_and_at_the_chunk_length() -> None:
    packer = ChunkPacker(VadOptions(max_chunk_s=10.0, max_gap_s=2.0))
    spans = [
        SpeechSpan(0.0, 3.0),
        SpeechSpan(4.0, 6.0),
        SpeechSpan(9.0, 9.5),
        SpeechSpan(10.0, 12.0),
        SpeechSpan(12.5, 19.0),
        SpeechSpan(19.5, 21.0),
    ]
    chunks = [c for s in spans for c in packer.push(s)]
    assert packer.advance(21.5) == []  # a 0.5 s pause: the open chunk may still grow
    chunks += packer.advance(23.5)  # 2.5 s of silence after it: released without waiting for more input
    assert packer.finish() == []
    assert chunks == [
        (SpeechSpan(0.0, 3.0), SpeechSpan(4.0, 6.0)),  # 3 s pause before 9.0
        (SpeechSpan(9.0, 9.5), SpeechSpan(10.0, 12.0), SpeechSpan(12.5, 19.0)),  # exactly 10 s: fits
        (SpeechSpan(19.5, 21.0),),  # 21.0 - 9.0 > 10 s
    ]


@pytest.fixture(scope="module")
def long_speech() -> np.ndarray:
    """two_cities (44 s, forced cuts at the chunk length) then beckett (10 s of phrases and pauses)."""
    return np.concatenate(
        [load_clip(clip("two_cities").path), np.zeros(48_000, np.float32), load_clip(clip("beckett").path)]
    )


def _blocks(samples: np.ndarray, block_s: float) -> list[Audio]:
    n = max(1, int(block_s * 16_000))
    return [Audio(samples[i : i + n], start_s=i / 16_000) for i in range(0, len(samples), n)]


def _summary(chunks: list[SpeechChunk]) -> list[tuple[float, float, tuple[SpeechSpan, ...]]]:
    return [(round(c.start_s, 6), round(c.end_s, 6), c.spans) for c in chunks]


def test_chunks_of_real_speech_are_identical_for_any_block_size(long_speech: np.ndarray) -> None:
    results = {b: list(speech_chunks(_blocks(long_speech, b), shared_vad())) for b in (0.05, 0.7, 3.3, 30.0, 120.0)}
    reference = results[30.0]
    assert len(reference) >= 3
    for chunks in results.values():
        assert _summary(chunks) == _summary(reference)
        for a, b in zip(chunks, reference, strict=True):
            np.testing.assert_array_equal(a.audio.samples, b.audio.samples)
    margin = OPTIONS.chunk_margin_s
    for c in reference:
        assert c.spans[-1].end_s - c.spans[0].start_s <= OPTIONS.max_chunk_s + 1e-6
        assert c.end_s - c.start_s <= OPTIONS.max_chunk_s + 2 * margin + 1e-6 < 30.0  # Whisper's window
        start = round(c.start_s * 16_000)
        np.testing.assert_array_equal(c.audio.samples, long_speech[start : start + len(c.audio.samples)])
        assert all(c.start_s - 1e-4 <= s.start_s <= s.end_s <= c.end_s + 1e-4 for s in c.speech)
    # Each chunk's audio reaches up to the margin into the non-speech around its spans: never into the
    # chunk before it, never past half the pause to the next one, never outside the audio.
    duration_s = len(long_speech) / 16_000
    for i, c in enumerate(reference):
        previous_end_s = reference[i - 1].end_s if i else 0.0
        next_start_s = reference[i + 1].spans[0].start_s if i + 1 < len(reference) else duration_s + margin
        first, last = c.spans[0].start_s, c.spans[-1].end_s
        assert c.start_s == pytest.approx(max(first - margin, previous_end_s), abs=1e-4)
        assert c.end_s == pytest.approx(min(last + margin, (last + next_start_s) / 2, duration_s), abs=1e-4)
    assert any(c.start_s < c.spans[0].start_s - 0.5 for c in reference)  # the margin is really used
    assert all(a.end_s <= b.start_s + 1e-6 for a, b in itertools.pairwise(reference))


def test_blocks_starting_later_keep_original_times(long_speech: np.ndarray) -> None:
    offset = 5.0
    shifted = [Audio(b.samples, start_s=b.start_s + offset) for b in _blocks(long_speech, 10.0)]
    base = list(speech_chunks(_blocks(long_speech, 10.0), shared_vad()))
    moved = list(speech_chunks(shifted, shared_vad()))
    assert [round(c.start_s - offset, 3) for c in moved] == [round(c.start_s, 3) for c in base]


def test_silence_yields_no_chunks() -> None:
    assert list(speech_chunks(_blocks(np.zeros(16_000 * 20, np.float32), 5.0), shared_vad())) == []
    assert list(speech_chunks([], shared_vad())) == []


def _w(begin_ms: int, end_ms: int, text: str) -> Word:
    return Word(begin_ms, end_ms, text)


SPEECH = [SpeechSpan(1.0, 2.0), SpeechSpan(3.5, 5.0)]


def test_words_starting_in_the_padding_start_with_the_speech() -> None:
    fitted = fit_words_to_speech([_w(800, 1300, " Ten"), _w(1300, 1900, " clubs.")], SPEECH)
    assert [(w.begin_ms, w.end_ms) for w in fitted] == [(1000, 1300), (1300, 2000)]


def test_a_word_straddling_a_pause_belongs_to_the_speech_after_it() -> None:
    """Whisper gives the pause to the next word: " eight" 1.95-3.6 s is really said from 3.5 s on."""
    fitted = fit_words_to_speech([_w(1000, 1950, " five,"), _w(1950, 3600, " eight"), _w(3600, 4200, " of")], SPEECH)
    assert [(w.begin_ms, w.end_ms) for w in fitted] == [(1000, 2000), (3500, 3600), (3600, 5000)]


def test_the_last_word_of_a_stretch_ends_with_the_speech_but_not_much_later() -> None:
    fitted = fit_words_to_speech([_w(1000, 1500, " Go")], SPEECH)
    assert fitted[0].end_ms == 2000
    far = fit_words_to_speech([_w(1000, 1200, " Go")], [SpeechSpan(1.0, 4.0)], max_end_stretch_s=1.0)
    assert far[0].end_ms == 2200


def test_words_in_a_pause_go_to_the_nearest_speech_and_never_backwards() -> None:
    words = [_w(2100, 2300, " a"), _w(2900, 3100, " b"), _w(2400, 2500, " c")]
    fitted = fit_words_to_speech(words, SPEECH)
    # " c" lies nearer the first stretch but follows " b": it stays in the second one, stretched by at
    # most 1 s from where it was clamped.
    assert [(w.begin_ms, w.end_ms) for w in fitted] == [(2000, 2000), (3500, 3500), (3500, 4500)]
    assert [w.text for w in fitted] == [" a", " b", " c"]


def test_without_speech_stretches_words_are_unchanged() -> None:
    words = [_w(0, 100, " x")]
    assert fit_words_to_speech(words, []) == words
    assert fit_words_to_speech([], SPEECH) == []
