"""A channel's speakers from its chunks' kept windows: cluster into turns, split sentences where the
speaker changes, give each sentence and word its speaker, name the known voices. What the diarization
stage does once the last chunk of a channel is in (it finishes the split sentences' text itself)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from openasr.core.options import KnownSpeaker
from openasr.core.types import Sentence, Word
from openasr.diarization.clustering import cluster
from openasr.diarization.embeddings import DIMENSIONS
from openasr.diarization.known import centroids, match_names
from openasr.diarization.turns import MIN_TURN_MS, Turn, first_appearance, speaker_of, speaker_turns
from openasr.diarization.windows import decode


@dataclass(frozen=True)
class Speakers:
    """Who spoke when on a channel: turns by cluster index, and the names of the clusters that matched a
    known voice."""

    turns: tuple[Turn, ...]
    names: dict[int, str]


def find_speakers(
    kept: Sequence[dict[str, Any]], speaker_count: int | None = None, known: Sequence[KnownSpeaker] = ()
) -> Speakers:
    """Cluster every kept window (exactly `speaker_count` speakers when given); no turns without windows."""
    owned_ms, embeddings = decode(kept, DIMENSIONS)
    if len(embeddings) == 0:
        return Speakers((), {})
    labels = cluster(embeddings, speaker_count)
    names: dict[int, str] = {}
    if known:
        references = np.array([k.embedding for k in known], dtype=np.float64)
        names = match_names(centroids(embeddings.astype(np.float64), labels), [k.name for k in known], references)
    return Speakers(tuple(speaker_turns(owned_ms, labels)), names)


def _runs(words: Sequence[Word], turns: Sequence[Turn]) -> list[list[Word]]:
    """Consecutive words of one speaker; a run shorter than a short turn joins the longer neighbour."""
    runs: list[tuple[int | None, list[Word]]] = []
    for w in words:
        who = speaker_of(w.begin_ms, w.end_ms, turns)
        if runs and runs[-1][0] == who:
            runs[-1][1].append(w)
        else:
            runs.append((who, [w]))
    pieces = [r[1] for r in runs]
    while len(pieces) > 1:
        spans = [p[-1].end_ms - p[0].begin_ms for p in pieces]
        i = min(range(len(pieces)), key=lambda k: spans[k])
        if spans[i] >= MIN_TURN_MS and len(pieces[i]) > 1:
            break
        into = max((k for k in (i - 1, i + 1) if 0 <= k < len(pieces)), key=lambda k: spans[k])
        lo, hi = min(i, into), max(i, into)
        pieces[lo : hi + 1] = [pieces[lo] + pieces[hi]]
    return pieces


def split_at_turns(sentence: Sentence, turns: Sequence[Turn]) -> tuple[Sentence, ...]:
    """The sentence cut where its words' speaker changes (pieces' text joined from their words, not yet
    finished); the sentence itself when it has no words or one speaker."""
    pieces = _runs(sentence.words, turns) if sentence.words and turns else []
    if len(pieces) < 2:
        return (sentence,)
    return tuple(
        replace(
            sentence,
            begin_ms=p[0].begin_ms,
            end_ms=p[-1].end_ms,
            text="".join(w.text + w.punctuation for w in p).strip(),
            words=tuple(p),
        )
        for p in pieces
    )


def label_sentences(sentences: Sequence[Sentence], speakers: Speakers) -> tuple[Sentence, ...]:
    """Each sentence (and its words) with the speaker overlapping it most, numbered by first appearance."""
    turns = speakers.turns
    raw = [speaker_of(s.begin_ms, s.end_ms, turns) for s in sentences]
    words = [[speaker_of(w.begin_ms, w.end_ms, turns) for w in s.words] for s in sentences]
    order = first_appearance(raw + [w for ws in words for w in ws])
    labelled = []
    for sentence, speaker, word_speakers in zip(sentences, raw, words, strict=True):
        marked = tuple(
            replace(w, speaker_id=None if k is None else order[k])
            for w, k in zip(sentence.words, word_speakers, strict=True)
        )
        labelled.append(
            replace(
                sentence,
                words=marked,
                speaker_id=None if speaker is None else order[speaker],
                speaker_name=None if speaker is None else speakers.names.get(speaker),
            )
        )
    return tuple(labelled)
