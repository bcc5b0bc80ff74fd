"""Which stretches of a chunk are classified, and how their estimates add up to one emotion.

Each sentence is classified on its own audio, except that a sentence shorter than `MIN_SPAN_MS` is merged
with its neighbours (the next ones, else the one before) until the merged stretch is long enough; every
sentence of a merged stretch gets its emotion. Why 1.5 s: speech-emotion models are trained on whole
utterances (IEMOCAP's average 4.5 s, EmoDB's 2.8 s, RAVDESS's 3.5 s; emotion2vec pools its frame
features over the utterance), and below about a second a clip is one or two syllables, whose pitch and
energy contour carries little of the emotion; 1.5 s keeps the typical sentence on its own (Whisper's
are mostly 2-6 s) while giving every "Yes." or "OK." the context of its neighbour.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from openasr.core.types import SAMPLE_RATE_HZ, EmotionEstimate, Sentence
from openasr.emotion.labels import EMOTIONS

MIN_SPAN_MS = 1500


@dataclass(frozen=True)
class EmotionSpan:
    """Sentences classified together, and the stretch of audio they cover (ms of the original audio)."""

    begin_ms: int
    end_ms: int
    sentence_ids: tuple[int, ...]


def emotion_spans(sentences: Sequence[Sentence], min_span_ms: int = MIN_SPAN_MS) -> list[EmotionSpan]:
    """Consecutive sentences grouped so that each group but a lone short chunk spans `min_span_ms`."""
    groups: list[list[Sentence]] = []
    current: list[Sentence] = []
    for sentence in sentences:
        current.append(sentence)
        if current[-1].end_ms - current[0].begin_ms >= min_span_ms:
            groups.append(current)
            current = []
    if current:
        if groups:
            groups[-1].extend(current)  # a short tail joins the stretch before it
        else:
            groups.append(current)
    return [EmotionSpan(g[0].begin_ms, g[-1].end_ms, tuple(s.sentence_id for s in g)) for g in groups]


def overall_emotion(estimates: Sequence[EmotionEstimate]) -> str | None:
    """The most probable emotion of all estimates together, each weighted by its duration, so a long
    calm explanation outweighs a short exclamation; None without estimates."""
    if not estimates:
        return None
    totals = dict.fromkeys(EMOTIONS, 0.0)
    for estimate in estimates:
        weight = max(1, estimate.end_ms - estimate.begin_ms)
        for emotion, probability in estimate.probabilities.items():
            totals[emotion] += weight * probability
    return max(totals, key=lambda e: totals[e])


MIN_CLIP_SAMPLES = SAMPLE_RATE_HZ // 2
"""A sentence Whisper timed at (nearly) zero length is widened to half a second of its chunk: classifiers
need some audio, and a convolutional front end refuses clips shorter than its receptive field."""


def span_clip(samples: np.ndarray, start_s: float, span: EmotionSpan) -> np.ndarray:
    """The span's audio out of a chunk's 16 kHz `samples` that start at `start_s` of the original audio,
    at least `MIN_CLIP_SAMPLES` long where the chunk has them."""
    begin = max(0, round((span.begin_ms / 1000 - start_s) * SAMPLE_RATE_HZ))
    end = min(len(samples), round((span.end_ms / 1000 - start_s) * SAMPLE_RATE_HZ))
    if end - begin < MIN_CLIP_SAMPLES:
        middle = (begin + end) // 2
        begin = max(0, min(middle - MIN_CLIP_SAMPLES // 2, len(samples) - MIN_CLIP_SAMPLES))
        end = min(len(samples), begin + MIN_CLIP_SAMPLES)
    return samples[begin:end]
