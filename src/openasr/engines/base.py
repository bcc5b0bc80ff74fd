"""What every engine offers: capabilities declared up front, recognition of a batch of chunks.

Engines see only 16 kHz float32 chunks no longer than `max_chunk_s`; they never decode files, run VAD or
render wire formats. Times they return are relative to each chunk.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from openasr.core.types import DecoderStats


@dataclass(frozen=True)
class EngineCapabilities:
    """Lets a surface reject an unsupported request early with a 400 naming the parameter.

    `languages` is the set of service language codes the engine can transcribe; `language_id` says
    whether it can detect the language itself; `emotion` whether an emotion classifier runs beside it
    (engines declare False; the engine pool turns it on when `OPENASR_EMOTION_MODEL` is configured).
    `translation` whether it can write English text from speech in other languages (`task=translate`).
    `diarization` whether it can tell speakers apart (engines declare False; the diarization stage, whose
    model ships with the package, turns it on).
    `why_not` says, for a capability that is off (by its field name), why and how to turn it on; `notes`
    are limits of an active one (e.g. languages that get only chunk-level times).
    """

    languages: frozenset[str]
    language_id: bool
    word_timestamps: bool
    context_biasing: bool
    emotion: bool
    max_chunk_s: float
    max_prompt_tokens: int
    concurrent_calls: int
    translation: bool = False
    diarization: bool = False
    why_not: Mapping[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class RecognitionRequest:
    """Decoding settings of one caller (a channel of a request or task).

    `language` None asks the engine to detect it from the chunk itself, with the encoder output that
    recognition computes anyway (no second pass over the audio). `task` is `transcribe` or `translate`
    (English text; only for engines whose capabilities say `translation`). `draft` asks for the cheapest
    decode the engine has (greedy, where it searches beams; a shorter encoder window where the engine
    can take one): a live caption, replaced by a final later."""

    language: str | None
    prompt: str = ""
    words: bool = False
    task: str = "transcribe"
    draft: bool = False


@dataclass(frozen=True)
class RecognitionItem:
    """One chunk to recognise with its caller's settings; a batch may mix callers.

    `speech` is where the VAD heard speech, in seconds from the chunk start: an engine checks its text
    against it, so an utterance the model skipped (Whisper sometimes ends a window early) is decoded
    again instead of silently lost. Empty means "not known": the text is taken as it comes (assuming
    speech throughout would send the decoder back over every trailing silence, where Whisper invents
    words)."""

    samples: np.ndarray
    request: RecognitionRequest
    speech: tuple[tuple[float, float], ...] = ()


@dataclass(frozen=True)
class RecognizedWord:
    """`probability` is the decoder's confidence in the word; None where the engine has none (a forced
    aligner times words it did not choose)."""

    start_s: float
    end_s: float
    text: str
    probability: float | None


@dataclass(frozen=True)
class RecognizedSegment:
    """`decoder` holds what the decoder measured of this segment; None for engines that measure nothing."""

    start_s: float
    end_s: float
    text: str
    words: tuple[RecognizedWord, ...] = ()
    decoder: DecoderStats | None = None


@dataclass(frozen=True)
class Recognition:
    """One chunk's result: its segments and the language they are in; `language_probability` is the
    detection's confidence, None where the caller gave the language. `truncated` says the engine stopped
    at its token budget, so the chunk's text may be cut short (the engine also logs a warning)."""

    segments: tuple[RecognizedSegment, ...]
    language: str
    language_probability: float | None = None
    truncated: bool = False


class Engine(Protocol):
    name: str
    capabilities: EngineCapabilities

    def recognize(self, items: Sequence[RecognitionItem]) -> list[Recognition]:
        """Recognise each chunk; one result per item, in order. An item's result never depends on the
        other items of the batch."""
        ...
