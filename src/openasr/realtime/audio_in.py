"""Client audio frames (base64) to the session's samples: mono float32 at 16 kHz.

Both wire protocols send audio as base64 in JSON: s16le PCM (DashScope `pcm`/`pcm16`, OpenAI `pcm16` and
`audio/pcm`) at 8, 16, 24 or 48 kHz, or 8 kHz G.711 µ-law/A-law (`g711_ulaw`/`audio/pcmu`,
`g711_alaw`/`audio/pcma`), or an Ogg-Opus stream (DashScope `opus`, `realtime.ogg_opus`). A `FrameDecoder`
belongs to one session: it carries an odd trailing byte to the next frame (clients split PCM anywhere), an
Ogg page cut between frames, and its resampler's history across frames, so a stream cut into frames
decodes and resamples exactly as the stream in one piece would. `decode_frame` decodes one frame on its
own.
"""

from __future__ import annotations

import base64
import binascii
from math import gcd

import numpy as np

from openasr.core.types import SAMPLE_RATE_HZ
from openasr.realtime.errors import FRAME_TOO_LARGE, INVALID_VALUE, RealtimeError
from openasr.realtime.ogg_opus import OPUS_RATE_HZ, NotOggOpusError, OggOpusStream

MAX_FRAME_CHARS = 15 * 1024 * 1024
"""The cloud's per-event limit on base64 audio (spec §1.3)."""
PCM_FORMATS = frozenset({"pcm", "pcm16", "audio/pcm", "s16le", "wav"})
ULAW_FORMATS = frozenset({"g711_ulaw", "audio/pcmu", "pcmu"})
ALAW_FORMATS = frozenset({"g711_alaw", "audio/pcma", "pcma"})
OPUS_FORMATS = frozenset({"opus"})
"""Ogg-Opus; the stream carries its own rate, so the session's `sample_rate` does not apply."""
FORMATS = PCM_FORMATS | ULAW_FORMATS | ALAW_FORMATS | OPUS_FORMATS
PCM_RATES = frozenset({8000, 16000, 24000, 48000})
G711_RATE = 8000
_HALF_TAPS = 16
"""Filter half-length in input samples per polyphase branch: ~70 dB stop band, a 1 ms delay."""


def check_format(fmt: str, sample_rate: int) -> None:
    """Refuse a format or rate this module cannot decode, naming the field (for `session.update`)."""
    if fmt not in FORMATS:
        raise RealtimeError(INVALID_VALUE, f"unsupported audio format {fmt!r}; use one of {sorted(FORMATS)}", "format")
    if fmt in PCM_FORMATS and sample_rate not in PCM_RATES:
        raise RealtimeError(
            INVALID_VALUE, f"unsupported sample rate {sample_rate}; use one of {sorted(PCM_RATES)}", "sample_rate"
        )


class FrameDecoder:
    """One session's audio decoding: base64 → samples → 16 kHz, stateful across frames."""

    def __init__(self, fmt: str, sample_rate: int) -> None:
        check_format(fmt, sample_rate)
        self.format = fmt
        self.sample_rate = sample_rate if fmt in PCM_FORMATS else OPUS_RATE_HZ if fmt in OPUS_FORMATS else G711_RATE
        self._carry = b""
        self._opus = OggOpusStream() if fmt in OPUS_FORMATS else None
        self._resampler = Resampler(self.sample_rate, SAMPLE_RATE_HZ)
        self._header_checked = fmt != "wav"

    def decode(self, b64: str) -> np.ndarray:
        """One frame's new samples at 16 kHz (possibly none: a lone odd byte waits for its pair)."""
        return self._resampler.feed(self._samples(_unbase64(b64)))

    def _samples(self, data: bytes) -> np.ndarray:
        if self._opus is not None:
            try:
                return self._opus.feed(data)
            except NotOggOpusError as exc:
                raise RealtimeError(INVALID_VALUE, f"{exc}; the opus format is Ogg-Opus", "audio") from None
        if self.format in ULAW_FORMATS:
            return _ULAW[np.frombuffer(data, dtype=np.uint8)]
        if self.format in ALAW_FORMATS:
            return _ALAW[np.frombuffer(data, dtype=np.uint8)]
        if not self._header_checked:  # `wav`: the first frame may carry a RIFF header
            self._header_checked = True
            data = _without_wav_header(data)
        data = self._carry + data
        usable = len(data) - len(data) % 2
        self._carry = data[usable:]
        return np.frombuffer(data[:usable], dtype="<i2").astype(np.float32) / 32768.0


