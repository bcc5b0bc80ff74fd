"""Turns the service's stream of chunk results into text deltas and server-sent events, for every
streaming surface: each surface only renders a step in its own events.

The first update is pulled before the HTTP response starts (`open_stream`), so failures found while
probing, fetching or recognising the first chunk still get a plain error status; each step is billed to
the request before it is sent (`billed_steps`: a client that leaves mid-stream is billed what was
recognised); later failures become an in-stream error event rendered by the surface (`event_stream`).

Each step carries the emotion known so far: that of the chunks the classifier has finished with, never
waited for, so the first delta goes out as soon as its text is ready (the final step has the whole
audio's, spec §5: the service's events all carry one).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from openasr.core.errors import AsrError, InternalError
from openasr.core.options import TokenCounter
from openasr.pipeline import ChunkResult, join_texts
from openasr.pipeline.emotion_stage import emotion_so_far
from openasr.server.observe import Observation
from openasr.server.sse import EVENT_STREAM, SSE_HEADERS
from openasr.service import StreamUpdate

log = logging.getLogger("openasr.server")


@dataclass(frozen=True)
class StreamStep:
    """`delta` is what this step adds to `text`; the final step carries the transcript."""

    delta: str
    text: str
    update: StreamUpdate
    emotion: str | None = None

    @property
    def final(self) -> bool:
        return self.update.transcript is not None

    @property
    def recognised_s(self) -> float:
        """Audio recognised up to this step: the end of this chunk, or the whole file at the end."""
        if self.update.chunk is not None:
            return self.update.chunk.end_s
        return self.update.audio.duration_s

    @property
    def language(self) -> str:
        if self.update.transcript is not None:
            return self.update.transcript.language
        return self.update.chunk.language if self.update.chunk is not None else ""


async def open_stream(obs: Observation, updates: Iterator[StreamUpdate]) -> StreamUpdate:
    """Mark the request as streamed and pull the first update before the response starts."""
    obs.streaming = True
    return await run_in_threadpool(next, updates)


def billed_steps(
    first: StreamUpdate, rest: Iterator[StreamUpdate], obs: Observation, *, context: str, count: TokenCounter
) -> Iterator[StreamStep]:
    """`stream_steps`, each billed for the audio recognised so far and the text so far before it is
    rendered, and the first delta timed."""
    for step in stream_steps(first, rest):
        obs.bill(step.recognised_s, context=context, text=step.text, count=count)
        if step.delta:
            obs.delta_sent()
        yield step


def event_stream(frames: Iterator[str], on_error: Callable[[AsrError], str], request_id: str) -> StreamingResponse:
    """The response that sends `frames` as server-sent events, a failure as the surface's error event."""
    return StreamingResponse(guarded(frames, on_error, request_id), media_type=EVENT_STREAM, headers=SSE_HEADERS)


def stream_steps(first: StreamUpdate, rest: Iterator[StreamUpdate]) -> Iterator[StreamStep]:
    parts: list[str] = []
    chunks: list[ChunkResult] = []
    text = ""
    update: StreamUpdate | None = first
    while update is not None:
        if update.chunk is not None:
            chunks.append(update.chunk)
        if update.chunk is not None and update.chunk.text:
            parts.append(update.chunk.text)
            new_text = join_texts(parts, update.chunk.language)
            yield StreamStep(new_text[len(text) :], new_text, update, emotion_so_far(chunks))
            text = new_text
        elif update.transcript is not None:
            yield StreamStep("", update.transcript.text, update, update.transcript.emotion)
        update = next(rest, None)


def guarded(frames: Iterator[str], on_error: Callable[[AsrError], str], request_id: str) -> Iterator[str]:
    """Render a mid-stream failure as the surface's error event, then end the stream."""
    try:
        yield from frames
    except AsrError as exc:
        yield on_error(exc)
    except Exception:
        log.exception("stream %s failed unexpectedly", request_id)
        yield on_error(InternalError(f"internal error; request id {request_id}"))
