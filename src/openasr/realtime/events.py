"""What a session tells its surface, protocol-agnostic: each surface maps these to its wire events.

Item ids are the session's own (`item_1`, `item_2` …); times are milliseconds of audio received in the
session (sample counts, not wall clock), as both wire protocols define them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SpeechStarted:
    """Voice activity began; `audio_start_ms` includes the prefix padding kept before it."""

    item_id: str
    audio_start_ms: int


@dataclass(frozen=True)
class SpeechStopped:
    """The turn ended (silence, a hard split at 30 s, a commit or finish while speech was active)."""

    item_id: str
    audio_end_ms: int


@dataclass(frozen=True)
class Committed:
    """The item's audio is fixed and its final decode has started; `previous_item_id` is None for the
    session's first item (DashScope renders it as "", OpenAI as null)."""

    item_id: str
    previous_item_id: str | None


@dataclass(frozen=True)
class Partial:
    """A live caption of the open item: `confirmed` only grows (LocalAgreement-2), `stash` is the revisable
    rest of the newest hypothesis, `delta` what `confirmed` gained since the item's previous partial."""

    item_id: str
    confirmed: str
    stash: str
    delta: str
    language: str | None = None


@dataclass(frozen=True)
class Final:
    """The item's transcript, decoded exactly as the offline path decodes its samples."""

    item_id: str
    transcript: str
    language: str | None
    emotion: str | None
    audio_s: float


@dataclass(frozen=True)
class Failed:
    """The item's final decode failed; later items and input continue."""

    item_id: str
    code: str
    message: str


Event = SpeechStarted | SpeechStopped | Committed | Partial | Final | Failed
