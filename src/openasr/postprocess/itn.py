"""Inverse text normalisation (spoken -> written form: "一百二十三" -> "123", "twenty three" -> "23").

Only the languages of `ITN_LANGUAGES` are normalised; any other language is returned unchanged, so the
caller never has to check. Chinese runs WeTextProcessing's prebuilt tagger and verbalizer FSTs with
kaldifst (WeTextProcessing's own runtime needs pynini, which has no wheels for most platforms, so it is
installed with `--no-deps` and only its FSTs and pure-Python token parser are used). English uses
text2num's `alpha2digit`, which keeps capitalisation and punctuation.
"""

from __future__ import annotations

import functools
import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kaldifst
from text_to_num import alpha2digit

from openasr.core.errors import ModelUnavailableError
from openasr.core.options import ITN_LANGUAGES

ZH_ITN_REQUIREMENT = "WeTextProcessing==1.2.0 (pip install --no-deps WeTextProcessing==1.2.0)"
"""What to install when the Chinese FSTs are missing; named in the error so operators can fix it."""

_ZH_TAGGER_FILE = "zh_itn_tagger.fst"
_ZH_VERBALIZER_FILE = "zh_itn_verbalizer.fst"
_CHINESE_SENTENCE_END = re.compile(r"(?<=[。！？；!?\n])")


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


@dataclass(frozen=True)
class _ChineseItn:
    tagger: Any
    verbalizer: Any
    token_parser: Any


def _normalize_chinese(text: str) -> str:
    """Normalise sentence by sentence: the FST search costs more per character as input grows (more
    than twice as much at 3 000 characters as at 100), and no rule spans a full stop."""
    itn = _load_chinese_itn()
    return "".join(_normalize_chinese_piece(itn, piece) for piece in _CHINESE_SENTENCE_END.split(text))


def _normalize_chinese_piece(itn: _ChineseItn, text: str) -> str:
    """Tag, reorder, verbalize: the same three steps as WeTextProcessing's `Processor.normalize`."""
    if not text.strip():
        return text
    tagged = itn.tagger(text)
    if not tagged.strip():
        return text
    reordered = itn.token_parser("itn").reorder(tagged)
    written = itn.verbalizer(reordered)
    return str(written) if written else text


@functools.cache
def _load_chinese_itn() -> _ChineseItn:
    """Load the two FSTs (about 1 MB) once, on first Chinese ITN request.

    A failure is not cached, so installing the package fixes a running server on the next request.
    """
    spec = importlib.util.find_spec("itn")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise ModelUnavailableError(f"Chinese ITN needs {ZH_ITN_REQUIREMENT}; package 'itn' not found")
    fst_dir = Path(locations[0])
    tagger_path, verbalizer_path = fst_dir / _ZH_TAGGER_FILE, fst_dir / _ZH_VERBALIZER_FILE
    for path in (tagger_path, verbalizer_path):
        if not path.is_file():
            raise ModelUnavailableError(f"Chinese ITN needs {ZH_ITN_REQUIREMENT}; {path} is missing")
    try:
        from tn.token_parser import TokenParser  # pure Python, no pynini import
    except ImportError as exc:
        raise ModelUnavailableError(f"Chinese ITN needs {ZH_ITN_REQUIREMENT}: {exc}") from exc
    try:
        tagger = kaldifst.TextNormalizer(str(tagger_path))
        verbalizer = kaldifst.TextNormalizer(str(verbalizer_path))
    except RuntimeError as exc:
        raise ModelUnavailableError(
            f"Chinese ITN FSTs in {fst_dir} are unreadable; reinstall {ZH_ITN_REQUIREMENT}"
        ) from exc
    return _ChineseItn(tagger=tagger, verbalizer=verbalizer, token_parser=TokenParser)
