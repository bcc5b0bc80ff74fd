"""What a backend is to the registry: how it recognises a model, how it loads one, what it offers.

A backend is a class built from its own settings (a frozen config dataclass, `config_type`). Its
capabilities are declared once, as the `EngineCapabilities` its engines carry; `openasr models` renders
them with `capability_labels` instead of keeping a second list of strings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

from openasr.engines.base import Engine, EngineCapabilities


@dataclass(frozen=True)
class ModelStatus:
    """One row of `openasr models`: a model and what it offers, read without loading it."""

    name: str
    status: str
    size_bytes: int
    languages: str
    capabilities: tuple[str, ...]
    missing: tuple[str, ...]
    detail: str = ""


class Backend(Protocol):
    """A family of engines (Whisper, Qwen3-ASR, a remote server) behind one recogniser.

    `config_type` is the backend's own settings; `needs_config` says it is off unless configured (a
    remote engine has no default address)."""

    name: ClassVar[str]
    config_type: ClassVar[type]
    needs_config: ClassVar[bool]
    holds_weights: ClassVar[bool]
    """False for a backend that only calls out (a remote server): on a Ray cluster it stays in the API
    process, as there are no weights to place."""

    def __init__(self, config: Any) -> None: ...

    def recognises(self, model: str) -> bool:
        """Whether `model` (a name, a directory or a hub id) is one of this backend's; cheap, never loads."""
        ...

    def load(self, model: str, cache_dir: Path) -> Engine:
        """The loaded engine; `ModelUnavailableError` / `ModelNotFoundError` when it cannot be."""
        ...

    def status(self, model: str, cache_dir: Path, emotion_model: str | None = None) -> ModelStatus:
        """What `openasr models` shows for `model` (with the pool's emotion classifier), without loading
        its weights."""
        ...


EMOTION_OFF = "emotion (set OPENASR_EMOTION_MODEL)"
DIARIZATION = "diarization (CAM++, about 5–6 % of a core per audio second)"
"""Who spoke when is a stage beside every engine, its model shipped in the package (onnxruntime, a
dependency of the default install, runs it), so every model lists it as active."""
_ITN_LANGUAGES = ("zh", "en")
"""Languages the finishing stage's inverse text normalisation knows (`postprocess/itn.py`)."""


def capability_labels(
    capabilities: EngineCapabilities, emotion_model: str | None = None
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The capabilities a model offers and those it lacks (each with why), as `openasr models` lists
    them. Transcription, punctuation, VAD and diarization belong to every model; emotion to the pool's
    classifier.
    The capabilities' `notes` are left to `/docs`: one line each is too long for a table cell."""
    on = ["transcription", "punctuation"]
    off: list[str] = []
    why: Mapping[str, str] = capabilities.why_not
    if capabilities.language_id:
        on.append("language identification")
    if capabilities.word_timestamps:
        on.append("word timestamps")
    else:
        off.append(f"word timestamps ({why.get('word_timestamps', 'not offered by this engine')})")
    if capabilities.context_biasing:
        on.append(f"context biasing ({capabilities.max_prompt_tokens} tokens)")
    on.append("VAD")
    if itn := [code for code in _ITN_LANGUAGES if code in capabilities.languages]:
        on.append(f"ITN {'/'.join(itn)}")
    if capabilities.translation:
        on.append("translation to English")
    else:
        off.append(f"translation ({why.get('translation', 'not offered by this engine')})")
    on.append(DIARIZATION)
    if emotion_model:
        on.append(f"emotion ({emotion_model})")
    else:
        off.append(EMOTION_OFF)
    return tuple(on), tuple(off)
