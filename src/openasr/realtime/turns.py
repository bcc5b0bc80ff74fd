"""Turn detection for a live stream (spec §5.2): Silero probabilities per 32 ms frame → turn starts and
ends, in sample positions of the session's audio.

A turn starts after `START_FRAMES` consecutive frames at or above `p_on` (its start reaches back by the
prefix padding, never before the previous turn's end) and ends after `silence_ms` of frames below
`p_off = p_on − 0.15`, with up to 200 ms of the silence kept as its tail. A turn that reaches
`MAX_TURN_S` is split at its quietest frame of the last `SPLIT_SEARCH_S`: the first part ends there and a
new turn starts there, so every item stays within Whisper's 30 s window. The detector is pure (it sees
probabilities, not audio), so its rules are tested frame by frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from openasr.core.types import SAMPLE_RATE_HZ
from openasr.vad.silero import FRAME_SAMPLES

START_FRAMES = 3
"""≈ 96 ms of voice before a turn starts: a click or a breath does not open an item."""
HYSTERESIS = 0.15
TAIL_MS = 200
MAX_TURN_S = 30.0
SPLIT_SEARCH_S = 3.0
_FRAME_MS = FRAME_SAMPLES * 1000 / SAMPLE_RATE_HZ


def dashscope_threshold(threshold: float) -> float:
    """DashScope's VAD threshold (−1…1, lower is more sensitive; the SDK sends 0.2) as a Silero speech
    probability: the SDK's default behaves like Silero's default 0.5 (the cloud's own scale is unknown)."""
    return min(max(0.5 + 0.5 * (threshold - 0.2), 0.05), 0.95)


@dataclass(frozen=True)
class TurnStart:
    sample: int


@dataclass(frozen=True)
class TurnEnd:
    sample: int


Turn = TurnStart | TurnEnd


class TurnDetector:
    """Feeds on frame probabilities in order; `feed` returns the turn boundaries they complete."""

    def __init__(
        self, p_on: float, silence_ms: int, prefix_padding_ms: int, first_frame: int = 0, previous_end: int = 0
    ) -> None:
        self.p_on = p_on
        self.p_off = max(p_on - HYSTERESIS, 0.01)
        self._silence_frames = max(1, round(silence_ms / _FRAME_MS))
        self._tail = min(silence_ms, TAIL_MS) * SAMPLE_RATE_HZ // 1000
        self._prefix = prefix_padding_ms * SAMPLE_RATE_HZ // 1000
        self._max_frames = round(MAX_TURN_S * 1000 / _FRAME_MS)
        self._search_frames = round(SPLIT_SEARCH_S * 1000 / _FRAME_MS)
        self.frames = first_frame
        """Frames of the session seen so far (a detector made mid-session starts where the stream is)."""
        self.in_turn = False
        self._run = 0
        self._quiet = 0
        self._last_voiced_end = 0
        self._previous_end = previous_end
        self._turn_start = 0
        self._probabilities: list[float] = []
        """The open turn's frame probabilities from its first frame (bounded by the hard split)."""

    def feed(self, probabilities: np.ndarray) -> list[Turn]:
        turns: list[Turn] = []
        for p in probabilities.tolist():
            turns.extend(self._frame(float(p)))
            self.frames += 1
        return turns

    def end_now(self, sample: int) -> TurnEnd | None:
        """End the open turn at `sample` (a commit or finish while speech is active)."""
        if not self.in_turn:
            return None
        self._close(sample)
        return TurnEnd(sample)

    def tentative_end(self) -> int | None:
        """Where the open turn ends if no voiced frame comes before its silence runs out: known, and
        already received, once the quiet frames cover the tail it keeps (a final can start early)."""
        if not self.in_turn or not self._quiet:
            return None
        keep = min(self._tail, self._silence_frames * FRAME_SAMPLES)
        if self._quiet * FRAME_SAMPLES < keep:
            return None
        return self._last_voiced_end + keep

    def _frame(self, p: float) -> list[Turn]:
        start, end = self.frames * FRAME_SAMPLES, (self.frames + 1) * FRAME_SAMPLES
        if not self.in_turn:
            self._run = self._run + 1 if p >= self.p_on else 0
            if self._run < START_FRAMES:
                return []
            voiced = start - (START_FRAMES - 1) * FRAME_SAMPLES
            self._open(max(voiced - self._prefix, self._previous_end, 0), end)
            return [TurnStart(self._turn_start)]
        self._probabilities.append(p)
        if p >= self.p_off:
            self._quiet, self._last_voiced_end = 0, end
        else:
            self._quiet += 1
        if self._quiet >= self._silence_frames:
            ended = min(self._last_voiced_end + self._tail, end)
            self._close(ended)
            return [TurnEnd(ended)]
        if len(self._probabilities) >= self._max_frames:
            return self._split()
        return []

    def _open(self, sample: int, voiced_end: int) -> None:
        self.in_turn, self._run, self._quiet = True, 0, 0
        self._turn_start, self._last_voiced_end = sample, voiced_end
        first = sample // FRAME_SAMPLES
        self._probabilities = [self.p_on] * max(0, self.frames + 1 - first)

    def _close(self, sample: int) -> None:
        self.in_turn, self._run, self._quiet = False, 0, 0
        self._previous_end = sample
        self._probabilities = []

    def _split(self) -> list[Turn]:
        """Cut the turn at its quietest frame of the last few seconds; the rest opens the next turn."""
        first_frame = self._turn_start // FRAME_SAMPLES
        recent = self._probabilities[-self._search_frames :]
        offset = len(self._probabilities) - len(recent) + int(np.argmin(recent))
        cut = (first_frame + offset) * FRAME_SAMPLES
        kept = self._probabilities[offset:]
        self.in_turn, self._quiet = True, 0
        self._previous_end, self._turn_start = cut, cut
        self._probabilities = kept
        return [TurnEnd(cut), TurnStart(cut)]
