"""What a Qwen3-ASR model offers, declared once: for the loaded engine and for `openasr models`.

Apart from `qwen3.py` so that the registry reads it without importing torch or loading weights.
"""

from __future__ import annotations

from openasr.core.options import MAX_CONTEXT_TOKENS
from openasr.engines.base import EngineCapabilities
from openasr.engines.qwen3_languages import CODE_TO_NAME

MAX_CHUNK_S = 30.0
PROMPT_RESERVE_TOKENS = 1024
"""Positions kept free of context for the chat template, 30 s of audio (about 390 tokens) and the text."""
DEFAULT_POSITIONS = 65536
"""The published checkpoints' `max_position_embeddings`, assumed for a hub id whose config is not here."""


def qwen3_capabilities(positions: int, aligner_languages: frozenset[str] | None) -> EngineCapabilities:
    """A model of `positions` decoder positions, with a forced aligner timing `aligner_languages` (None:
    no aligner, so no word timestamps and sentences take their chunk's times)."""
    return EngineCapabilities(
        languages=frozenset(CODE_TO_NAME),
        language_id=True,
        word_timestamps=aligner_languages is not None,
        context_biasing=True,
        emotion=False,
        max_chunk_s=MAX_CHUNK_S,
        max_prompt_tokens=max(0, min(MAX_CONTEXT_TOKENS, positions - PROMPT_RESERVE_TOKENS)),
        concurrent_calls=1,
        why_not=_why_not(aligner_languages),
        notes=_notes(aligner_languages),
    )


def _why_not(aligner_languages: frozenset[str] | None) -> dict[str, str]:
    why = {
        "emotion": "no emotion classifier for Qwen3-ASR",
        "translation": "Qwen3-ASR only transcribes",
    }
    if aligner_languages is None:
        why["word_timestamps"] = (
            "no forced aligner is configured (set OPENASR_ALIGNER_MODEL to a Qwen3-ForcedAligner directory or hub id)"
        )
    return why


def _notes(aligner_languages: frozenset[str] | None) -> tuple[str, ...]:
    if aligner_languages is None:
        return ("sentence times are those of the VAD chunks (no forced aligner)",)
    others = sorted(set(CODE_TO_NAME) - aligner_languages)
    return (f"word times in {', '.join(sorted(aligner_languages))}; chunk-level times in {', '.join(others)}",)
