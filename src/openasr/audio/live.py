"""Live audio: 16 kHz mono PCM blocks of unknown total length, as their caller produces them.

A microphone, a WebSocket session or a Python generator hands over float samples block by block and
ends when it ends; nothing is probed and no duration is known up front. `live_blocks` turns such blocks
into the `Audio` blocks that decoding gives for a file (consecutive, each with its start time), so the
VAD and everything after it run the same code for both. The duration cap applies as audio arrives: the
block that passes it raises `AudioTooLongError`, before it reaches the VAD. `PushedAudio` is the queue a
producer on another thread (an event loop receiving frames) pushes into and ends, while the recognition
reads it.
"""

from __future__ import annotations

import queue
from collections.abc import Iterable, Iterator

import numpy as np

from openasr.audio.decode import check_duration
from openasr.core.errors import AudioDecodeError
from openasr.core.types import SAMPLE_RATE_HZ, Audio


def live_blocks(blocks: Iterable[np.ndarray], max_s: float | None = None) -> Iterator[Audio]:
    """Each block as `Audio` starting where the one before ended, failing with `AudioTooLongError` as soon
    as the audio passes `max_s` and with `AudioDecodeError` on a block that is not 1-D float samples
    (float64 is narrowed to float32: what a file decodes to). Empty blocks are skipped."""
    position = 0
    for block in blocks:
        samples = as_samples(block)
        if not len(samples):
            continue
        check_duration((position + len(samples)) / SAMPLE_RATE_HZ, max_s, decoding=True)
        yield Audio(samples, start_s=position / SAMPLE_RATE_HZ)
        position += len(samples)


def as_samples(block: np.ndarray) -> np.ndarray:
    """A block as contiguous 1-D float32, refusing what would need a guess (integers: what scale? 2-D:
    which channel?)."""
    array = np.asarray(block)
    if array.ndim != 1 or not np.issubdtype(array.dtype, np.floating):
        raise AudioDecodeError(
            f"live audio must be 1-D float32 blocks of 16 kHz mono samples, not {array.ndim}-D {array.dtype}"
        )
    return np.ascontiguousarray(array, dtype=np.float32)


class PushedAudio:
    """Blocks pushed by a producer and read, in order, by one recognition on another thread.

    `push` blocks while `max_blocks` wait unread, so a producer faster than recognition is held back
    instead of filling memory; `end` marks the end of the audio (the reader finishes the last chunk and
    stops). Iterate it once: it is the `blocks` of a live source."""

    def __init__(self, max_blocks: int = 256) -> None:
        self._queue: queue.Queue[np.ndarray | None] = queue.Queue(maxsize=max_blocks)

    def push(self, block: np.ndarray, timeout_s: float | None = None) -> None:
        """Hand over the next block (checked here, so the producer learns of a bad block at once)."""
        self._queue.put(as_samples(block), timeout=timeout_s)

    def end(self, timeout_s: float | None = None) -> None:
        self._queue.put(None, timeout=timeout_s)

    def __iter__(self) -> Iterator[np.ndarray]:
        while (block := self._queue.get()) is not None:
            yield block
