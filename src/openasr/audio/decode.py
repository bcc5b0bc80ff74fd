"""PyAV decoding: probe an input cheaply, then decode it to 16 kHz float32 in bounded blocks.

Memory stays flat with duration: `decode_blocks` yields blocks of `block_s` seconds and keeps nothing
else, so a 12-hour file never sits in RAM. This is the only module that touches PyAV; its errors become
`AudioDecodeError` here.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import av
import numpy as np

from openasr.core.errors import AudioDecodeError, AudioTooLongError, InvalidChannelError
from openasr.core.types import SAMPLE_RATE_HZ, Audio, AudioInfo

RAW_PCM_SUFFIXES = frozenset({".pcm", ".raw"})
"""Headerless input is read as 16 kHz mono s16le, the only raw layout the service accepts (spec §11)."""

_FORMAT_NAMES = {
    "aac",
    "amr",
    "avi",
    "aiff",
    "flac",
    "flv",
    "m4a",
    "mkv",
    "mov",
    "mp3",
    "mp4",
    "mpeg",
    "ogg",
    "opus",
    "wav",
    "webm",
    "wma",
    "wmv",
    "pcm",
}
_CONTAINER_ALIASES = {"matroska": "mkv", "asf": "wma", "mpegts": "mpeg", "adts": "aac", "s16le": "pcm"}
_TEXT_DEMUXERS = frozenset({"tty"})
"""ffmpeg's `tty` demuxer claims any .txt/.ans file and shows it as a video stream ("ansi" codec), which
would otherwise be reported as a video without sound."""
_TRUNCATION_RATIO = 0.5
"""Decoding less than this share of the duration the container declares means a truncated file."""


@contextmanager
def _open(path: Path) -> Iterator[av.container.InputContainer]:
    if not path.is_file():
        raise AudioDecodeError(f"audio file {path.name!r} does not exist")
    if path.stat().st_size == 0:
        raise AudioDecodeError("the audio file is empty (0 bytes)")
    try:
        if path.suffix.lower() in RAW_PCM_SUFFIXES:
            container = av.open(str(path), format="s16le", options={"sample_rate": "16000", "ch_layout": "mono"})
        else:
            container = av.open(str(path), metadata_errors="ignore")
    except (av.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise AudioDecodeError(f"not a readable audio or video file: {_reason(exc)}") from exc
    try:
        if container.format.name in _TEXT_DEMUXERS:
            raise AudioDecodeError("not a readable audio or video file: it is a text file")
        if not container.streams.audio:
            raise AudioDecodeError("the file has no audio stream")
        yield container
    finally:
        container.close()


def _reason(exc: Exception) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def _format_name(container: av.container.InputContainer, path: Path) -> str:
    suffix = path.suffix.lower().lstrip(".")
    if suffix in _FORMAT_NAMES:
        return suffix
    first = container.format.name.split(",")[0]
    return _CONTAINER_ALIASES.get(first, first)


def probe_audio(path: Path) -> AudioInfo:
    """Read the container header only: format, rate, channels, duration. Cheap on any size of file."""
    with _open(path) as container:
        stream = container.streams.audio[0]
        rate = stream.codec_context.sample_rate or stream.sample_rate or 0
        channels = stream.codec_context.channels or 0
        duration_s = 0.0
        if stream.duration is not None and stream.time_base is not None:
            duration_s = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration_s = container.duration / av.time_base
        elif path.suffix.lower() in RAW_PCM_SUFFIXES:
            duration_s = path.stat().st_size / (2 * SAMPLE_RATE_HZ)
        if rate <= 0 or channels <= 0:
            raise AudioDecodeError("the audio stream has no sample rate or channel count")
        return AudioInfo(
            format=_format_name(container, path),
            sample_rate_hz=int(rate),
            channels=int(channels),
            duration_s=max(0.0, duration_s),
            size_bytes=path.stat().st_size,
        )


def measured_info(path: Path, max_s: float | None = None) -> AudioInfo:
    """The probe, with the duration counted by decoding when the header declares none.

    A header may legally leave the length out (a FLAC STREAMINFO with 0 total samples, a stream
    without a duration): its duration is then counted by decoding, stopping with `AudioTooLongError`
    as soon as it passes `max_s`, so such a file can neither slip past a duration limit nor be billed 0 s.
    """
    info = probe_audio(path)
    if info.duration_s > 0:
        return info
    samples = 0
    with _open(path) as container:
        for samples_now in _frame_lengths(container):
            samples += samples_now
            check_duration(samples / info.sample_rate_hz, max_s, decoding=True)
    return replace(info, duration_s=samples / info.sample_rate_hz)


def check_duration(duration_s: float, max_s: float | None, *, decoding: bool = False) -> None:
    """The one duration check, for declared and decoded lengths alike (spec §11: 5 min sync, 12 h async)."""
    if max_s is None or duration_s <= max_s:
        return
    if decoding:
        raise AudioTooLongError(f"audio runs past the limit of {max_s:.0f} s", param="audio")
    raise AudioTooLongError(f"audio is {duration_s:.0f} s long; the limit is {max_s:.0f} s", param="audio")


def check_channels(info: AudioInfo, channels: Sequence[int]) -> None:
    """The one channel-existence check: every index must name a channel of the audio."""
    missing = [c for c in channels if not 0 <= c < info.channels]
    if missing:
        raise InvalidChannelError(
            f"channel {missing[0]} does not exist: the audio has {info.channels} channel(s)", param="channel_id"
        )


def _frame_lengths(container: av.container.InputContainer) -> Iterator[int]:
    try:
        for frame in container.decode(container.streams.audio[0]):
            yield frame.samples
    except (av.FFmpegError, ValueError) as exc:
        raise AudioDecodeError(f"the audio could not be decoded: {_reason(exc)}") from exc


def decode_blocks(
    path: Path,
    *,
    channel: int | None = None,
    start_s: float = 0.0,
    block_s: float = 30.0,
    max_s: float | None = None,
    info: AudioInfo | None = None,
) -> Iterator[Audio]:
    """Yield consecutive 16 kHz mono blocks of about `block_s` seconds, starting at `start_s`.

    `channel` None mixes all channels to mono (the average, so no channel is favoured); an index picks
    one channel. Blocks carry their start time in the original audio. Raises `AudioDecodeError` when
    nothing at all decodes or the stream ends well before its declared duration, and `AudioTooLongError`
    as soon as the decoded audio passes `max_s`, whatever the header declared. `info` is the file's
    probe when the caller already has it (the pipeline probes once per recognition); else it probes.
    """
    if info is None:
        info = probe_audio(path)
    check_channels(info, () if channel is None else (channel,))
    block_len = max(1, int(block_s * SAMPLE_RATE_HZ))
    skip = round(start_s * SAMPLE_RATE_HZ)
    position = 0  # samples produced so far, counted from time 0
    pending: list[np.ndarray] = []
    pending_len = 0
    with _open(path) as container:
        for samples in _resampled(container, channel):
            if position + len(samples) <= skip:
                position += len(samples)
                continue
            if position < skip:
                samples = samples[skip - position :]
                position = skip
            check_duration((position + pending_len + len(samples)) / SAMPLE_RATE_HZ, max_s, decoding=True)
            pending.append(samples)
            pending_len += len(samples)
            while pending_len >= block_len:
                block, pending, pending_len = _take(pending, block_len)
                yield Audio(block, start_s=position / SAMPLE_RATE_HZ)
                position += len(block)
    if pending_len:
        block = np.concatenate(pending)
        yield Audio(block, start_s=position / SAMPLE_RATE_HZ)
        position += len(block)
    _check_complete(info, position)


def _check_complete(info: AudioInfo, decoded_samples: int) -> None:
    decoded_s = decoded_samples / SAMPLE_RATE_HZ
    if decoded_samples == 0:
        raise AudioDecodeError("no audio could be decoded from the file")
    if info.duration_s > 1.0 and decoded_s < _TRUNCATION_RATIO * info.duration_s:
        raise AudioDecodeError(
            f"the audio stream ends after {decoded_s:.1f} s of a declared {info.duration_s:.1f} s:"
            " the file is truncated or corrupt"
        )


def _take(pending: list[np.ndarray], n: int) -> tuple[np.ndarray, list[np.ndarray], int]:
    joined = np.concatenate(pending)
    rest = joined[n:]
    return joined[:n], ([rest] if len(rest) else []), len(rest)


def _resampled(container: av.container.InputContainer, channel: int | None) -> Iterator[np.ndarray]:
    stream = container.streams.audio[0]
    # Packed float, not planar: PyAV finds a planar frame's planes by walking FFmpeg's `extended_data`
    # to a NULL that frames of 8 or more channels do not have, and reads past it (a segfault that takes
    # the server down with it). A packed frame has one plane whatever its channels.
    resampler = av.AudioResampler(format="flt", rate=SAMPLE_RATE_HZ)
    try:
        for frame in container.decode(stream):
            for out in resampler.resample(frame):
                yield _select(_channels_first(out), channel)
        for out in resampler.resample(None):
            yield _select(_channels_first(out), channel)
    except (av.FFmpegError, ValueError) as exc:
        raise AudioDecodeError(f"the audio could not be decoded: {_reason(exc)}") from exc


def _channels_first(frame: av.AudioFrame) -> np.ndarray:
    """A packed float frame's samples as (channels, samples)."""
    return frame.to_ndarray().reshape(-1, frame.layout.nb_channels).T


def _select(planes: np.ndarray, channel: int | None) -> np.ndarray:
    """`planes` is (channels, samples) float32; pick one channel or average them all."""
    if channel is not None:
        return np.ascontiguousarray(planes[channel], dtype=np.float32)
    if planes.shape[0] == 1:
        return np.ascontiguousarray(planes[0], dtype=np.float32)
    return planes.mean(axis=0, dtype=np.float32)


def decode_audio(path: Path, *, channel: int | None = None) -> np.ndarray:
    """Decode a whole (short) input to one array; for clips, tests and language detection."""
    return np.concatenate([block.samples for block in decode_blocks(path, channel=channel)])
