"""Every input format the service lists gives the same transcript; non-speech gives none; broken input
gives a clear `AudioDecodeError`. All files are encoded here with PyAV from a committed real clip."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from asr_metrics import normalize_text, score

from audio_files import (
    ENCODINGS,
    load_clip,
    sung_vowels,
    synth_music,
    white_noise,
    write_audio,
    write_pcm,
    write_video_only,
)
from openasr import pipeline
from openasr.core.errors import AudioDecodeError
from openasr.core.options import TranscribeOptions
from openasr.core.types import Transcript
from openasr.engines.base import Engine
from speech_clips import clip

SOURCE = clip("0870")  # "and mister john dashwood had then leisure to consider how much there might be …" (7 s)
TEXT_ONLY = TranscribeOptions(sentences=False)
AMR_MAX_WER = 0.10
"""AMR-NB is an 8 kHz narrowband speech codec at 12.2 kbit/s: it drops everything above 4 kHz
(fricatives, sibilants) that Whisper, trained on wideband audio, relies on; one word in ten may change."""


@pytest.fixture(scope="module")
def reference_transcript(engine: Engine) -> Transcript:
    return pipeline.run(SOURCE.path, TEXT_ONLY, engine)


@pytest.mark.parametrize("name", [*ENCODINGS, "pcm"])
def test_every_listed_format_gives_the_same_transcript(
    name: str, tmp_path: Path, engine: Engine, reference_transcript: Transcript
) -> None:
    samples = load_clip(SOURCE.path)
    if name == "pcm":
        path = write_pcm(tmp_path / "clip.pcm", samples)
        rate, channels = 16_000, 1
    else:
        encoding = ENCODINGS[name]
        path = write_audio(tmp_path / f"clip{encoding.suffix}", samples, encoding)
        rate, channels = encoding.rate_hz, encoding.channels
    transcript = pipeline.run(path, TEXT_ONLY, engine)
    assert (transcript.audio.format, transcript.audio.sample_rate_hz, transcript.audio.channels) == (
        name,
        rate,
        channels,
    )
    # ADTS and AMR carry no duration field: ffmpeg estimates it from the bit rate, within a few percent.
    assert transcript.audio.duration_s == pytest.approx(reference_transcript.audio.duration_s, rel=0.05)
    assert transcript.language == "en"
    if name == "amr":
        assert score(SOURCE.reference, transcript.text, "en").rate <= AMR_MAX_WER, transcript.text
    else:
        assert normalize_text(transcript.text, "en") == normalize_text(reference_transcript.text, "en")


@pytest.mark.parametrize(
    "kind",
    ["silence", "white noise", "loud white noise", "music", "wordless singing"],
)
def test_audio_without_speech_gives_no_words(kind: str, tmp_path: Path, engine: Engine) -> None:
    samples = {
        "silence": lambda: white_noise(20, level=0.0),
        "white noise": lambda: white_noise(20, level=0.05),
        "loud white noise": lambda: white_noise(20, level=0.3),
        "music": lambda: synth_music(30),
        "wordless singing": lambda: sung_vowels(10, seed=11),
    }[kind]()
    path = write_audio(tmp_path / "no_speech.flac", samples, "flac")
    transcript = pipeline.run(path, TranscribeOptions(words=True), engine)
    assert transcript.text == ""
    assert [c.sentences for c in transcript.channels] == [()]
    assert transcript.audio.duration_s == pytest.approx(len(samples) / 16_000, abs=0.01)


def _random_bytes(path: Path) -> Path:
    path.write_bytes(os.urandom(64 * 1024))
    return path


def _truncated_mp3(path: Path) -> Path:
    """A real mp3 (its Xing/Info header declares 44 s) cut after 30 % of its bytes."""
    full = write_audio(path.with_name("full.mp3"), load_clip(clip("two_cities").path), "mp3")
    data = full.read_bytes()
    path.write_bytes(data[: int(len(data) * 0.3)])
    return path


BROKEN_INPUTS = {
    "random bytes as .wav": (lambda d: _random_bytes(d / "noise.wav"), "not a readable audio or video file"),
    "random bytes as .mp3": (lambda d: _random_bytes(d / "noise.mp3"), "not a readable audio or video file"),
    "truncated mp3": (lambda d: _truncated_mp3(d / "cut.mp3"), "truncated"),
    "zero-byte file": (lambda d: _write(d / "empty.wav", b""), "empty"),
    "text file": (
        lambda d: _write(d / "notes.txt", b"Meeting notes\n- call Bob\n" * 20),
        "not a readable audio or video file",
    ),
    "video without audio (mp4)": (lambda d: write_video_only(d / "silent.mp4", "mp4"), "no audio stream"),
    "video without audio (mkv)": (lambda d: write_video_only(d / "silent.mkv", "matroska"), "no audio stream"),
    "missing file": (lambda d: d / "nowhere.wav", "does not exist"),
}


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("kind", list(BROKEN_INPUTS))
def test_broken_input_raises_a_clear_decode_error(kind: str, tmp_path: Path, engine: Engine) -> None:
    make, phrase = BROKEN_INPUTS[kind]
    path = make(tmp_path)
    with pytest.raises(AudioDecodeError) as raised:
        pipeline.run(path, TranscribeOptions(), engine)
    assert phrase in raised.value.message
    assert raised.value.http_status == 400 and raised.value.task_code == "DECODE_ERROR"
    assert "\n" not in raised.value.message
