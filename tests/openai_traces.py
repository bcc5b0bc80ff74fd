"""OpenAI realtime test helpers: clips as base64 PCM frames, and the ordering invariants of a trace.

A trace is the list of server events (dicts) one session received, in order. `check_openai_order`
asserts spec §3.4 / §1.5 on it: `session.created` first, per item speech_started < speech_stopped <
committed < item added < completed|failed, deltas only before the item's end and append-only, items
completed in commit order; where the final agrees with the deltas sent, they concatenate to it.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import numpy as np

from audio_files import resample, to_int16

FRAME_S = 0.1
TRANSCRIPTION = "conversation.item.input_audio_transcription"


def pcm_frames(samples16k: np.ndarray, rate_hz: int, frame_s: float = FRAME_S) -> Iterator[str]:
    """The clip as s16le PCM at `rate_hz`, base64, `frame_s` per frame (the SDKs' 100 ms)."""
    pcm = to_int16(resample(samples16k, rate_hz)).tobytes()
    step = int(rate_hz * frame_s) * 2
    for start in range(0, len(pcm), step):
        yield base64.b64encode(pcm[start : start + step]).decode()


def as_received(samples16k: np.ndarray) -> np.ndarray:
    """The 16 kHz samples a server holds after s16le quantisation (what its finals recognise)."""
    return to_int16(samples16k).astype(np.float32) / 32768.0


def check_openai_order(trace: list[dict[str, Any]], *, vad: bool, beta: bool) -> None:
    """Assert the ordering invariants of an OpenAI transcription trace (spec §3.4)."""
    assert trace[0]["type"] == "session.created", trace[0]
    added = "conversation.item.created" if beta else "conversation.item.added"
    steps = (["input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped"] if vad else []) + [
        "input_audio_buffer.committed",
        added,
    ]
    seen: dict[str, list[str]] = {}
    ended: list[str] = []
    committed: list[str] = []
    for event in trace:
        item = event.get("item_id") or (event.get("item") or {}).get("id")
        if item is None or event["type"] == "conversation.item.done":
            continue
        kind = event["type"]
        assert item not in ended, f"{kind} of {item} after its completion"
        if kind in (f"{TRANSCRIPTION}.completed", f"{TRANSCRIPTION}.failed"):
            assert seen.get(item, []) == steps, (item, seen.get(item))
            ended.append(item)
        elif kind == f"{TRANSCRIPTION}.delta":
            assert event["delta"], "an empty delta"
        else:
            seen.setdefault(item, []).append(kind)
            if kind == "input_audio_buffer.committed":
                committed.append(item)
    assert ended == committed, "items complete in commit order"
    for item in ended:
        deltas = "".join(e["delta"] for e in trace if e["type"] == f"{TRANSCRIPTION}.delta" and e["item_id"] == item)
        final = next(
            e["transcript"] for e in trace if e["type"] == f"{TRANSCRIPTION}.completed" and e["item_id"] == item
        )
        assert deltas == final or not final.startswith(deltas), (item, deltas, final)  # §3.4: deltas end as the final
