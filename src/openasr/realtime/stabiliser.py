"""LocalAgreement-2 over an item's partial hypotheses (spec §5.3): the words two consecutive hypotheses
agree on, minus the last agreed word, are confirmed, and confirmed text only ever grows.

Hypotheses are split into tokens that keep their leading space: words in spaced scripts, single
characters in CJK scripts, so Chinese captions confirm character by character. A hypothesis that
disagrees with what is already confirmed never takes it back; it only fills the stash.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
_TOKEN = re.compile(rf"\s*(?:[{_CJK}]|[^\s{_CJK}]+)")


def tokens(text: str) -> list[str]:
    """`text` as tokens with their leading whitespace, so joining them gives the text back."""
    return _TOKEN.findall(text)


def _key(token: str) -> str:
    return token.strip().lower().strip(".,!?;:\"'、。，！？；：")


@dataclass(frozen=True)
class Stable:
    confirmed: str
    stash: str
    delta: str


class Stabiliser:
    """One item's confirmed prefix, updated with each new hypothesis of the whole item."""

    def __init__(self) -> None:
        self._confirmed: list[str] = []
        self._previous: list[str] | None = None

    @property
    def confirmed(self) -> str:
        return "".join(self._confirmed).lstrip()

    def update(self, hypothesis: str) -> Stable:
        """Agree `hypothesis` with the one before it; what is newly confirmed is the delta."""
        current = tokens(hypothesis)
        before = self.confirmed
        if self._previous is not None:
            agreed = _common_prefix(self._previous, current)
            if agreed > len(self._confirmed) + 1 and _extends(current, self._confirmed):
                self._confirmed = self._confirmed + current[len(self._confirmed) : agreed - 1]
        self._previous = current
        confirmed = self.confirmed
        stash = "".join(current[len(self._confirmed) :])
        if not confirmed:
            stash = stash.lstrip()
        return Stable(confirmed, stash, confirmed[len(before) :])


def _common_prefix(a: list[str], b: list[str]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if _key(x) != _key(y):
            break
        n += 1
    return n


def _extends(hypothesis: list[str], confirmed: list[str]) -> bool:
    return len(hypothesis) >= len(confirmed) and all(
        _key(x) == _key(y) for x, y in zip(hypothesis, confirmed, strict=False)
    )
