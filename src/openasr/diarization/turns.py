"""From labelled windows to speaker turns, and from turns to each sentence's and word's speaker.

Consecutive windows of one speaker make a turn; a turn shorter than `MIN_TURN_MS` (a window or two that
the clustering put elsewhere, or a backchannel too short to tell) is folded into the longer of its
neighbours, unless it is its speaker's last turn. A sentence or word gets the speaker who overlaps it
most (the nearest turn when none overlaps it), and speakers are numbered in order of first appearance in
the sentences.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

MIN_TURN_MS = 1000


@dataclass(frozen=True)
class Turn:
    begin_ms: int
    end_ms: int
    speaker: int

    @property
    def duration_ms(self) -> int:
        return self.end_ms - self.begin_ms


def _join(turns: list[Turn]) -> list[Turn]:
    joined: list[Turn] = []
    for turn in turns:
        if joined and joined[-1].speaker == turn.speaker:
            joined[-1] = Turn(joined[-1].begin_ms, max(joined[-1].end_ms, turn.end_ms), turn.speaker)
        else:
            joined.append(turn)
    return joined


def _fold_one(turns: list[Turn]) -> bool:
    """Fold the shortest foldable turn into its longer neighbour; False when none is left."""
    counts: dict[int, int] = {}
    for t in turns:
        counts[t.speaker] = counts.get(t.speaker, 0) + 1
    short = [i for i, t in enumerate(turns) if t.duration_ms < MIN_TURN_MS and counts[t.speaker] > 1]
    if not short or len(turns) < 2:
        return False
    i = min(short, key=lambda k: turns[k].duration_ms)
    neighbours = [k for k in (i - 1, i + 1) if 0 <= k < len(turns)]
    into = max(neighbours, key=lambda k: turns[k].duration_ms)
    turns[i] = Turn(turns[i].begin_ms, turns[i].end_ms, turns[into].speaker)
    return True


def speaker_turns(owned_ms: np.ndarray, labels: np.ndarray) -> list[Turn]:
    """Turns in time order from windows' owned times and speaker labels, short turns folded."""
    order = np.argsort(owned_ms[:, 0], kind="stable")
    turns = _join([Turn(int(owned_ms[i, 0]), int(owned_ms[i, 1]), int(labels[i])) for i in order])
    while _fold_one(turns):
        turns = _join(turns)
    return turns


def speaker_of(begin_ms: int, end_ms: int, turns: Sequence[Turn]) -> int | None:
    """The speaker overlapping [begin, end) most; the nearest turn's when none overlaps; None without turns."""
    if not turns:
        return None
    overlap: dict[int, int] = {}
    for t in turns:
        shared = min(end_ms, t.end_ms) - max(begin_ms, t.begin_ms)
        if shared > 0:
            overlap[t.speaker] = overlap.get(t.speaker, 0) + shared
    if overlap:
        return max(overlap, key=lambda s: overlap[s])
    nearest = min(turns, key=lambda t: max(t.begin_ms - end_ms, begin_ms - t.end_ms))
    return nearest.speaker


def first_appearance(speakers: Sequence[int | None]) -> dict[int, int]:
    """Cluster index -> label, numbered from 0 in the order the clusters first appear."""
    labels: dict[int, int] = {}
    for s in speakers:
        if s is not None and s not in labels:
            labels[s] = len(labels)
    return labels
