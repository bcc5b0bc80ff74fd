"""PyAV decoding on real files: the probe of every listed format, 16 kHz mono blocks, channel selection,
skipping to a start time, headerless PCM, bounded memory, and clean errors for broken input."""

from __future__ import annotations

import tracemalloc
import wave
from pathlib import Path

import numpy as np
import pytest

from audio_files import ENCODINGS, load_clip, room_tone, write_audio, write_long_flac, write_pcm, write_video_only
from openasr.audio.decode import decode_audio, decode_blocks, measured_info, probe_audio
from openasr.core.errors import AudioDecodeError, AudioTooLongError, InvalidChannelError
from speech_clips import clip

RATE = 16_000
LOSSLESS = {"wav", "flac", "aiff", "avi", "mov", "mkv", "pcm"}


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    return load_clip(clip("0930").path)  # "he might even have been made amiable himself", 3.3 s


@pytest.mark.parametrize("name", [*ENCODINGS, "pcm"])
def test_every_format_probes_and_decodes_to_16k_mono(name: str, speech: np.ndarray, tmp_path: Path) -> None:
    if name == "pcm":
        path, rate, channels = write_pcm(tmp_path / "clip.pcm", speech), RATE, 1
    else:
        enc = ENCODINGS[name]
        path, rate, channels = write_audio(tmp_path / f"clip{enc.suffix}", speech, enc), enc.rate_hz, enc.channels
    info = probe_audio(path)
    assert (info.format, info.sample_rate_hz, info.channels) == (name, rate, channels)
    assert info.size_bytes == path.stat().st_size
    assert info.duration_s == pytest.approx(len(speech) / RATE, rel=0.05)
    decoded = decode_audio(path)
    assert decoded.dtype == np.float32 and decoded.ndim == 1
    # Codec priming and frame padding add or drop a few ms at the ends, never more than 120 ms.
    assert abs(len(decoded) - len(speech)) <= 0.12 * RATE
    if name in LOSSLESS:  # 16-bit quantisation only
        np.testing.assert_allclose(decoded[: len(speech)], speech, atol=2 / 32768)
    elif name == "amr":  # CELP keeps the spectral envelope, not the waveform: compare loudness contours
        frame = RATE // 50
        n = min(len(decoded), len(speech)) // frame * frame
        contour = [np.sqrt((x[:n].reshape(-1, frame) ** 2).mean(axis=1)) for x in (decoded, speech)]
        assert np.corrcoef(*contour)[0, 1] > 0.9
    else:  # the same waveform, shifted by at most the codec's delay (AAC priming: 64 ms)
        lag, corr = _alignment(decoded, speech)
        assert abs(lag) <= 0.07 * RATE
        assert corr > 0.95


def _alignment(decoded: np.ndarray, original: np.ndarray, max_lag: int = 4000) -> tuple[int, float]:
    """The lag (decoded sample i ~ original sample i - lag) with the best correlation, and that correlation."""
    n = min(len(decoded), len(original))
    size = 1 << int(np.ceil(np.log2(2 * n)))
    cross = np.fft.irfft(np.fft.rfft(decoded[:n], size) * np.conj(np.fft.rfft(original[:n], size)), size)
    candidates = [(cross[lag % size], lag) for lag in range(-max_lag, max_lag + 1)]
    lag = max(candidates)[1]
    a, b = (decoded[lag:n], original[: n - lag]) if lag >= 0 else (decoded[: n + lag], original[-lag:n])
    return lag, float(np.corrcoef(a, b)[0, 1])


@pytest.fixture(scope="module")
def stereo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray, np.ndarray]:
    left, right = load_clip(clip("0880").path), load_clip(clip("0930").path)
    n = min(len(left), len(right))
    planes = np.stack([left[:n], right[:n]])
    return write_audio(tmp_path_factory.mktemp("stereo") / "lr.flac", planes, "flac"), left[:n], right[:n]


def test_a_channel_is_selected_or_all_are_averaged(stereo: tuple[Path, np.ndarray, np.ndarray]) -> None:
    path, left, right = stereo
    assert probe_audio(path).channels == 2
    np.testing.assert_allclose(decode_audio(path, channel=0), left, atol=2 / 32768)
    np.testing.assert_allclose(decode_audio(path, channel=1), right, atol=2 / 32768)
    np.testing.assert_allclose(decode_audio(path), (left + right) / 2, atol=2 / 32768)
    with pytest.raises(InvalidChannelError, match="channel 2 does not exist: the audio has 2 channel"):
        decode_audio(path, channel=2)


def test_audio_of_many_channels_decodes_each_of_them(speech: np.ndarray, tmp_path: Path) -> None:
    """Twelve channels (a microphone array's recording): from 8 on, a planar frame once crashed the
    process reading its planes (PyAV walks FFmpeg's plane pointers to a NULL that is not there)."""
    gains = np.linspace(0.1, 0.6, 12, dtype=np.float32)
    pcm = (np.outer(speech, gains) * 32767).astype("<i2")
    path = tmp_path / "array.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(12)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(pcm.tobytes())
    assert probe_audio(path).channels == 12
    for channel in (0, 8, 11):
        np.testing.assert_allclose(decode_audio(path, channel=channel), pcm[:, channel] / 32768, atol=2 / 32768)
    np.testing.assert_allclose(decode_audio(path), (pcm / 32768).mean(axis=1), atol=2 / 32768)


