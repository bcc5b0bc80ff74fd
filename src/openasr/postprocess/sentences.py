"""Group recognised words into sentences, and re-express each word the way the result JSON shows it.

Input words follow the engine convention of `core.types.Word`: absolute times in ms, `text` with its
leading joiner (" world." for space-delimited languages, "世界。" for Chinese) and punctuation still
attached, as Whisper emits it.

Output words follow the DashScope result convention (spec §7.5 and the Fun-ASR/Paraformer result
samples): `text` is the word without its trailing punctuation, `punctuation` the mark(s) after it, and
the space that separates a word from the next one of the same sentence sits at the end of whichever of
the two fields comes last:

    "Good morning, everyone."  ->  ("Good ", ""), ("morning", ", "), ("everyone", ".")

so `"".join(w.text + w.punctuation for w in sentence.words) == sentence.text` always holds. Whether a
space follows is read from the next word's leading whitespace, not from a list of languages, which also
keeps mixed Chinese/English text right. The last word of a sentence never carries a trailing space.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from openasr.core.types import Sentence, Word

DEFAULT_MAX_PAUSE_MS = 800
"""A silence longer than this ends a sentence even without punctuation (a breath is ~300-500 ms)."""

DEFAULT_MAX_SENTENCE_S = 30.0
"""Longer sentences are cut at their largest pause: 30 s is already more than a subtitle can show."""

SENTENCE_FINAL_MARKS = frozenset(".?!…。？！．｡‼⁇⁈⁉")
"""Marks after which a sentence ends (ASCII, CJK and full-width forms)."""

_CLAUSE_MARKS = frozenset(",;:、，；：")
_CLOSERS = frozenset("\"'”’」』)）]】》〉")
"""Closing quotes and brackets: part of the punctuation only when they follow a real mark ('."')."""

_MARKS = SENTENCE_FINAL_MARKS | _CLAUSE_MARKS
_PERIODS = frozenset(".…．")
_ABBREVIATIONS = frozenset({"mr", "mrs", "ms", "dr", "prof", "st", "vs", "jr", "sr"})
"""English abbreviations whose period does not end a sentence; dotted ones ("e.g.", "U.S.") are
recognised by their shape."""
_DOTTED = re.compile(r"(?:[^\W\d_]\.)+[^\W\d_]")


@dataclass
class _Token:
    begin_ms: int
    end_ms: int
    core: str
    punctuation: str
    spaced: bool
    probability: float | None


def sentences_from_words(
    words: Sequence[Word],
    language: str,
    *,
    start_id: int = 0,
    max_pause_ms: int = DEFAULT_MAX_PAUSE_MS,
    max_sentence_s: float = DEFAULT_MAX_SENTENCE_S,
) -> tuple[Sentence, ...]:
    """Split words into sentences numbered from `start_id`.

    A sentence ends after a sentence-final mark (not after "Mr." or a "." followed by a lower-case
    word), and at any pause between words longer than `max_pause_ms`; a sentence still longer than
    `max_sentence_s` is cut at its largest pause (ties: after a clause mark, then nearest the middle).
    Times are made monotonic: a word starting before the previous one ends is clamped to that end.
    """
    tokens = _tokenize(words)
    groups = [
        piece
        for group in _split_at_marks_and_pauses(tokens, max_pause_ms)
        for piece in _split_long(group, round(max_sentence_s * 1000))
    ]
    return tuple(_build_sentence(group, start_id + i, language) for i, group in enumerate(groups))


def sentences_from_segments(
    segments: Sequence[tuple[int, int, str]], language: str, start_id: int = 0
) -> tuple[Sentence, ...]:
    """One sentence per (begin_ms, end_ms, text) segment, for engines that give no word times.

    Inner times are not guessed, so segments are never split; empty segments are dropped and times are
    clamped monotonic like word times.
    """
    sentences: list[Sentence] = []
    previous_end_ms = 0
    for begin_ms, end_ms, raw_text in segments:
        text = raw_text.strip()
        if not text:
            continue
        begin_ms = max(begin_ms, previous_end_ms)
        end_ms = max(end_ms, begin_ms)
        previous_end_ms = end_ms
        sentences.append(Sentence(start_id + len(sentences), begin_ms, end_ms, text, language))
    return tuple(sentences)


def split_punctuation(text: str) -> tuple[str, str]:
    """Split "world." into ("world", "."); closing quotes count only after a mark ('Hi,"' -> 'Hi', ',"')."""
    cut = len(text)
    while cut > 0 and (text[cut - 1] in _MARKS or text[cut - 1] in _CLOSERS):
        cut -= 1
    tail = text[cut:]
    while tail and tail[0] in _CLOSERS:  # a closer before the first mark belongs to the word: '(a).'
        cut += 1
        tail = tail[1:]
    if not any(ch in _MARKS for ch in tail):
        return text, ""
    return text[:cut], tail


def _tokenize(words: Sequence[Word]) -> list[_Token]:
    """Strip joiners, split off punctuation, clamp times, fold punctuation-only words into the previous."""
    tokens: list[_Token] = []
    previous_end_ms = 0
    for word in words:
        stripped = word.text.strip()
        if not stripped and not word.punctuation.strip():
            continue
        core, punctuation = split_punctuation(stripped)
        punctuation += word.punctuation.strip()
        begin_ms = max(word.begin_ms, previous_end_ms)
        end_ms = max(word.end_ms, begin_ms)
        if not core and tokens:
            tokens[-1].punctuation += punctuation
            continue
        previous_end_ms = end_ms
        spaced = word.text[:1].isspace()
        if not core:  # a leading mark with nothing before it to attach to: keep it as the word
            core, punctuation = punctuation, ""
        tokens.append(_Token(begin_ms, end_ms, core, punctuation, spaced, word.probability))
    return tokens


def _split_at_marks_and_pauses(tokens: list[_Token], max_pause_ms: int) -> list[list[_Token]]:
    groups: list[list[_Token]] = []
    current: list[_Token] = []
    for i, token in enumerate(tokens):
        if current and token.begin_ms - current[-1].end_ms > max_pause_ms:
            groups.append(current)
            current = []
        current.append(token)
        following = tokens[i + 1] if i + 1 < len(tokens) else None
        if _ends_sentence(token, following):
            groups.append(current)
            current = []
    if current:
        groups.append(current)
    return groups


def _ends_sentence(token: _Token, following: _Token | None) -> bool:
    """A final mark ends the sentence, unless it is the period of an abbreviation or is followed by a
    lower-case word ("So... we went", "Mr. Smith", "e.g. this")."""
    marks = token.punctuation.rstrip("".join(_CLOSERS))
    if not marks or marks[-1] not in SENTENCE_FINAL_MARKS:
        return False
    if marks[-1] not in _PERIODS:
        return True
    if marks == "." and (token.core.lower() in _ABBREVIATIONS or _DOTTED.fullmatch(token.core)):
        return False
    return following is None or not following.core[:1].islower()


def _split_long(group: list[_Token], max_sentence_ms: int) -> list[list[_Token]]:
    """Cut at the largest pause until every piece fits; iterative, so no recursion limit on long runs."""
    pieces: list[list[_Token]] = []
    pending = [group]
    while pending:
        piece = pending.pop()
        if len(piece) < 2 or piece[-1].end_ms - piece[0].begin_ms <= max_sentence_ms:
            pieces.append(piece)
            continue
        cut = max(range(1, len(piece)), key=lambda i: _cut_preference(piece, i))
        pending.append(piece[cut:])
        pending.append(piece[:cut])
    return pieces


def _cut_preference(piece: list[_Token], i: int) -> tuple[int, bool, int]:
    """Rank cutting before word `i`: longest pause, then after punctuation, then nearest the middle."""
    pause_ms = piece[i].begin_ms - piece[i - 1].end_ms
    return pause_ms, bool(piece[i - 1].punctuation), -abs(2 * i - len(piece))


def _build_sentence(group: list[_Token], sentence_id: int, language: str) -> Sentence:
    words: list[Word] = []
    for i, token in enumerate(group):
        joiner = " " if i + 1 < len(group) and group[i + 1].spaced else ""
        if token.punctuation:
            text, punctuation = token.core, token.punctuation + joiner
        else:
            text, punctuation = token.core + joiner, ""
        words.append(Word(token.begin_ms, token.end_ms, text, punctuation, token.probability))
    text = "".join(w.text + w.punctuation for w in words)
    return Sentence(sentence_id, group[0].begin_ms, group[-1].end_ms, text, language, tuple(words))
