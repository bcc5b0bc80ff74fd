"""A two-speaker conversation of real speech for the diarization surface tests, built from committed clips.

Speaker A is the LibriVox reader of the Sense and Sensibility clips, speaker B the reader of A Tale of
Two Cities (CAM++ cosine similarity between them under 0.15, within each over 0.84). Four turns of
5–7 s alternate A B A B (26 s of speech) with 0.4–0.7 s of silence between them and no overlap; B's
turns are cut from two_cities at pauses. Each speaker also has a reference clip of 6–8 s that is not in
the mix, for known speakers.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audio_files import SAMPLE_RATE_HZ, load_clip, write_audio
from speech_clips import clip

_TWO_CITIES = clip("two_cities").path
_B_TURNS_S = ((1.2, 8.5), (8.5, 15.0))
"""two_cities cut at pauses (quiet from 8.2 to 8.8 s, 14.8 to 15.1 s)."""
_B_REFERENCE_S = (29.1, 36.75)
_GAPS_S = (0.5, 0.7, 0.4)


@dataclass(frozen=True)
class Turn:
    speaker: str
    start_s: float
    end_s: float


@dataclass(frozen=True)
class Mix:
    path: Path
    turns: tuple[Turn, ...]

    def speaker_at(self, start_s: float, end_s: float) -> str | None:
        """The speaker who talks longest within [start_s, end_s] (None over silence only)."""
        overlap = {t.speaker: 0.0 for t in self.turns}
        for t in self.turns:
            overlap[t.speaker] += max(0.0, min(end_s, t.end_s) - max(start_s, t.start_s))
        best = max(overlap, key=lambda s: overlap[s])
        return best if overlap[best] > 0 else None

    def attribution(self, spans: list[tuple[float, float, str]]) -> tuple[float, dict[str, str]]:
        """The share of the spans' time (start_s, end_s, label) whose label maps to the true speaker,
        under the best one-to-one mapping of labels onto speakers, and that mapping."""
        labels = sorted({label for _, _, label in spans})
        truths = sorted({t.speaker for t in self.turns})
        total = sum(e - s for s, e, _ in spans) or 1.0
        best: tuple[float, dict[str, str]] = (0.0, {})
        for order in itertools.permutations(truths):
            mapping = dict(zip(labels, order, strict=False))
            right = sum(e - s for s, e, label in spans if self.speaker_at(s, e) == mapping.get(label))
            best = max(best, (right / total, mapping), key=lambda r: r[0])
        return best


def _seconds(samples: np.ndarray, span: tuple[float, float]) -> np.ndarray:
    return samples[int(span[0] * SAMPLE_RATE_HZ) : int(span[1] * SAMPLE_RATE_HZ)]


def two_speaker_mix(path: Path) -> Mix:
    """Write the A B A B conversation to `path` (16 kHz WAV) and return it with its true turns."""
    two_cities = load_clip(_TWO_CITIES)
    pieces = [
        ("A", load_clip(clip("0870").path)),
        ("B", _seconds(two_cities, _B_TURNS_S[0])),
        ("A", load_clip(clip("0890").path)),
        ("B", _seconds(two_cities, _B_TURNS_S[1])),
    ]
    audio: list[np.ndarray] = []
    turns: list[Turn] = []
    at = 0
    for i, (speaker, samples) in enumerate(pieces):
        turns.append(Turn(speaker, at / SAMPLE_RATE_HZ, (at + len(samples)) / SAMPLE_RATE_HZ))
        gap = np.zeros(int(_GAPS_S[i] * SAMPLE_RATE_HZ) if i < len(_GAPS_S) else 0, dtype=np.float32)
        audio += [samples, gap]
        at += len(samples) + len(gap)
    return Mix(write_audio(path, np.concatenate(audio), "wav"), tuple(turns))


def reference_clip(speaker: str, path: Path) -> Path:
    """A 6–8 s clip of `speaker` ("A" or "B") that the mix does not contain, as a 16 kHz WAV."""
    samples = load_clip(clip("0920").path) if speaker == "A" else _seconds(load_clip(_TWO_CITIES), _B_REFERENCE_S)
    return write_audio(path, samples, "wav")
