"""Which sentences are classified together, and how estimates add up to one emotion."""

from __future__ import annotations

import numpy as np

from audio_files import load_clip
from openasr.core.types import EmotionEstimate, Sentence
from openasr.emotion.labels import EMOTIONS
from openasr.emotion.spans import MIN_CLIP_SAMPLES, MIN_SPAN_MS, EmotionSpan, emotion_spans, overall_emotion, span_clip
from speech_clips import clip


def sentence(i: int, begin_ms: int, end_ms: int) -> Sentence:
    return Sentence(i, begin_ms, end_ms, f"s{i}", "en")


def test_long_sentences_are_classified_alone() -> None:
    spans = emotion_spans([sentence(0, 0, 2000), sentence(1, 2100, 5000)])
    assert [(s.begin_ms, s.end_ms, s.sentence_ids) for s in spans] == [(0, 2000, (0,)), (2100, 5000, (1,))]


def test_short_sentences_merge_with_the_next_until_long_enough() -> None:
    spans = emotion_spans(
        [sentence(0, 0, 400), sentence(1, 500, 900), sentence(2, 1000, 3000), sentence(3, 3100, 6000)]
    )
    assert [s.sentence_ids for s in spans] == [(0, 1, 2), (3,)]
    assert spans[0].end_ms - spans[0].begin_ms >= MIN_SPAN_MS


def test_a_short_last_sentence_joins_the_one_before() -> None:
    spans = emotion_spans([sentence(4, 0, 3000), sentence(5, 3100, 3500)])
    assert [(s.begin_ms, s.end_ms, s.sentence_ids) for s in spans] == [(0, 3500, (4, 5))]


def test_a_lone_short_sentence_is_still_classified() -> None:
    assert [s.sentence_ids for s in emotion_spans([sentence(0, 0, 300)])] == [(0,)]
    assert emotion_spans([]) == []


def estimate(begin_ms: int, end_ms: int, **probabilities: float) -> EmotionEstimate:
    full = dict.fromkeys(EMOTIONS, 0.0) | probabilities
    return EmotionEstimate(begin_ms, end_ms, max(full, key=lambda e: full[e]), full)


def test_the_overall_emotion_weights_each_estimate_by_its_duration() -> None:
    long_calm = estimate(0, 9000, neutral=0.6, angry=0.4)
    short_shout = estimate(9000, 10000, angry=0.9, neutral=0.1)
    assert overall_emotion([long_calm, short_shout]) == "neutral"
    assert overall_emotion([estimate(0, 1000, neutral=0.6, angry=0.4), short_shout]) == "angry"
    assert overall_emotion([]) is None


def test_a_span_is_clipped_out_of_its_chunk_in_original_audio_time() -> None:
    samples = load_clip(clip("0870").path)  # a real 16 kHz chunk, taken to start 10 s into the recording
    assert np.array_equal(span_clip(samples, 10.0, EmotionSpan(11_000, 12_500, (0,))), samples[16_000:40_000])


def test_a_span_timed_at_zero_length_is_widened_to_half_a_second_inside_its_chunk() -> None:
    samples = load_clip(clip("0870").path)
    middle = span_clip(samples, 10.0, EmotionSpan(12_000, 12_000, (0,)))
    assert np.array_equal(middle, samples[32_000 - MIN_CLIP_SAMPLES // 2 : 32_000 + MIN_CLIP_SAMPLES // 2])
    at_start = span_clip(samples, 10.0, EmotionSpan(10_000, 10_010, (0,)))
    assert np.array_equal(at_start, samples[:MIN_CLIP_SAMPLES])
    end_ms = 10_000 + len(samples) * 1000 // 16_000
    assert np.array_equal(span_clip(samples, 10.0, EmotionSpan(end_ms, end_ms, (0,))), samples[-MIN_CLIP_SAMPLES:])
