"""Where speaker embeddings are taken, and how a chunk keeps them.

Over each stretch of speech the VAD found, 1.5 s windows start every 0.75 s (the last one ends with the
stretch); a stretch shorter than a window gets one window centred on it, reaching into the chunk's audio
around it. Each window *owns* the part of its stretch nearer its centre than its neighbours' centres:
the time its speaker label covers. A chunk keeps its windows as plain JSON (`encode`/`decode`): owned
times in ms and the embeddings as base64 float16 (384 bytes a window; float16 moves a cosine by less
than 1e-3), so a 12-hour recording's checkpoints stay in the tens of MB.
"""

from __future__ import annotations

import base64
import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from openasr.core.types import SAMPLE_RATE_HZ, SpeechSpan

WINDOW_S = 1.5
HOP_S = 0.75
_GRID = 160


@dataclass(frozen=True)
class Windows:
    """Windows of one chunk: `samples` (n, 2) offsets into the chunk's audio, `owned_ms` (n, 2) times in
    the recording."""

    samples: np.ndarray
    owned_ms: np.ndarray


def _starts(start_s: float, end_s: float) -> list[float]:
    if end_s - start_s <= WINDOW_S:
        return [(start_s + end_s - WINDOW_S) / 2]
    starts = list(np.arange(start_s, end_s - WINDOW_S, HOP_S))
    return [*starts, end_s - WINDOW_S]


def _owned(span: SpeechSpan, starts: list[float]) -> list[tuple[float, float]]:
    centres = [s + WINDOW_S / 2 for s in starts]
    bounds = [span.start_s] + [(a + b) / 2 for a, b in itertools.pairwise(centres)] + [span.end_s]
    return list(itertools.pairwise(bounds))


def speech_windows(speech: Sequence[SpeechSpan], chunk_start_s: float, chunk_samples: int) -> Windows:
    """The windows over a chunk's speech (times in the recording; the chunk's audio starts at
    `chunk_start_s`). None fits a chunk shorter than a window: then one window is the whole chunk."""
    width = round(WINDOW_S * SAMPLE_RATE_HZ)
    offsets: list[tuple[int, int]] = []
    owned: list[tuple[float, float]] = []
    for span in speech:
        if span.end_s <= span.start_s:
            continue
        starts = _starts(span.start_s, span.end_s)
        for start in starts:
            a = min(max(round((start - chunk_start_s) * SAMPLE_RATE_HZ), 0), max(chunk_samples - width, 0))
            a -= a % _GRID  # on the fbank's 10 ms frame grid: overlapping windows share one fbank pass
            offsets.append((a, min(a + width, chunk_samples)))
        owned += _owned(span, starts)
    samples = np.array(offsets, dtype=np.int64).reshape(-1, 2)
    return Windows(samples, np.round(np.array(owned, dtype=np.float64).reshape(-1, 2) * 1000).astype(np.int64))


def encode(owned_ms: np.ndarray, embeddings: np.ndarray) -> dict[str, object]:
    """A chunk's kept data: JSON values only."""
    packed = base64.b64encode(np.ascontiguousarray(embeddings, dtype="<f2").tobytes()).decode("ascii")
    return {"owned_ms": owned_ms.astype(int).tolist(), "embeddings": packed}


def decode(kept: Sequence[dict[str, object]], dimensions: int) -> tuple[np.ndarray, np.ndarray]:
    """Every chunk's windows joined: (n, 2) owned ms and (n, dimensions) float32 embeddings."""
    owned = [np.asarray(k["owned_ms"], dtype=np.int64).reshape(-1, 2) for k in kept]
    vectors = [np.frombuffer(base64.b64decode(str(k["embeddings"])), dtype="<f2").reshape(-1, dimensions) for k in kept]
    if not owned:
        return np.zeros((0, 2), dtype=np.int64), np.zeros((0, dimensions), dtype=np.float32)
    return np.concatenate(owned), np.concatenate(vectors).astype(np.float32)