def test_blocks_have_the_requested_length_and_their_start_times(speech: np.ndarray, tmp_path: Path) -> None:
    path = write_audio(tmp_path / "clip.wav", speech, "wav")
    blocks = list(decode_blocks(path, block_s=0.5))
    assert [len(b.samples) for b in blocks[:-1]] == [8000] * (len(blocks) - 1)
    assert 0 < len(blocks[-1].samples) <= 8000
    assert [b.start_s for b in blocks] == [i * 0.5 for i in range(len(blocks))]
    np.testing.assert_array_equal(np.concatenate([b.samples for b in blocks]), decode_audio(path))


@pytest.mark.parametrize("start_s", [0.0, 0.999, 1.0, 2.5])
def test_decoding_can_start_later_and_keeps_original_times(start_s: float, speech: np.ndarray, tmp_path: Path) -> None:
    path = write_audio(tmp_path / "clip.flac", speech, "flac")
    blocks = list(decode_blocks(path, start_s=start_s, block_s=1.0))
    skip = round(start_s * RATE)
    assert blocks[0].start_s == pytest.approx(skip / RATE)
    np.testing.assert_array_equal(np.concatenate([b.samples for b in blocks]), decode_audio(path)[skip:])


def test_headerless_pcm_is_16k_mono_s16le(speech: np.ndarray, tmp_path: Path) -> None:
    raw = clip("goforward").path  # committed as .raw
    samples = decode_audio(raw)
    np.testing.assert_array_equal(samples, np.fromfile(raw, dtype="<i2").astype(np.float32) / 32768)
    odd = tmp_path / "odd.pcm"
    odd.write_bytes(write_pcm(tmp_path / "x.pcm", speech).read_bytes() + b"\x01")  # a stray trailing byte
    assert len(decode_audio(odd)) == len(speech)


def test_decoding_a_long_file_holds_one_block_at_a_time(tmp_path: Path) -> None:
    """10 minutes are 38 MB as float32; decoding them block by block must never get near that."""
    speech = load_clip(clip("two_cities").path)
    path = write_long_flac(tmp_path / "long.flac", (room_tone(15) if i % 2 else speech for i in range(20)))
    assert probe_audio(path).duration_s > 590
    tracemalloc.start()
    try:
        total = sum(len(b.samples) for b in decode_blocks(path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total / RATE > 590
    assert peak < 12 * 2**20, f"peak {peak / 2**20:.1f} MB"


def _truncated_mp3(directory: Path) -> Path:
    full = write_audio(directory / "full.mp3", load_clip(clip("two_cities").path), "mp3")
    cut = directory / "cut.mp3"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size * 3 // 10])
    return cut


def test_a_truncated_mp3_declares_its_full_length_and_fails_after_decoding(tmp_path: Path) -> None:
    cut = _truncated_mp3(tmp_path)
    assert probe_audio(cut).duration_s == pytest.approx(44.4, abs=0.1)  # from the Xing/Info header
    with pytest.raises(AudioDecodeError, match=r"ends after 1\d\.\d s of a declared 44\.4 s: .*truncated"):
        decode_audio(cut)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "absent.wav", "does not exist"),
        (lambda d: _bytes(d / "empty.mp3", b""), "empty"),
        (lambda d: _bytes(d / "random.wav", np.random.default_rng(1).bytes(20_000)), "not a readable audio"),
        (lambda d: _bytes(d / "notes.txt", b"Minutes\n- budget: call Bob\n" * 30), "not a readable audio"),
        (lambda d: write_video_only(d / "video.mp4", "mp4"), "no audio stream"),
        (lambda d: write_video_only(d / "video.mkv", "matroska"), "no audio stream"),
    ],
    ids=["missing", "empty", "random", "text", "video-mp4", "video-mkv"],
)
def test_broken_input_is_an_audio_decode_error(make, message: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = make(tmp_path)
    with pytest.raises(AudioDecodeError, match=message):
        probe_audio(path)
    with pytest.raises(AudioDecodeError, match=message):
        list(decode_blocks(path))


def _bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _without_length(flac: Path) -> Path:
    """STREAMINFO's total samples set to 0 ("unknown", which FLAC allows)."""
    data = bytearray(flac.read_bytes())
    data[21] &= 0xF0
    data[22:26] = bytes(4)
    flac.write_bytes(bytes(data))
    return flac


def test_a_header_without_a_length_is_measured_by_decoding(tmp_path: Path) -> None:
    flac = _without_length(write_long_flac(tmp_path / "a.flac", [np.zeros(16000, np.float32)] * 12))
    assert probe_audio(flac).duration_s == 0.0
    assert measured_info(flac).duration_s == pytest.approx(12.0)
    with pytest.raises(AudioTooLongError, match="10 s"):
        measured_info(flac, max_s=10)


def test_decoding_stops_at_the_limit_whatever_the_header_says(tmp_path: Path) -> None:
    flac = _without_length(write_long_flac(tmp_path / "a.flac", [np.zeros(16000, np.float32)] * 12))
    decoded = []
    with pytest.raises(AudioTooLongError):
        for block in decode_blocks(flac, block_s=1.0, max_s=5):
            decoded.append(block.duration_s)
    assert sum(decoded) <= 5.0
