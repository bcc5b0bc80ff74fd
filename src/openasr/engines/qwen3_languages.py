"""Qwen3-ASR's language names <-> the service's codes, and the parser of what the model writes.

The model answers `language <Name><asr_text><text>`: `<Name>` is one of the 30 English language names it
was trained with ("Chinese", "Cantonese" …), or "None" when it heard no speech (noise rejection by the
model itself). Forcing a language prefills that same line, so the model only writes the text. The 22
Chinese dialects the model recognises are reported as written Chinese (`zh`), except Cantonese (`yue`),
the way the service reports them (spec §11: `zh` covers Mandarin, Sichuanese, Minnan, Wu).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from openasr.engines.qwen3_repetition import fix_repetitions

CODE_TO_NAME: dict[str, str] = {
    "ar": "Arabic",
    "yue": "Cantonese",
    "zh": "Chinese",
    "cs": "Czech",
    "da": "Danish",
    "nl": "Dutch",
    "en": "English",
    "fil": "Filipino",
    "fi": "Finnish",
    "fr": "French",
    "de": "German",
    "el": "Greek",
    "hi": "Hindi",
    "hu": "Hungarian",
    "id": "Indonesian",
    "it": "Italian",
    "ja": "Japanese",
    "ko": "Korean",
    "mk": "Macedonian",
    "ms": "Malay",
    "fa": "Persian",
    "pl": "Polish",
    "pt": "Portuguese",
    "ro": "Romanian",
    "ru": "Russian",
    "es": "Spanish",
    "sv": "Swedish",
    "th": "Thai",
    "tr": "Turkish",
    "vi": "Vietnamese",
}
"""The 30 languages of Qwen3-ASR, named as the model writes them (transformers' `LANGUAGE_CODE_TO_NAME`)."""

CHINESE_DIALECTS: dict[str, str] = {
    **{
        name: "zh"
        for name in (
            "Anhui",
            "Dongbei",
            "Fujian",
            "Gansu",
            "Guizhou",
            "Hebei",
            "Henan",
            "Hubei",
            "Hunan",
            "Jiangxi",
            "Ningxia",
            "Shandong",
            "Shaanxi",
            "Shanxi",
            "Sichuan",
            "Sichuanese",
            "Tianjin",
            "Yunnan",
            "Zhejiang",
            "Wu",
            "Shanghainese",
            "Minnan",
            "Hokkien",
            "Mandarin",
        )
    },
    "Cantonese": "yue",
    "Hong Kong Cantonese": "yue",
    "Guangdong Cantonese": "yue",
}
"""Dialect names (with or without "dialect"/"Chinese" around them) -> service code."""

ALIGNER_LANGUAGES = frozenset({"zh", "en", "yue", "fr", "de", "it", "ja", "ko", "pt", "ru", "es"})
"""What Qwen3-ForcedAligner times (transformers' `FORCED_ALIGNER_LANGUAGES`); Japanese and Korean need
the `nagisa` and `soynlp` word splitters, checked when the aligner loads."""

_NAME_TO_CODE = {name.lower(): code for code, name in CODE_TO_NAME.items()} | {
    name.lower(): code for name, code in CHINESE_DIALECTS.items()
}
_DECORATION = re.compile(r"\b(dialect|chinese|language)\b|[()（）]", re.IGNORECASE)


def language_code(name: str) -> str | None:
    """The service code of a language or dialect name the model wrote; None when it is not one.

    Accepts "Chinese", "Sichuan dialect", "Chinese (Wu)", "wu" …; "None" (no speech) gives None."""
    key = name.strip().lower()
    if key in _NAME_TO_CODE:
        return _NAME_TO_CODE[key]
    bare = " ".join(_DECORATION.sub(" ", key).split())
    if bare in _NAME_TO_CODE:
        return _NAME_TO_CODE[bare]
    if not bare and "chinese" in key:
        return "zh"
    return None


def language_name(code: str) -> str:
    """The name that forces `code` in the prompt; KeyError for a language the model does not have."""
    return CODE_TO_NAME[code]


_MARKER = "<asr_text>"
_LANGUAGE_LIST = re.compile(r"\s*[,/、，;+&]\s*|\s+and\s+")


@dataclass(frozen=True)
class ParsedOutput:
    """What the model wrote for one chunk. `no_speech` is its `language None` verdict with no text after
    it; `language` is the service code it named (None where it named none, or one we do not know)."""

    text: str
    language: str | None
    no_speech: bool = False


def parse_output(raw: str, forced_language: str | None = None) -> ParsedOutput:
    """Parse `language X<asr_text>text` (special tokens kept in `raw`) as qwen-asr's `parse_asr_output`
    does (QwenLM/Qwen3-ASR `qwen_asr/inference/utils.py`, lines 403-470): loops collapsed first; the
    header's first `language …` line names the language; `language None` with text after it keeps the
    text ("if model still returned something, keep it"). With a forced language the model only wrote
    the text, which may still hold a repeated header that is dropped."""
    text = fix_repetitions(raw.replace("<|im_end|>", "").replace("<|endoftext|>", "").strip())
    if _MARKER not in text:
        return ParsedOutput(text.strip(), forced_language)
    header, _, body = text.partition(_MARKER)
    body = body.replace(_MARKER, "").strip()
    named = _header_language(header)
    if named.lower() == "none":
        return ParsedOutput(body, forced_language, no_speech=not body)
    return ParsedOutput(body, forced_language or _header_code(named))


def _header_language(header: str) -> str:
    """What the first `language …` line of the header names (the first line where none says so)."""
    lines = [line.strip() for line in header.strip().splitlines() if line.strip()]
    for line in lines:
        if line.lower().startswith("language "):
            return line[len("language ") :].strip()
    return lines[0] if lines else ""


def _header_code(named: str) -> str | None:
    """The code of a header's language; a header naming several ("Chinese,English") gives the first of
    them that is known."""
    code = language_code(named)
    if code is not None or named.lower() == "none":
        return code
    for part in _LANGUAGE_LIST.split(named):
        if part and (code := language_code(part)) is not None:
            return code
    return None
