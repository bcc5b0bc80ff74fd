"""Inverse text normalisation (spoken -> written form: "一百二十三" -> "123", "twenty three" -> "23").

Only the languages of `ITN_LANGUAGES` are normalised; any other language is returned unchanged, so the
caller never has to check. Chinese runs WeTextProcessing's prebuilt ITN grammars through `wetext`, its
kaldifst runtime (no pynini at install or run time). English uses text2num's `alpha2digit`, which keeps
capitalisation and punctuation where wetext's English grammar leaves gaps ("$105 , right").
"""

from __future__ import annotations

import functools
import re
from typing import Any

from text_to_num import alpha2digit

from openasr.core.errors import ModelUnavailableError
from openasr.core.options import ITN_LANGUAGES

ZH_ITN_REQUIREMENT = "wetext==0.1.8"
"""What to install when Chinese ITN cannot load; named in the error so operators can fix it."""

_CHINESE_SENTENCE_END = re.compile(r"(?<=[。！？；!?\n])")
_GRAMMAR_ESCAPED = re.compile(r'(["\\\\])')
"""wetext's token parser escapes these two characters in its output, so they never enter the grammar."""


def apply_itn(text: str, language: str) -> str:
    """Rewrite spoken numbers, dates, money and the like in written form; unknown languages pass through.

    `language` may carry a region ("zh-CN", "en_US"); only its primary subtag is used. Text that is
    empty or already written with digits comes back unchanged.
    """
    primary = language.lower().replace("_", "-").split("-")[0]
    if not text.strip() or primary not in ITN_LANGUAGES:
        return text
    if primary == "zh":
        return _normalize_chinese(text)
    return str(alpha2digit(text, "en"))


def _normalize_chinese(text: str) -> str:
    """Normalise sentence by sentence: the FST search costs more per character as input grows (more
    than twice as much at 3 000 characters as at 100), and no rule spans a full stop."""
    itn = _load_chinese_itn()
    return "".join(_normalize_chinese_piece(itn, piece) for piece in _CHINESE_SENTENCE_END.split(text))


def _normalize_chinese_piece(itn: Any, text: str) -> str:
    return "".join(
        piece if not piece.strip() or _GRAMMAR_ESCAPED.fullmatch(piece) else _normalize_inner(itn, piece)
        for piece in _GRAMMAR_ESCAPED.split(text)
    )


def _normalize_inner(itn: Any, piece: str) -> str:
    """wetext strips outer whitespace; put it back so surrounding text keeps its spacing."""
    core = piece.strip()
    lead = piece[: len(piece) - len(piece.lstrip())]
    trail = piece[len(piece.rstrip()) :]
    return f"{lead}{itn.normalize(core) or core}{trail}"


@functools.cache
def _load_chinese_itn() -> Any:
    """Load the grammars (about 3 MB of FSTs) once, on the first Chinese ITN request.

    A failure is not cached, so installing the package fixes a running server on the next request.
    """
    try:
        from wetext import Normalizer
    except ImportError as exc:
        raise ModelUnavailableError(f"Chinese ITN needs {ZH_ITN_REQUIREMENT}: {exc}") from exc
    try:
        return Normalizer(lang="zh", operator="itn")
    except (OSError, RuntimeError) as exc:
        raise ModelUnavailableError(f"Chinese ITN grammars are unreadable; reinstall {ZH_ITN_REQUIREMENT}") from exc
