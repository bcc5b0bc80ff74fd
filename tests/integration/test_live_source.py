"""A live source (float32 mono 16 kHz blocks pushed by their caller, of unknown length) against the
file of the same audio, on real speech: the same text and sentences whatever the block sizes (0.1 s to
1 s), through the pipeline and through `openasr.transcribe`/`transcribe_stream`; the duration limit
applies as audio arrives, and only the one channel a live source has can be asked for."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import numpy as np
import pytest

import openasr
from audio_files import load_clip
from openasr import pipeline
from openasr.audio.live import PushedAudio
from openasr.core.billing import billed_seconds
from openasr.core.errors import AudioTooLongError, InvalidChannelError
from openasr.core.options import TranscribeOptions
from openasr.runtime.batcher import BatchingEngine
from speech_clips import clip

TWO_CITIES = clip("two_cities")
"""44 s, several chunks: chunk boundaries fall inside blocks of every size."""
CHINESE = clip("BAC009S0724W0121")
RATE_HZ = 16_000


def blocks(samples: np.ndarray, sizes_s: Iterator[float]) -> Iterator[np.ndarray]:
    """The samples cut into consecutive blocks of the given durations, as a caller would push them."""
    start = 0
    while start < len(samples):
        end = start + max(1, round(next(sizes_s) * RATE_HZ))
        yield samples[start:end]
        start = end


def random_sizes(seed: int) -> Iterator[float]:
    rng = np.random.default_rng(seed)
    while True:
        yield float(rng.uniform(0.1, 1.0))


def fixed(size_s: float) -> Iterator[float]:
    while True:
        yield size_s


@pytest.fixture(scope="module", autouse=True)
def release_engine() -> Iterator[None]:
    yield
    openasr.close()


@pytest.mark.parametrize("sizes", ["random 0.1-1 s", "0.1 s", "1 s"])
def test_live_blocks_give_the_transcript_of_the_file(engine: BatchingEngine, sizes: str) -> None:
    options = TranscribeOptions(words=True)
    from_file = pipeline.run(TWO_CITIES.path, options, engine)
    size_s = {"random 0.1-1 s": random_sizes(7), "0.1 s": fixed(0.1), "1 s": fixed(1.0)}[sizes]
    live = pipeline.open(blocks(load_clip(TWO_CITIES.path), size_s), options, engine)
    from_live = live.run()
    assert len(from_live.channels[0].sentences) > 3 and from_live.text == from_file.text
    assert from_live.channels == from_file.channels  # sentences, word times, language, probability
    assert from_live.audio.duration_s == pytest.approx(from_file.audio.duration_s, abs=1 / RATE_HZ)
    assert billed_seconds(from_live.audio.duration_s) == billed_seconds(from_file.audio.duration_s)


def test_the_python_api_takes_a_path_bytes_or_live_blocks_alike(engine: BatchingEngine) -> None:
    samples = load_clip(CHINESE.path)
    from_path = openasr.transcribe(CHINESE.path)
    assert openasr.transcribe(CHINESE.path.read_bytes()).text == from_path.text
    live = openasr.transcribe(blocks(samples, random_sizes(11)))
    assert live.text == from_path.text and live.channels == from_path.channels
    streamed = list(openasr.transcribe_stream(blocks(samples, random_sizes(12))))
    assert streamed == list(from_path.channels[0].sentences)


def test_blocks_pushed_from_another_thread_are_recognised_as_they_come(engine: BatchingEngine) -> None:
    """What a WebSocket session does: its handler pushes frames and ends; the recognition reads them."""
    pushed = PushedAudio(max_blocks=4)  # a producer faster than recognition is held back, not buffered

    def produce() -> None:
        for block in blocks(load_clip(CHINESE.path), fixed(0.32)):
            pushed.push(block)
        pushed.end()

    producer = threading.Thread(target=produce)
    producer.start()
    live = pipeline.run(pushed, TranscribeOptions(), engine)
    producer.join(timeout=60)
    assert live.text == pipeline.run(CHINESE.path, TranscribeOptions(), engine).text


def test_the_duration_limit_applies_as_live_audio_arrives(engine: BatchingEngine) -> None:
    pulled: list[float] = []

    def counted() -> Iterator[np.ndarray]:
        for block in blocks(load_clip(TWO_CITIES.path), fixed(0.5)):
            pulled.append(len(block) / RATE_HZ)
            yield block

    limits = pipeline.Limits(max_bytes=1, max_seconds=12.0)  # bytes do not apply: nothing is stored
    transcription = pipeline.open(counted(), TranscribeOptions(), engine, limits=limits)
    heard = []
    with pytest.raises(AudioTooLongError, match="audio runs past the limit of 12 s"):
        for chunk in transcription.stream():
            heard.append(chunk)
    assert sum(pulled) == pytest.approx(12.5)  # stopped at the block that passed the limit
    assert all(chunk.end_s <= 12.0 for chunk in heard)


def test_a_live_source_has_one_channel(engine: BatchingEngine) -> None:
    silence = [np.zeros(RATE_HZ, dtype=np.float32)]
    with pytest.raises(InvalidChannelError, match="channel 1 does not exist"):
        pipeline.open(iter(silence), TranscribeOptions(channels=(1,)), engine)
    only = pipeline.run(iter(silence), TranscribeOptions(channels=(0,)), engine)
    assert only.text == "" and only.audio.channels == 1 and only.audio.duration_s == 1.0