def decode_frame(b64: str, fmt: str, sample_rate: int) -> np.ndarray:
    """One frame decoded on its own (a session keeps a `FrameDecoder` instead, for its carried state)."""
    return FrameDecoder(fmt, sample_rate).decode(b64)


def _unbase64(b64: str) -> bytes:
    if len(b64) > MAX_FRAME_CHARS:
        raise RealtimeError(
            FRAME_TOO_LARGE, f"audio frame of {len(b64)} base64 characters; the limit is {MAX_FRAME_CHARS}", "audio"
        )
    try:
        return base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise RealtimeError(INVALID_VALUE, f"audio is not valid base64: {exc}", "audio") from None


def _without_wav_header(data: bytes) -> bytes:
    if data[:4] != b"RIFF" or (at := data.find(b"data", 12)) < 0:
        return data
    return data[at + 8 :]


class Resampler:
    """Polyphase windowed-sinc resampling by a rational factor, carrying its history between blocks."""

    def __init__(self, rate_in: int, rate_out: int) -> None:
        common = gcd(rate_in, rate_out)
        self._up, self._down = rate_out // common, rate_in // common
        self._taps = _lowpass(self._up, self._down)
        self._history = np.zeros(len(self._taps) - 1, dtype=np.float32)
        self._phase = (len(self._taps) - 1) // 2
        """Index, in the upsampled stream, of the next output sample relative to the next input block; it
        starts at the filter's delay, so output sample 0 is input sample 0."""

    def feed(self, samples: np.ndarray) -> np.ndarray:
        if self._up == self._down == 1 or not len(samples):
            return samples.astype(np.float32, copy=False)
        upsampled = np.zeros(len(samples) * self._up, dtype=np.float32)
        upsampled[:: self._up] = samples * self._up
        padded = np.concatenate([self._history, upsampled])
        self._history = padded[len(padded) - len(self._history) :]
        picks = np.arange(self._phase, len(upsampled), self._down)
        self._phase = int(picks[-1] + self._down - len(upsampled)) if len(picks) else self._phase - len(upsampled)
        if not len(picks):
            return np.zeros(0, dtype=np.float32)
        windows = np.lib.stride_tricks.sliding_window_view(padded, len(self._taps))[picks]
        return (windows @ self._taps[::-1]).astype(np.float32)


def _lowpass(up: int, down: int) -> np.ndarray:
    """A Kaiser-windowed sinc at the lower of the two Nyquist rates, at the upsampled rate."""
    length = 2 * _HALF_TAPS * max(up, down) + 1
    cutoff = 0.5 / max(up, down)
    n = np.arange(length) - (length - 1) / 2
    return (2 * cutoff * np.sinc(2 * cutoff * n) * np.kaiser(length, 8.0)).astype(np.float32)


def _ulaw_table() -> np.ndarray:
    u = ~np.arange(256, dtype=np.int32) & 0xFF
    magnitude = (((u & 0x0F) << 3) + 0x84) << ((u >> 4) & 0x07)
    return (np.where(u & 0x80, 0x84 - magnitude, magnitude - 0x84) / 32768.0).astype(np.float32)


def _alaw_table() -> np.ndarray:
    a = np.arange(256, dtype=np.int32) ^ 0x55
    exponent, mantissa = (a >> 4) & 0x07, a & 0x0F
    magnitude = np.where(exponent == 0, (mantissa << 4) + 8, ((mantissa << 4) + 0x108) << np.maximum(exponent - 1, 0))
    return (np.where(a & 0x80, magnitude, -magnitude) / 32768.0).astype(np.float32)


_ULAW = _ulaw_table()
_ALAW = _alaw_table()
