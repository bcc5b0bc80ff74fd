"""openasr: self-hosted speech recognition with the Qwen3-ASR (DashScope) and OpenAI APIs.

The library API (`transcribe`, `transcribe_stream`) is imported on first use, so `import openasr`
stays cheap (no numpy, no model, no web framework).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["AsrError", "Sentence", "Transcript", "Word", "__version__", "close", "transcribe", "transcribe_stream"]

if TYPE_CHECKING:
    from openasr.api import close, transcribe, transcribe_stream
    from openasr.core.errors import AsrError
    from openasr.core.types import Sentence, Transcript, Word

_LAZY = {
    "transcribe": "openasr.api",
    "transcribe_stream": "openasr.api",
    "close": "openasr.api",
    "AsrError": "openasr.core.errors",
    "Sentence": "openasr.core.types",
    "Transcript": "openasr.core.types",
    "Word": "openasr.core.types",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'openasr' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
