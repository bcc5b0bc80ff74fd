"""What every emotion classifier offers: a batch of 16 kHz mono float32 clips in, one `EmotionScores`
per clip out, already in the service's seven classes (see `labels`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class EmotionScores:
    label: str
    probabilities: Mapping[str, float]

    @classmethod
    def from_probabilities(cls, probabilities: Mapping[str, float]) -> EmotionScores:
        return cls(max(probabilities, key=lambda e: probabilities[e]), dict(probabilities))


class EmotionClassifier(Protocol):
    name: str

    def classify(self, clips: Sequence[np.ndarray]) -> list[EmotionScores]:
        """One result per clip, in order; a clip's result never depends on the others in the batch."""
        ...
