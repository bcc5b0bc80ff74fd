"""Which language each chunk of a channel is decoded in, when the caller does not say (real speech).

Each chunk detects its language from the encoder output that recognises it, until one is sure
(`LANGUAGE_SETTLED`); from then on the channel keeps that language.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from asr_metrics import score

from audio_files import load_clip, write_long_flac
from openasr import pipeline
from openasr.core.options import TranscribeOptions
from openasr.pipeline import LANGUAGE_SETTLED
from openasr.runtime.batcher import BatchingEngine
from speech_clips import clip

_RATE = 16_000


def test_an_unsure_first_chunk_does_not_decide_the_language(engine: BatchingEngine, tmp_path: Path) -> None:
    """0.8 s cut out of Beckett ("…ever for…"), which Whisper base takes for Dutch at p ≈ 0.58, then a
    3 s pause and an English sentence: the sentence detects its own language and is recognised in
    English (fixing Dutch from the first chunk would have translated it), and the channel says English."""
    fragment = load_clip(clip("beckett").path)[int(2.1 * _RATE) : int(2.9 * _RATE)]
    sentence = clip("0870")
    silence = np.zeros(3 * _RATE, dtype=np.float32)
    path = write_long_flac(
        tmp_path / "unsure_first.flac", [silence[: _RATE // 2], fragment, silence, load_clip(sentence.path)]
    )
    first, second = pipeline.open(path, TranscribeOptions(), engine).stream()
    assert first.language_probability is not None and first.language_probability < LANGUAGE_SETTLED, first
    assert second.language == "en" and (second.language_probability or 0) > 0.9
    assert score(sentence.reference, second.text, "en").rate <= 0.1, second.text
    assert pipeline.run(path, TranscribeOptions(), engine).channels[0].language == "en"


def test_a_sure_chunk_settles_the_language_of_the_chunks_after_it(engine: BatchingEngine) -> None:
    """two_cities is two chunks: the first detects English with confidence, the second is decoded in
    English without detecting (no probability of its own); the channel reports the first's."""
    first, second = pipeline.open(clip("two_cities").path, TranscribeOptions(), engine).stream()
    assert first.language == "en" and (first.language_probability or 0) >= LANGUAGE_SETTLED
    assert second.language == "en" and second.language_probability is None
    channel = pipeline.run(clip("two_cities").path, TranscribeOptions(), engine).channels[0]
    assert (channel.language, channel.language_probability) == ("en", first.language_probability)
