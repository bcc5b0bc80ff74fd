"""One realtime session: live 16 kHz samples in, turns, live captions and finals out (spec §5).

Audio goes into a buffer that holds only what the open item can still need, and through an incremental
Silero stream: in VAD mode the `turns.TurnDetector` opens and closes items; in manual mode the client's
`commit` does, and Silero only says whether there is speech worth a caption. While an item is open,
partial decodes (`partials`) run at `Priority.PARTIAL`, one at a time per session, skipped while the
engine has finals waiting. When an item is committed its samples are recognised by the offline path,
`pipeline.start` on a live source holding exactly those samples with the options `openasr.transcribe`
uses, so a final equals `openasr.transcribe` of the same samples, emotion included when configured. In
VAD mode that decode starts as soon as the turn's end is known (its kept tail of silence has arrived),
and is discarded if speech resumes before the silence confirms the end.

Events go out in the order they were decided, through one lock: no caption of an item after its commit,
finals in commit order, nothing after `close`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import numpy as np

from openasr import pipeline
from openasr.core.errors import AsrError
from openasr.core.options import TokenCounter, TranscribeOptions, count_context_tokens
from openasr.core.types import SAMPLE_RATE_HZ
from openasr.engines.base import RecognitionItem
from openasr.realtime import partials
from openasr.realtime.buffer import AudioBuffer
from openasr.realtime.errors import BUFFER_TOO_LONG, COMMIT_EMPTY, INVALID_VALUE, RealtimeError
from openasr.realtime.events import Committed, Event, Failed, Final, Partial, SpeechStarted, SpeechStopped
from openasr.realtime.partials import OpenItem
from openasr.realtime.turns import START_FRAMES, TurnDetector, TurnEnd, TurnStart
from openasr.runtime.batcher import EngineFront, Priority
from openasr.vad.silero import FRAME_SAMPLES, shared_vad

log = logging.getLogger("openasr.realtime")

MIN_COMMIT_S = 0.1
"""A manual commit needs this much audio (OpenAI's rule; DashScope's surface ignores a smaller one)."""
MAX_MANUAL_S = 60.0
"""Manual mode: uncommitted audio beyond this is dropped (the cloud's limit, spec §1.3)."""
MANUAL_SPEECH = 0.5
"""Manual mode has no turn detection; a frame this likely to be speech counts towards a caption."""
_THREADED_FEED = SAMPLE_RATE_HZ
"""Appends longer than this run Silero in a thread, so a big frame does not stall the event loop."""


@dataclass(frozen=True)
class TurnDetection:
    """Server VAD: `threshold` is a Silero speech probability (surfaces map their own scale to it)."""

    threshold: float = 0.5
    silence_ms: int = 800
    prefix_padding_ms: int = 300


@dataclass(frozen=True)
class SessionConfig:
    """`model` is an engine model of the pool (surfaces map public names); `turn_detection` None is
    manual commit; `partials` False sends finals only."""

    model: str
    language: str | None = None
    context: str | None = None
    turn_detection: TurnDetection | None = field(default_factory=TurnDetection)
    partials: bool = True

    def options(self) -> TranscribeOptions:
        """What `openasr.transcribe(samples, language=…, context=…)` recognises with."""
        return TranscribeOptions(model=self.model, language=self.language, context=self.context or "")


Emit = Callable[[Event], Awaitable[None]]


class RealtimeSession:
    """Drive with `update`, `append`, `commit`, `clear`; end with `finish` (the client asked) or `close`
    (the client vanished). Not thread-safe: one event loop drives it."""

    def __init__(self, config: SessionConfig, models: pipeline.Models, emit: Emit) -> None:
        self.config = config
        self._models = models
        self._emit = emit
        self._engine: EngineFront | None = None
        self._buffer = AudioBuffer()
        self._vad = shared_vad().stream()
        self._frames = 0
        self._turns = self._detector(config, 0)
        self._item: OpenItem | None = None
        self._ids = itertools.count(1)
        self._previous: str | None = None
        self._commit_point = 0
        self._finals: list[asyncio.Task[None]] = []
        self._partial: asyncio.Task[None] | None = None
        self._early: _EarlyFinal | None = None
        self._lock = asyncio.Lock()
        self._closed = False

    @property
    def audio_received_s(self) -> float:
        """Seconds of audio received so far (what the session is billed)."""
        return self._buffer.end / SAMPLE_RATE_HZ

    @property
    def count_tokens(self) -> TokenCounter:
        """How the session's model counts text tokens (for the bill)."""
        return self._engine.count_tokens if self._engine is not None else count_context_tokens

    async def update(self, config: SessionConfig) -> None:
        """Apply a new configuration (checked against the model first: `RealtimeError` naming the field).
        A change of turn detection commits the open item first and applies from the next frame."""
        try:
            engine = await asyncio.to_thread(self._models.get, config.model)
            pipeline.check_engine(engine, config.options())
        except AsrError as exc:
            raise RealtimeError(INVALID_VALUE, exc.message, getattr(exc, "param", None)) from None
        self._engine = engine
        if config.turn_detection != self.config.turn_detection:
            with contextlib.suppress(RealtimeError):  # the open item ends under the rules it began with
                await self.commit()
            self._item = None
            self._turns = self._detector(config, self._buffer.end)
        self.config = config

    async def append(self, samples: np.ndarray) -> None:
        """Take the next samples (float32 mono 16 kHz). Raises `RealtimeError` when manual mode's
        uncommitted audio passes its limit (the excess is dropped)."""
        samples = np.ascontiguousarray(samples, dtype=np.float32)
        excess = 0
        if self.config.turn_detection is None:
            room = self._commit_point + int(MAX_MANUAL_S * SAMPLE_RATE_HZ) - self._buffer.end
            excess = max(0, len(samples) - max(room, 0))
            samples = samples[: len(samples) - excess]
        if len(samples):
            self._buffer.append(samples)
            await self._detect(samples)
            self._trim()
            self._maybe_partial()
        if excess:
            raise RealtimeError(
                BUFFER_TOO_LONG, f"uncommitted audio is over {MAX_MANUAL_S:.0f} s; commit more often", "audio"
            )

    async def commit(self) -> None:
        """End the open item now and recognise it. Raises `RealtimeError(COMMIT_EMPTY)` when there is
        nothing to commit (VAD mode: no speech active; manual: under 100 ms since the last commit)."""
        end = self._buffer.end
        if self.config.turn_detection is not None:
            if self._turns is None or self._turns.end_now(end) is None or self._item is None:
                raise RealtimeError(COMMIT_EMPTY, "no speech is active to commit")
            await self._close_item(end, stopped=True)
            return
        if end - self._commit_point < MIN_COMMIT_S * SAMPLE_RATE_HZ:
            raise RealtimeError(COMMIT_EMPTY, f"buffer too small: commit at least {MIN_COMMIT_S * 1000:.0f} ms")
        if self._item is None:
            self._item = OpenItem(self._next_id(), self._commit_point)
        await self._close_item(end, stopped=False)

    async def clear(self) -> None:
        """Drop the uncommitted audio and the open item (no final for it)."""
        self._item = None
        self._take_early(None, None)
        self._commit_point = self._buffer.end
        self._buffer.drop_before(self._buffer.end)
        self._turns = self._detector(self.config, self._buffer.end)

    async def finish(self) -> None:
        """Commit what is open (speech in VAD mode; ≥ 100 ms in manual mode), then wait for every final."""
        with contextlib.suppress(RealtimeError):  # nothing open: nothing to add
            await self.commit()
        if self._partial is not None:
            self._partial.cancel()
        await asyncio.gather(*self._finals, return_exceptions=True)

    async def close(self) -> None:
        """The client is gone: stop every decode this session started and emit nothing more."""
        self._closed = True
        early = self._early.decode if self._early is not None else None
        tasks = [t for t in (self._partial, early, *self._finals) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _detector(self, config: SessionConfig, previous_end: int) -> TurnDetector | None:
        vad = config.turn_detection
        if vad is None:
            return None
        return TurnDetector(vad.threshold, vad.silence_ms, vad.prefix_padding_ms, self._frames, previous_end)

    async def _detect(self, samples: np.ndarray) -> None:
        """Score the samples with Silero and act on the turns they complete."""
        if len(samples) > _THREADED_FEED:
            probabilities = await asyncio.to_thread(self._vad.feed, samples)
        else:
            probabilities = self._vad.feed(samples)
        self._frames += len(probabilities)
        if self._turns is None:
            if self._item is None and len(probabilities):
                self._item = OpenItem(self._next_id(), self._commit_point)
            if self._item is not None:
                self._item.voiced_frames += int((probabilities >= MANUAL_SPEECH).sum())
            return
        for turn in self._turns.feed(probabilities):
            if isinstance(turn, TurnStart):
                self._item = OpenItem(self._next_id(), turn.sample)
                await self._send(SpeechStarted(self._item.item_id, _ms(turn.sample)))
            elif isinstance(turn, TurnEnd) and self._item is not None:
                await self._close_item(turn.sample, stopped=True)
        if self._item is not None:
            self._item.voiced_frames += int((probabilities >= self._turns.p_off).sum())
        self._decode_early()

    def _decode_early(self) -> None:
        """Start the open item's final as soon as its end is known (the tail of silence it keeps has
        arrived), rather than when the rest of the silence confirms it: the same samples, so the same
        final, up to `silence_ms − 200 ms` sooner. Speech that resumes first discards it. Only on an
        engine with no interactive chunk waiting, so it never delays anyone's final."""
        item, engine = self._item, self._engine
        end = self._turns.tentative_end() if self._turns is not None and item is not None else None
        if self._early is not None and self._early.item is item and self._early.end == end:
            return  # still the same end: the decode already running holds
        self._take_early(None, None)
        if end is None or item is None or engine is None or engine.stats.queued.get(Priority.INTERACTIVE, 0):
            return
        self._early = _EarlyFinal(item, end, self._start_final(item, end))

    def _take_early(self, item: OpenItem | None, end: int | None) -> asyncio.Future[Final] | None:
        """The early final if it decodes `item` up to `end`; any other is cancelled (its end was wrong)."""
        early, self._early = self._early, None
        if early is None:
            return None
        if early.item is item and early.end == end:
            return early.decode
        early.decode.cancel()
        return None

    def _start_final(self, item: OpenItem, end: int) -> asyncio.Future[Final]:
        samples = self._buffer.slice(item.start, end)
        return asyncio.ensure_future(asyncio.to_thread(self._decode_final, item.item_id, samples))

    async def _close_item(self, end: int, *, stopped: bool) -> None:
        """Commit the open item at `end`: its events, then its final decode in the background."""
        item, self._item = self._item, None
        assert item is not None
        if self._partial is not None:  # its caption could not be sent any more: free the engine for the final
            self._partial.cancel()
        decode = self._take_early(item, end) or self._start_final(item, end)
        self._commit_point = end
        if stopped:
            await self._send(SpeechStopped(item.item_id, _ms(end)))
        await self._send(Committed(item.item_id, self._previous))
        self._previous = item.item_id
        before = self._finals[-1] if self._finals else None
        self._finals = [t for t in self._finals if not t.done()]
        self._finals.append(asyncio.create_task(self._final(item.item_id, decode, before)))
        self._trim()

    async def _final(self, item_id: str, decode: asyncio.Future[Final], before: asyncio.Task[None] | None) -> None:
        """Await the item's offline recognition, then emit its result once every earlier item's is out."""
        event: Event
        try:
            event = await decode
        except _Closed:
            return
        except AsrError as exc:
            event = Failed(item_id, exc.code, exc.message)
        except Exception as exc:
            log.exception("realtime item %s: its final decode failed", item_id)
            event = Failed(item_id, "InternalError", str(exc) or type(exc).__name__)
        if before is not None:
            await asyncio.gather(before, return_exceptions=True)
        await self._send(event)

    def _decode_final(self, item_id: str, samples: np.ndarray) -> Final:
        """`Transcription.run` of the item's samples, chunk by chunk so a closed session stops early."""
        recognition = pipeline.start([samples], self.config.options(), self._models, priority=Priority.INTERACTIVE)
        chunks = []
        for chunk in recognition.stream():
            if self._closed:
                raise _Closed
            chunks.append(chunk)
        channel = recognition.assemble([chunks]).channels[0]
        return Final(item_id, channel.text, channel.language, channel.emotion, len(samples) / SAMPLE_RATE_HZ)

    def _maybe_partial(self) -> None:
        """Start a caption decode of the open item when one is due and none is running; skipped (not
        queued) while this session's finals are being decoded or interactive chunks (anyone's finals,
        sync requests) wait for the engine: on a small machine a caption would slow the final down."""
        item, engine = self._item, self._engine
        if not self.config.partials or item is None or engine is None or self._partial is not None:
            return
        if self._early is not None:  # the item's end is known and its final decoding: no caption is due
            return
        end = self._buffer.end
        if not partials.due(item, partials.voiced_s(item.voiced_frames, FRAME_SAMPLES), end):
            return
        if any(not t.done() for t in self._finals) or engine.stats.queued.get(Priority.INTERACTIVE, 0):
            return
        start, end = partials.window(item, end)
        item.partial_at = end
        decode = RecognitionItem(self._buffer.slice(start, end), partials.request(item, *self._decode_settings()))
        self._partial = asyncio.create_task(self._caption(item, engine, decode, start, end))

    def _decode_settings(self) -> tuple[str | None, str]:
        return self.config.language, self.config.context or ""

    async def _caption(
        self, item: OpenItem, engine: EngineFront, decode: RecognitionItem, start: int, end: int
    ) -> None:
        try:
            recognition = await asyncio.wrap_future(engine.submit(decode, Priority.PARTIAL))
            stable = partials.accept(item, recognition, start, end) if self._item is item else None
            if stable is not None:
                language = recognition.language
                await self._send(Partial(item.item_id, stable.confirmed, stable.stash, stable.delta, language), item)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning("realtime item %s: a caption decode failed", item.item_id, exc_info=True)
        finally:
            self._partial = None
        self._maybe_partial()  # audio that arrived meanwhile: one follow-up decode

    async def _send(self, event: Event, open_item: OpenItem | None = None) -> None:
        """Emit in decision order; a caption only while its item is still open; nothing after close."""
        async with self._lock:
            if self._closed or (open_item is not None and self._item is not open_item):
                return
            await self._emit(event)

    def _trim(self) -> None:
        """Keep only what the open item, or the next item's prefix padding, can still need."""
        if self._item is not None:
            keep = self._item.start
        elif self.config.turn_detection is not None:
            # the next turn starts `START_FRAMES` frames before the frame that confirms it (which may be
            # the next one scored), then reaches back by the prefix padding
            prefix = self.config.turn_detection.prefix_padding_ms * SAMPLE_RATE_HZ // 1000
            keep = (self._frames - START_FRAMES) * FRAME_SAMPLES - prefix
        else:
            keep = self._commit_point
        self._buffer.drop_before(keep)

    def _next_id(self) -> str:
        return f"item_{next(self._ids)}"


@dataclass(frozen=True)
class _EarlyFinal:
    """A final decoding before its turn's end is confirmed: kept if the turn ends at `end`."""

    item: OpenItem
    end: int
    decode: asyncio.Future[Final]


class _Closed(Exception):
    """The session closed while its final was being decoded: the rest of the decode is skipped."""


def _ms(sample: int) -> int:
    return sample * 1000 // SAMPLE_RATE_HZ
