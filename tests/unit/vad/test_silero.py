"""The streaming Silero wrapper scores exactly like faster-whisper's whole-array implementation."""

from __future__ import annotations

import numpy as np
import pytest

from audio_files import load_clip
from openasr.vad.silero import FRAME_SAMPLES, SileroVad, default_model_path, shared_vad
from speech_clips import clip


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    return load_clip(clip("beckett").path)  # 10 s: six short phrases and pauses


def _reference_probabilities(samples: np.ndarray) -> np.ndarray:
    from faster_whisper.vad import SileroVADModel

    padded = np.pad(samples, (0, -len(samples) % FRAME_SAMPLES))
    return np.asarray(SileroVADModel(str(default_model_path()))(padded)).reshape(-1)


@pytest.mark.parametrize("block_samples", [100, 512, 1000, 16_000, 10**7])
def test_streamed_probabilities_equal_faster_whispers_whole_array_ones(speech: np.ndarray, block_samples: int) -> None:
    stream = SileroVad().stream()
    parts = [stream.feed(speech[i : i + block_samples]) for i in range(0, len(speech), block_samples)]
    parts.append(stream.feed(np.zeros(0, dtype=np.float32), final=True))
    streamed = np.concatenate(parts)
    reference = _reference_probabilities(speech)
    assert streamed.shape == reference.shape == (-(-len(speech) // FRAME_SAMPLES),)
    np.testing.assert_allclose(streamed, reference, atol=1e-5)
    assert streamed.max() > 0.9 and streamed.min() < 0.1  # the clip has both speech and pauses


def test_each_stream_has_its_own_state(speech: np.ndarray) -> None:
    vad = shared_vad()
    first, second = vad.stream(), vad.stream()
    a = first.feed(speech[:48_000])
    first.feed(speech[48_000:96_000])
    b = second.feed(speech[:48_000])
    np.testing.assert_array_equal(a, b)
    assert shared_vad() is vad
