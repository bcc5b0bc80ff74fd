"""The emotion classifier behind the same batcher as recognition: every caller's chunks meet in one
classifier call. An item is one chunk's clips (its sentences, short ones merged), so a chunk's emotions
arrive together, as one future."""

from __future__ import annotations

import numpy as np

from openasr.emotion.classifier import EmotionClassifier, EmotionScores
from openasr.runtime.batcher import DEFAULT_MAX_BATCH, DEFAULT_MAX_WAIT_S, Batcher

EmotionItem = tuple[np.ndarray, ...]
EmotionBatcher = Batcher[EmotionItem, tuple[EmotionScores, ...]]


def emotion_batcher(
    classifier: EmotionClassifier, *, max_batch: int = DEFAULT_MAX_BATCH, max_wait_s: float = DEFAULT_MAX_WAIT_S
) -> EmotionBatcher:
    """`max_batch` chunks per classifier call; one dispatcher thread (torch parallelises inside a call)."""

    def classify_chunks(items: list[EmotionItem]) -> list[tuple[EmotionScores, ...]]:
        scores = classifier.classify([clip for item in items for clip in item])
        out, start = [], 0
        for item in items:
            out.append(tuple(scores[start : start + len(item)]))
            start += len(item)
        return out

    return Batcher(f"emotion-{classifier.name}", classify_chunks, max_batch=max_batch, max_wait_s=max_wait_s)
