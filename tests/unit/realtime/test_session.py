"""A realtime session's turn and buffer rules on real audio, without a server: the hard split of a long
turn, Manual mode's buffer limit, empty commits, `clear`, and `close` stopping what it started. Finals are
not awaited here (the contract tests compare them with offline recognition)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import numpy as np
import pytest

from live_server import cache_dir, shared_engines
from openasr.audio.decode import decode_audio
from openasr.realtime.errors import BUFFER_TOO_LONG, COMMIT_EMPTY, RealtimeError
from openasr.realtime.events import Committed, Event, Final, SpeechStarted, SpeechStopped
from openasr.realtime.session import RealtimeSession, SessionConfig, TurnDetection
from speech_clips import clip

RATE = 16000


def run(coroutine: Coroutine[Any, Any, None]) -> None:
    asyncio.run(coroutine)


async def opened(config: SessionConfig, events: list[Event]) -> RealtimeSession:
    async def emit(event: Event) -> None:
        events.append(event)

    session = RealtimeSession(config, shared_engines(cache_dir()), emit)
    await session.update(config)
    return session


async def stream_in_tenths(audio: np.ndarray, vad: TurnDetection, events: list[Event]) -> None:
    """A session without captions fed `audio` in 100 ms blocks, as clients send it, then finished."""
    session = await opened(SessionConfig("whisper-base", "en", turn_detection=vad, partials=False), events)
    for start in range(0, len(audio), RATE // 10):
        await session.append(audio[start : start + RATE // 10])
        await asyncio.sleep(0)  # the decodes it started get their turn, as between a client's frames
    await session.finish()


def test_a_turn_longer_than_30_s_is_split_into_two_items() -> None:
    names = ("0870", "0920", "0890", "0930", "0880", "0890", "0880")  # 33 s of speech, no pause of 6 s
    speech = np.concatenate([decode_audio(clip(name).path) for name in names])
    events: list[Event] = []

    async def scenario() -> None:
        vad = TurnDetection(threshold=0.5, silence_ms=6000, prefix_padding_ms=0)
        session = await opened(SessionConfig("whisper-base", "en", turn_detection=vad, partials=False), events)
        for start in range(0, len(speech), RATE):
            await session.append(speech[start : start + RATE])
        await session.close()

    run(scenario())
    kinds = [type(e) for e in events]
    assert kinds[:4] == [SpeechStarted, SpeechStopped, Committed, SpeechStarted]
    first, stopped, second = events[0], events[1], events[3]
    assert isinstance(first, SpeechStarted) and isinstance(stopped, SpeechStopped)
    assert isinstance(second, SpeechStarted) and second.item_id != first.item_id
    assert 27_000 <= stopped.audio_end_ms - first.audio_start_ms <= 30_000
    assert second.audio_start_ms == stopped.audio_end_ms
    assert not [e for e in events if isinstance(e, Final)], "close() stops the finals it started"


def test_manual_mode_keeps_60_s_uncommitted_and_refuses_empty_commits() -> None:
    events: list[Event] = []

    async def scenario() -> None:
        session = await opened(SessionConfig("whisper-base", "en", turn_detection=None), events)
        with pytest.raises(RealtimeError) as empty:
            await session.commit()
        assert empty.value.code == COMMIT_EMPTY
        for _ in range(61):
            try:
                await session.append(np.zeros(RATE, dtype=np.float32))
            except RealtimeError as error:
                assert error.code == BUFFER_TOO_LONG
        assert session.audio_received_s == 60.0
        await session.clear()
        with pytest.raises(RealtimeError):
            await session.commit()  # cleared: nothing to commit
        await session.append(np.zeros(RATE // 5, dtype=np.float32))
        await session.commit()
        await session.close()

    run(scenario())
    assert [type(e) for e in events] == [Committed]


def test_each_final_decodes_exactly_the_span_its_events_announce() -> None:
    """The prefix padding reaches back before the frames that confirmed the turn: the buffer must still
    hold those samples, or the final decodes less than `audio_start_ms`..`audio_end_ms` (and can differ
    from offline recognition of that span)."""
    gap = np.zeros(RATE, dtype=np.float32)
    audio = np.concatenate([gap, decode_audio(clip("0880").path), gap, decode_audio(clip("0890").path), gap])
    events: list[Event] = []
    run(stream_in_tenths(audio, TurnDetection(threshold=0.5, silence_ms=500, prefix_padding_ms=300), events))
    starts = {e.item_id: e.audio_start_ms for e in events if isinstance(e, SpeechStarted)}
    ends = {e.item_id: e.audio_end_ms for e in events if isinstance(e, SpeechStopped)}
    finals = {e.item_id: e.audio_s for e in events if isinstance(e, Final)}
    assert len(finals) == 2 and finals.keys() == starts.keys() == ends.keys()
    assert all(starts[item] > 0 for item in finals), "each turn's padding starts after the leading silence"
    for item, seconds in finals.items():
        assert seconds == pytest.approx((ends[item] - starts[item]) / 1000, abs=1e-9)


def test_a_final_starts_when_its_end_is_known_and_a_pause_that_speech_resumes_is_discarded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With 1.5 s of silence to end a turn, the final starts once the 200 ms tail it keeps has arrived;
    a 400 ms pause (plus the clip's own trailing quiet) starts one too, which the resumed speech
    discards: one item, one final, of all of it."""
    decoded: list[float] = []
    decode_final = RealtimeSession._decode_final

    def counted(self: RealtimeSession, item_id: str, samples: np.ndarray) -> Final:
        decoded.append(len(samples) / RATE)
        return decode_final(self, item_id, samples)

    monkeypatch.setattr(RealtimeSession, "_decode_final", counted)
    gap = np.zeros(2 * RATE, dtype=np.float32)
    pause = np.zeros(RATE * 2 // 5, dtype=np.float32)
    audio = np.concatenate([gap, decode_audio(clip("0880").path), pause, decode_audio(clip("0890").path), gap])
    events: list[Event] = []
    run(stream_in_tenths(audio, TurnDetection(threshold=0.5, silence_ms=1500, prefix_padding_ms=300), events))
    finals = [e for e in events if isinstance(e, Final)]
    stopped = [e for e in events if isinstance(e, SpeechStopped)]
    assert len(finals) == 1 and len(stopped) == 1
    assert len(decoded) >= 2, "the pause started a final that the resumed speech discarded"
    assert decoded[-1] == finals[0].audio_s > decoded[0], "the kept final is the whole turn's, decoded early"
