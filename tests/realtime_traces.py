"""Checks of a realtime session's server events against the ordering rules of spec §1.5 (DashScope), so
every contract test asserts them on every trace it records."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

TEXT = "conversation.item.input_audio_transcription.text"
COMPLETED = "conversation.item.input_audio_transcription.completed"
FAILED = "conversation.item.input_audio_transcription.failed"
VAD_ORDER = (
    "input_audio_buffer.speech_started",
    "input_audio_buffer.speech_stopped",
    "input_audio_buffer.committed",
    "conversation.item.created",
)


def check_dashscope_trace(events: Sequence[dict[str, Any]], *, updates: int, vad: bool) -> list[str]:
    """The items' ids in commit order, after asserting §1.5 on `events` (the server's, in arrival order):
    `session.created` first, one answer per `session.update`, each item's events in order, captions only
    before the item's final and never shrinking, finals in commit order, `session.finished` last."""
    kinds = [e["type"] for e in events]
    assert kinds[0] == "session.created" and events[0]["session"]["id"]
    answers = [k for k in kinds if k in ("session.updated", "error")]
    assert kinds.count("session.updated") <= updates <= len(answers)
    if "session.finished" in kinds:
        assert kinds.index("session.finished") == len(kinds) - 1
    committed = [e["item_id"] for e in events if e["type"] == "input_audio_buffer.committed"]
    finals = [e["item_id"] for e in events if e["type"] in (COMPLETED, FAILED)]
    assert finals == committed, "every committed item gets one final, in commit order"
    for item in committed:
        _check_item([e for e in events if _item_of(e) == item], vad=vad)
    return committed


def _item_of(event: dict[str, Any]) -> str | None:
    return event.get("item_id") or (event.get("item") or {}).get("id")


def _check_item(events: list[dict[str, Any]], *, vad: bool) -> None:
    kinds = [e["type"] for e in events]
    milestones = [k for k in kinds if k in VAD_ORDER]
    assert milestones == (list(VAD_ORDER) if vad else list(VAD_ORDER[2:])), milestones
    assert kinds[-1] in (COMPLETED, FAILED) and kinds.count(COMPLETED) + kinds.count(FAILED) == 1
    if vad:
        assert kinds.index(VAD_ORDER[0]) == 0
    confirmed = [e["text"] for e in events if e["type"] == TEXT]
    assert all(b.startswith(a) for a, b in itertools.pairwise(confirmed)), confirmed
