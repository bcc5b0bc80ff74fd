"""Where a recognition's audio comes from: a file, or live blocks.

Both kinds give the recognition the same two things, the audio's facts (`info`) and each channel's
16 kHz blocks (`blocks`), so decode → VAD → chunks → engine → postprocess is one code path for both:

* a **file** is probed once when it is opened (format, channels, duration; a header without a length is
  counted by a bounded decode), and the surface's limits (size, then duration) and the requested channels
  are checked before any decoding;
* a **live** source is mono 16 kHz float samples in blocks that its caller produces and ends (a Python
  iterable, or `audio.live.PushedAudio` fed by a WebSocket handler). Nothing is known up front: its
  `info` reports the audio received so far (the whole duration once it has ended), and the duration
  limit applies as audio arrives (`AudioTooLongError` from the block that passes it). It has one
  channel, read once.

Admission (`runtime.admission`) wants a sync request's duration up front. A live source has none, and
arrives no faster than it is spoken, so a surface serving one admits it as a request of unknown length
(`Admission.enter`, counted at the mean duration) rather than reserving a duration it cannot know.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from openasr.audio.decode import check_channels, check_duration, decode_blocks, measured_info
from openasr.audio.live import live_blocks
from openasr.core.errors import AudioTooLargeError
from openasr.core.types import SAMPLE_RATE_HZ, Audio, AudioInfo

_MB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """What a surface accepts of one recording (spec §11: sync 10 MB / 5 min, async 2 GB / 12 h): bytes on
    disk (files only) and seconds of audio. The CLI and the Python API have none."""

    max_bytes: int
    max_seconds: float


class AudioSource(Protocol):
    """An opened source, as a recognition reads it."""

    @property
    def info(self) -> AudioInfo:
        """The audio's facts: known at once for a file, growing with the audio for a live source."""
        ...

    def blocks(self, channel: int | None) -> Iterator[Audio]:
        """Consecutive 16 kHz blocks of one channel (None: the mono mix), each with its start time."""
        ...


@dataclass(frozen=True)
class FileSource:
    """A probed file; made by `open_file`, which has checked it against the surface's limits."""

    path: Path
    info: AudioInfo
    max_seconds: float | None = None

    def blocks(self, channel: int | None) -> Iterator[Audio]:
        return decode_blocks(self.path, channel=channel, max_s=self.max_seconds, info=self.info)


def open_file(path: Path, limits: Limits | None, channels: tuple[int, ...]) -> FileSource:
    """Probe the file once and apply `limits` (size, then duration) and the channel check, all before any
    decoding, raising an `AsrError` naming what is wrong."""
    max_seconds = limits.max_seconds if limits is not None else None
    info = measured_info(path, max_seconds)
    if limits is not None and info.size_bytes is not None and info.size_bytes > limits.max_bytes:
        raise AudioTooLargeError(
            f"audio is {info.size_bytes / _MB:.1f} MB; the limit is {limits.max_bytes // _MB} MB", param="audio"
        )
    check_duration(info.duration_s, max_seconds)
    check_channels(info, channels)
    return FileSource(path, info, max_seconds)


LIVE_FORMAT = "pcm"
"""The format a live source reports: raw samples, as a headerless upload is reported."""


class LiveSource:
    """Float32 mono 16 kHz blocks from its caller, of unknown total length; one pass, one channel."""

    def __init__(self, blocks: Iterable[np.ndarray], max_seconds: float | None = None) -> None:
        self._blocks = blocks
        self._max_seconds = max_seconds
        self._received = 0
        self._read = False

    @property
    def info(self) -> AudioInfo:
        return AudioInfo(LIVE_FORMAT, SAMPLE_RATE_HZ, 1, self._received / SAMPLE_RATE_HZ)

    def blocks(self, channel: int | None) -> Iterator[Audio]:
        if channel not in (None, 0):
            raise ValueError(f"a live source has one channel, not channel {channel}")
        if self._read:
            raise RuntimeError("a live source is read once")
        self._read = True
        for block in live_blocks(self._blocks, self._max_seconds):
            self._received += len(block.samples)
            yield block


def open_live(blocks: Iterable[np.ndarray], limits: Limits | None, channels: tuple[int, ...]) -> LiveSource:
    """A live source under the surface's duration limit; only channel 0 exists (`InvalidChannelError`)."""
    check_channels(AudioInfo(LIVE_FORMAT, SAMPLE_RATE_HZ, 1, 0.0), channels)
    return LiveSource(blocks, limits.max_seconds if limits is not None else None)
