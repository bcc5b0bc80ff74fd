"""A store clock for the job tests: it moves only when the test moves it."""

from __future__ import annotations


class Clock:
    """The store's clock in a test: it moves only when the test moves it."""

    def __init__(self, now_s: float) -> None:
        self.now_s = now_s

    def __call__(self) -> float:
        return self.now_s

    def advance(self, seconds: float) -> None:
        self.now_s += seconds
