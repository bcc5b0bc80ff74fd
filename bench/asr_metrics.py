"""Word and character error rates with one text normalisation, shared by `bench/eval.py` and the tests.

Both sides of a comparison go through the same `normalize_text`, so a score measures recognition, not
spelling conventions: lower case, Unicode NFKC (full-width forms), punctuation removed, hyphens split
("ill-disposed" = "ill disposed"), English titles spelled out ("Mr." = "mister"), spoken numbers turned
into digits with text2num on both sides ("ten" = "10"), Chinese folded to Simplified. Unspaced languages
(Chinese, Japanese, Korean, Thai …) are scored per character (CER) after all whitespace is removed;
others per word (WER). Rates are pooled over a corpus as total edits / total reference tokens.

This module lives in `bench/` (no package): `bench/eval.py` imports it as a sibling, the tests import it
after `tests/conftest.py` puts `bench/` on `sys.path`. It needs only the project's own dependencies.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

CER_LANGUAGES = frozenset({"zh", "yue", "ja", "ko", "th", "lo", "my", "bo"})
"""Scored per character: written without spaces between words (Korean spaces are too inconsistent)."""

_TEXT2NUM_LANGUAGES = frozenset({"en", "fr", "es", "de", "pt"})
_EN_TITLES = {"mr": "mister", "mrs": "missus", "dr": "doctor", "st": "saint"}
_DIGIT_GROUP = re.compile(r"(?<=\d)[,.'](?=\d{3}\b)")
_DECIMAL = re.compile(r"(?<=\d)[.,](?=\d)")


@dataclass(frozen=True)
class ErrorCount:
    """Edits (substitutions + deletions + insertions) against `reference_tokens` reference tokens.

    `deletions` (reference tokens the hypothesis lacks: speech that was dropped) and `insertions` (tokens
    nobody said: hallucinations) are broken out of `edits`; where two alignments cost the same, the one
    with fewer deletions, then fewer insertions, is counted, so a misheard word is not reported as lost."""

    edits: int
    reference_tokens: int
    deletions: int = 0
    insertions: int = 0

    @property
    def rate(self) -> float:
        if self.reference_tokens == 0:
            return 0.0 if self.edits == 0 else float("inf")
        return self.edits / self.reference_tokens

    @property
    def substitutions(self) -> int:
        return self.edits - self.deletions - self.insertions

    @property
    def hits(self) -> int:
        """Reference tokens recognised exactly."""
        return self.reference_tokens - self.substitutions - self.deletions

    def __add__(self, other: ErrorCount) -> ErrorCount:
        return ErrorCount(
            self.edits + other.edits,
            self.reference_tokens + other.reference_tokens,
            self.deletions + other.deletions,
            self.insertions + other.insertions,
        )


def primary_language(language: str) -> str:
    """'zh-CN' -> 'zh', 'zh (Sichuanese dialect)' -> 'zh', 'EN_us' -> 'en'."""
    return re.split(r"[-_\s(]", language.strip().lower(), maxsplit=1)[0]


def metric_name(language: str) -> str:
    return "CER" if primary_language(language) in CER_LANGUAGES else "WER"


def normalize_text(text: str, language: str) -> str:
    """The comparable form of `text`: see the module docstring for every rule."""
    lang = primary_language(language)
    text = unicodedata.normalize("NFKC", text).lower()
    if lang in ("zh", "yue"):
        text = _to_simplified(text)
    text = _DIGIT_GROUP.sub("", text)  # 1,000 -> 1000
    text = _DECIMAL.sub("\0", text)  # keep 3.5 whole through punctuation removal
    text = text.replace("'", "").replace("\u2019", "")  # don't -> dont, on both sides alike
    text = "".join(" " if _is_punctuation(ch) else ch for ch in text).replace("\0", ".")
    words = text.split()
    if lang == "en":
        words = [_EN_TITLES.get(w, w) for w in words]
    text = " ".join(words)
    if lang in _TEXT2NUM_LANGUAGES and text:
        from text_to_num import alpha2digit

        text = " ".join(str(alpha2digit(text, lang)).split())
    if lang in CER_LANGUAGES:
        text = "".join(text.split())
    return text


def tokens(text: str, language: str) -> list[str]:
    """Normalised scoring units: characters for CER languages, words otherwise."""
    normalized = normalize_text(text, language)
    return list(normalized) if primary_language(language) in CER_LANGUAGES else normalized.split()


def score(reference: str, hypothesis: str, language: str) -> ErrorCount:
    """Edit distance between the normalised reference and hypothesis, in tokens of `language`."""
    ref = tokens(reference, language)
    edits, deletions, insertions = align_counts(ref, tokens(hypothesis, language))
    return ErrorCount(edits, len(ref), deletions, insertions)


def corpus_rate(pairs: Iterable[tuple[str, str]], language: str) -> float:
    """Pooled error rate of (reference, hypothesis) pairs: total edits over total reference tokens."""
    total = ErrorCount(0, 0)
    for reference, hypothesis in pairs:
        total += score(reference, hypothesis, language)
    return total.rate


def align_counts(reference: Sequence[str], hypothesis: Sequence[str]) -> tuple[int, int, int]:
    """(edits, deletions, insertions) of a minimal (Levenshtein, unit-cost) alignment over tokens, in
    O(len(hypothesis)) memory.

    Each cell carries its alignment's counts; ties go to fewer deletions, then fewer insertions."""
    previous = [(j, 0, j) for j in range(len(hypothesis) + 1)]
    for i, r in enumerate(reference, start=1):
        current = [(i, i, 0)]
        for j, h in enumerate(hypothesis, start=1):
            up, left, diagonal = previous[j], current[j - 1], previous[j - 1]
            current.append(
                min(
                    (up[0] + 1, up[1] + 1, up[2]),
                    (left[0] + 1, left[1], left[2] + 1),
                    (diagonal[0] + (r != h), diagonal[1], diagonal[2]),
                )
            )
        previous = current
    return previous[-1]


def _is_punctuation(ch: str) -> bool:
    category = unicodedata.category(ch)
    return category.startswith("P") or category.startswith("S")


@functools.cache
def _simplifier() -> object:
    from opencc import OpenCC

    return OpenCC("t2s")


def _to_simplified(text: str) -> str:
    return str(_simplifier().convert(text))  # type: ignore[attr-defined]
