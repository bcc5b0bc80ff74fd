"""`annotations`, as both chat-shaped surfaces (DashScope native, OpenAI compatible mode) carry them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class AudioInfoAnnotation(BaseModel):
    """The one annotation both surfaces write (exact: extra keys forbidden)."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["audio_info"]
    language: str
    emotion: str | None = Field(default=None, description="only when an emotion classifier is active")


def audio_annotations(language: str, emotion: str | None) -> list[dict[str, Any]]:
    """`emotion` only when a classifier gave one: an absent key, never a constant (spec §5)."""
    info: dict[str, Any] = {"type": "audio_info", "language": language}
    if emotion is not None:
        info["emotion"] = emotion
    return [info]
