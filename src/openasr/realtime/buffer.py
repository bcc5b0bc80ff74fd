"""The session's audio, addressed by sample position since the session began, holding only what an open
item or the next item's prefix padding can still need (memory stays flat over a long session)."""

from __future__ import annotations

import numpy as np


class AudioBuffer:
    def __init__(self) -> None:
        self._blocks: list[np.ndarray] = []
        self._start = 0
        """Position of the first sample held."""
        self.end = 0
        """Position after the last sample received."""

    @property
    def start(self) -> int:
        return self._start

    def append(self, samples: np.ndarray) -> None:
        if len(samples):
            self._blocks.append(samples)
            self.end += len(samples)

    def slice(self, start: int, end: int) -> np.ndarray:
        """A copy of samples [start, end), clipped to what is held."""
        start, end = max(start, self._start), min(end, self.end)
        if end <= start:
            return np.zeros(0, dtype=np.float32)
        joined = self._joined()
        return joined[start - self._start : end - self._start].copy()

    def drop_before(self, position: int) -> None:
        """Forget samples before `position` (never past the end)."""
        position = min(max(position, self._start), self.end)
        if position == self._start:
            return
        joined = self._joined()
        rest = joined[position - self._start :]
        self._blocks = [rest] if len(rest) else []
        self._start = position

    def _joined(self) -> np.ndarray:
        if len(self._blocks) != 1:
            self._blocks = [np.concatenate(self._blocks) if self._blocks else np.zeros(0, dtype=np.float32)]
        return self._blocks[0]
