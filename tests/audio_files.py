"""Build real audio files for tests with PyAV: any container/codec, multi-channel, long files, video-only.

Used by the integration and unit tests; every file is encoded here from real samples, so the decoder under
test meets exactly what ffmpeg-based tools write.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from openasr.audio.decode import decode_audio

SAMPLE_RATE_HZ = 16_000


@dataclass(frozen=True)
class Encoding:
    """How to write one container: PyAV format name, codec, sample rate, sample format, codec options."""

    suffix: str
    container: str
    codec: str
    rate_hz: int = SAMPLE_RATE_HZ
    sample_format: str | None = None
    bit_rate: int | None = None
    options: tuple[tuple[str, str], ...] = ()
    channels: int = 1
    """Mono input is duplicated to this many channels (ffmpeg's native vorbis encoder wants stereo)."""
    video: str | None = None
    """Also write a small video stream with this codec, as a real video file has."""


ENCODINGS: dict[str, Encoding] = {
    "aac": Encoding(".aac", "adts", "aac", bit_rate=64_000),
    "amr": Encoding(".amr", "amr", "libopencore_amrnb", rate_hz=8_000, bit_rate=12_200),
    "avi": Encoding(".avi", "avi", "pcm_s16le"),
    "aiff": Encoding(".aiff", "aiff", "pcm_s16be"),
    "flac": Encoding(".flac", "flac", "flac"),
    "flv": Encoding(".flv", "flv", "mp3", rate_hz=22_050, bit_rate=64_000),
    "m4a": Encoding(".m4a", "ipod", "aac", bit_rate=64_000),
    "mkv": Encoding(".mkv", "matroska", "flac", video="mpeg4"),
    "mov": Encoding(".mov", "mov", "pcm_s16le"),
    "mp3": Encoding(".mp3", "mp3", "mp3", bit_rate=64_000),
    "mp4": Encoding(".mp4", "mp4", "aac", rate_hz=44_100, bit_rate=96_000, video="mpeg4"),
    "mpeg": Encoding(".mpeg", "mpeg", "mp2", rate_hz=32_000, bit_rate=96_000),
    "ogg": Encoding(".ogg", "ogg", "vorbis", rate_hz=22_050, options=(("strict", "experimental"),), channels=2),
    "opus": Encoding(".opus", "opus", "libopus", rate_hz=48_000, bit_rate=32_000),
    "wav": Encoding(".wav", "wav", "pcm_s16le"),
    "webm": Encoding(".webm", "webm", "libopus", rate_hz=48_000, bit_rate=32_000),
    "wma": Encoding(".wma", "asf", "wmav2", bit_rate=64_000),
    "wmv": Encoding(".wmv", "asf", "wmav2", rate_hz=22_050, bit_rate=64_000, video="wmv2"),
}
"""One entry per input format the service lists (spec §11), except headerless PCM (`write_pcm`)."""


def load_clip(path: Path) -> np.ndarray:
    """A committed test clip as 16 kHz mono float32, through the project's own decoder."""
    return decode_audio(path)


def resample(samples: np.ndarray, rate_hz: int) -> np.ndarray:
    """16 kHz mono float32 -> `rate_hz` with ffmpeg's resampler (the same one decoding uses)."""
    if rate_hz == SAMPLE_RATE_HZ:
        return samples
    resampler = av.AudioResampler(format="flt", layout="mono", rate=rate_hz)
    out = [f.to_ndarray().reshape(-1) for f in resampler.resample(_frame(samples[None, :], SAMPLE_RATE_HZ))]
    out += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    return np.concatenate(out).astype(np.float32)


def write_audio(path: Path, samples: np.ndarray, encoding: Encoding | str) -> Path:
    """Encode (channels, n) or (n,) float32 samples at 16 kHz into `path` with `encoding`."""
    enc = ENCODINGS[encoding] if isinstance(encoding, str) else encoding
    planes = samples[None, :] if samples.ndim == 1 else samples
    if planes.shape[0] == 1 and enc.channels > 1:
        planes = np.repeat(planes, enc.channels, axis=0)
    if enc.rate_hz != SAMPLE_RATE_HZ:
        planes = np.stack([resample(p, enc.rate_hz) for p in planes])
    with av.open(str(path), "w", format=enc.container) as container:
        video = _add_video(container, enc.video) if enc.video else None  # every stream before the 1st mux
        stream = container.add_stream(enc.codec, rate=enc.rate_hz, options=dict(enc.options) or None)
        stream.layout = _layout(planes.shape[0])
        if enc.bit_rate:
            stream.bit_rate = enc.bit_rate
        if video is not None:
            _write_video(container, video, seconds=planes.shape[1] / enc.rate_hz)
        _encode(container, stream, planes, enc.rate_hz)
    return path


def write_pcm(path: Path, samples: np.ndarray) -> Path:
    """Headerless 16 kHz mono s16le, as the service's `pcm` format expects."""
    path.write_bytes(to_int16(samples).tobytes())
    return path


def write_long_flac(path: Path, pieces: Iterable[np.ndarray], *, channels: int = 1) -> Path:
    """Stream 16 kHz mono pieces into one FLAC without ever holding the whole recording."""
    with av.open(str(path), "w", format="flac") as container:
        stream = container.add_stream("flac", rate=SAMPLE_RATE_HZ)
        stream.layout = _layout(channels)
        pts = 0
        for piece in pieces:
            planes = np.repeat(piece[None, :], channels, axis=0)
            pts = _encode(container, stream, planes, SAMPLE_RATE_HZ, pts=pts, flush=False)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def write_video_only(path: Path, container_format: str, *, seconds: float = 1.0) -> Path:
    """A tiny video (mpeg4, 64x64, 10 fps) with no audio stream at all."""
    with av.open(str(path), "w", format=container_format) as container:
        _write_video(container, _add_video(container, "mpeg4"), seconds=seconds)
    return path


_FPS = 10


def _add_video(container: av.container.OutputContainer, codec: str) -> av.video.stream.VideoStream:
    stream = container.add_stream(codec, rate=_FPS)
    stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
    return stream


def _write_video(
    container: av.container.OutputContainer, stream: av.video.stream.VideoStream, *, seconds: float
) -> None:
    for i in range(max(1, round(seconds * _FPS))):
        image = np.full((64, 64, 3), (i * 20) % 255, dtype=np.uint8)
        frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        frame.pts = i
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode(None):
        container.mux(packet)


def _layout(channels: int) -> str:
    return {1: "mono", 2: "stereo"}.get(channels, f"{channels}c")


def to_int16(samples: np.ndarray) -> np.ndarray:
    return (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")


def _frame(planes: np.ndarray, rate_hz: int) -> av.AudioFrame:
    frame = av.AudioFrame.from_ndarray(
        np.ascontiguousarray(planes, dtype=np.float32), format="fltp", layout=_layout(planes.shape[0])
    )
    frame.sample_rate = rate_hz
    return frame


def _encode(
    container: av.container.OutputContainer,
    stream: av.audio.stream.AudioStream,
    planes: np.ndarray,
    rate_hz: int,
    *,
    pts: int = 0,
    flush: bool = True,
) -> int:
    """Feed planes in 20 ms frames (any encoder's frame size is handled by PyAV's internal FIFO)."""
    step = max(1, rate_hz // 50)
    for start in range(0, planes.shape[1], step):
        frame = _frame(planes[:, start : start + step], rate_hz)
        frame.pts = pts
        frame.time_base = Fraction(1, rate_hz)
        pts += frame.samples
        for packet in stream.encode(frame):
            container.mux(packet)
    if flush:
        for packet in stream.encode(None):
            container.mux(packet)
    return pts


def synth_music(seconds: float, *, seed: int = 0) -> np.ndarray:
    """Instrumental music, no voice: a I-V-vi-IV chord loop with harmonics and decaying notes, a bass
    line, a vibrato lead melody, and kick/snare/hi-hat noise bursts on the beat (120 bpm)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SAMPLE_RATE_HZ)) / SAMPLE_RATE_HZ
    out = np.zeros_like(t)
    beat_s = 0.5
    chords = [(261.63, 329.63, 392.00), (196.00, 246.94, 293.66), (220.00, 261.63, 329.63), (174.61, 220.00, 261.63)]
    for bar in range(int(np.ceil(seconds / 2))):
        in_bar = (t >= 2 * bar) & (t < 2 * bar + 2)
        tb = t[in_bar] - 2 * bar
        envelope = np.exp(-(tb % beat_s) * 3.0)
        root, *_ = chord = chords[bar % len(chords)]
        for f in chord:
            for harmonic, amplitude in ((1, 1.0), (2, 0.5), (3, 0.25), (4, 0.12), (5, 0.06)):
                out[in_bar] += 0.15 * amplitude * envelope * np.sin(2 * np.pi * f * harmonic * t[in_bar])
        out[in_bar] += 0.3 * np.sin(2 * np.pi * root / 2 * t[in_bar]) * np.exp(-tb * 1.0)
        notes = np.asarray(chord)[(tb // beat_s).astype(int) % len(chord)] * 2
        melody = notes * (1 + 0.01 * np.sin(2 * np.pi * 5.5 * t[in_bar]))
        out[in_bar] += 0.12 * np.sin(2 * np.pi * np.cumsum(melody) / SAMPLE_RATE_HZ)
    for k in range(int(seconds / (beat_s / 2))):
        start = int(k * beat_s / 2 * SAMPLE_RATE_HZ)
        n = min(int(0.12 * SAMPLE_RATE_HZ), len(out) - start)
        decay = np.exp(-np.arange(n) / (0.02 * SAMPLE_RATE_HZ))
        if k % 4 == 0:  # kick: a falling sine thump
            out[start : start + n] += 0.8 * decay * np.sin(2 * np.pi * 60 * np.arange(n) / SAMPLE_RATE_HZ)
        gain = 0.5 if k % 4 == 2 else 0.12  # snare on 2 and 4, hi-hat on every eighth
        out[start : start + n] += gain * decay * rng.standard_normal(n)
    return (0.6 * out / np.abs(out).max()).astype(np.float32)


def sung_vowels(seconds: float, *, seed: int = 0) -> np.ndarray:
    """Wordless singing: sung vowels (a, e, i, o, u by their first three formants) on notes of a scale,
    with vibrato, one note after another, as a voice humming a tune without lyrics. The VAD hears it
    as speech; Whisper, asked for words, may spell out what it hears (seed 11: "B-B-A-N -E")."""
    rng = np.random.default_rng(seed)
    formants = [(730, 1090, 2440), (530, 1840, 2480), (270, 2290, 3010), (570, 840, 2410), (300, 870, 2240)]
    scale = [220.0, 246.94, 261.63, 293.66, 329.63, 349.23, 392.0]
    out = np.zeros(int(seconds * SAMPLE_RATE_HZ))
    position_s = 0.0
    while position_s < seconds - 0.3:
        note_s = min(float(rng.choice([0.4, 0.6, 0.8, 1.2])), seconds - position_s)
        pitch = float(rng.choice(scale))
        vowel = formants[int(rng.integers(len(formants)))]
        t = np.arange(int(note_s * SAMPLE_RATE_HZ)) / SAMPLE_RATE_HZ
        phase = np.cumsum(pitch * (1 + 0.02 * np.sin(2 * np.pi * 5.5 * t))) / SAMPLE_RATE_HZ
        note = np.zeros_like(t)
        for k in range(1, 30):  # harmonics shaped by the vowel's formant resonances
            gain = sum(
                g / (1 + ((k * pitch - f) / bw) ** 2)
                for f, bw, g in zip(vowel, (90, 110, 150), (1.0, 0.6, 0.3), strict=True)
            )
            note += gain / k**0.5 * np.sin(2 * np.pi * k * phase)
        note *= np.minimum(1, np.minimum(t / 0.05, (note_s - t) / 0.08))
        start = int(position_s * SAMPLE_RATE_HZ)
        out[start : start + len(note)] += note
        position_s += note_s + float(rng.choice([0.0, 0.05, 0.2]))
    return (0.5 * out / np.abs(out).max()).astype(np.float32)


def white_noise(seconds: float, *, level: float = 0.1, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(int(seconds * SAMPLE_RATE_HZ)) * level).astype(np.float32)


@dataclass(frozen=True)
class Trimmed:
    """A clip cut to its speech plus `margin_s` of its own background on each side."""

    samples: np.ndarray
    speech_start_s: float
    """Where speech begins inside `samples` (after the leading margin)."""
    speech_end_s: float


def trim_to_speech(samples: np.ndarray, *, margin_s: float = 0.1) -> Trimmed:
    """Cut a clip to where faster-whisper's offline VAD (`get_speech_timestamps`, its own implementation,
    independent of openasr's streaming segmenter) hears speech, keeping a short margin, with 10 ms fades.

    Everything outside the cut is gone from the recording built from it, so these speech edges are the
    ground truth for timing tests: the energy left outside them is the clip's own quiet background.
    """
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    # Silence appended so the last span closes where speech stops (an open span runs to the end of input).
    padded = np.concatenate([samples, np.zeros(SAMPLE_RATE_HZ, dtype=np.float32)])
    spans = get_speech_timestamps(padded, VadOptions(min_silence_duration_ms=300, speech_pad_ms=0))
    start, end = spans[0]["start"], min(spans[-1]["end"], len(samples))
    margin = int(margin_s * SAMPLE_RATE_HZ)
    a, b = max(0, start - margin), min(len(samples), end + margin)
    cut = samples[a:b].copy()
    fade = np.linspace(0.0, 1.0, SAMPLE_RATE_HZ // 100, dtype=np.float32)
    cut[: len(fade)] *= fade
    cut[-len(fade) :] *= fade[::-1]
    return Trimmed(cut, (start - a) / SAMPLE_RATE_HZ, (end - a) / SAMPLE_RATE_HZ)


def room_tone(seconds: float, *, seed: int = 0) -> np.ndarray:
    """Near-silence between utterances: white noise at about -70 dBFS, like a quiet room's floor."""
    return white_noise(seconds, level=3e-4, seed=seed)


def run_together(first: Path, second: Path, *, gap_s: float, lead_s: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    """Two clips cut to their speech, the second starting `gap_s` after the first ends, as utterances
    run into each other in conversation: each returned as its own track of the same length (mix them
    for one speaker after another, or keep them as two channels)."""
    a, b = trim_to_speech(load_clip(first)).samples, trim_to_speech(load_clip(second)).samples
    lead, gap = round(lead_s * SAMPLE_RATE_HZ), round(gap_s * SAMPLE_RATE_HZ)
    length = lead + len(a) + gap + len(b) + lead
    tracks = np.zeros((2, length), dtype=np.float32)
    tracks[0, lead : lead + len(a)] = a
    tracks[1, lead + len(a) + gap : lead + len(a) + gap + len(b)] = b
    return tracks[0], tracks[1]
