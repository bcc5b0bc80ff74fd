"""`annotations`, as both chat-shaped surfaces (DashScope native, OpenAI compatible mode) carry them."""

from __future__ import annotations

from typing import Any


def audio_annotations(language: str, emotion: str | None) -> list[dict[str, Any]]:
    """`emotion` only when a classifier gave one: an absent key, never a constant (spec §5)."""
    info: dict[str, Any] = {"type": "audio_info", "language": language}
    if emotion is not None:
        info["emotion"] = emotion
    return [info]
