"""Nothing heard is dropped: utterances that run into each other all reach the text.

Whisper sometimes ends a window early: on "eight of spades, four of clubs, seven of hearts" followed
0.05 s later by Beckett's "Ever tried. Ever failed. …", it wrote the cards, then one timestamp at the
window's end, and the twelve words after were gone (before the fix: 12 of 21 words deleted). The
decoder now checks each window's last word against the VAD's speech and decodes what is left.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from asr_metrics import score

from audio_files import load_clip, run_together, synth_music, write_audio
from openasr import pipeline
from openasr.core.options import TranscribeOptions
from openasr.runtime.batcher import BatchingEngine
from speech_clips import clip

FIRST, SECOND = clip("cards_005"), clip("beckett")
HEARD = 0.8
"""Share of each utterance's words that must be recognised (one misheard card is allowed)."""


def assert_both_heard(text: str) -> None:
    for c in (FIRST, SECOND):
        e = score(c.reference, text, "en")
        # Scored against the whole text: the other utterance's words count as insertions, not misses.
        assert e.hits >= HEARD * e.reference_tokens, f"{c.name}: {e.hits}/{e.reference_tokens} words in {text!r}"


@pytest.fixture(scope="module")
def tracks() -> tuple[np.ndarray, np.ndarray]:
    return run_together(FIRST.path, SECOND.path, gap_s=0.05)


@pytest.fixture(scope="module")
def one_after_another(tmp_path_factory: pytest.TempPathFactory, tracks: tuple[np.ndarray, np.ndarray]) -> Path:
    return write_audio(tmp_path_factory.mktemp("joined") / "joined.flac", tracks[0] + tracks[1], "flac")


@pytest.fixture(scope="module")
def two_channels(tmp_path_factory: pytest.TempPathFactory, tracks: tuple[np.ndarray, np.ndarray]) -> Path:
    return write_audio(tmp_path_factory.mktemp("stereo") / "stereo.wav", np.stack(tracks), "wav")


@pytest.mark.parametrize("options", [TranscribeOptions(sentences=False), TranscribeOptions(words=True)])
def test_an_utterance_right_after_another_is_transcribed(
    one_after_another: Path, options: TranscribeOptions, engine: BatchingEngine
) -> None:
    transcript = pipeline.run(one_after_another, options, engine)
    assert_both_heard(transcript.text)
    assert transcript.text.index("spades") < transcript.text.lower().index("fail better")


def test_two_channels_merged_keep_both_speakers(two_channels: Path, engine: BatchingEngine) -> None:
    merged = pipeline.run(two_channels, TranscribeOptions(sentences=False), engine)
    assert len(merged.channels) == 1
    assert_both_heard(merged.text)


def test_each_channel_on_its_own_has_its_own_speaker(two_channels: Path, engine: BatchingEngine) -> None:
    left, right = pipeline.run(two_channels, TranscribeOptions(channels=(0, 1)), engine).channels
    for channel, c in ((left, FIRST), (right, SECOND)):
        e = score(c.reference, channel.text, "en")
        assert e.hits >= HEARD * e.reference_tokens and e.insertions <= 1, (c.name, channel.text)


def test_speech_over_music_is_transcribed(tmp_path: Path, engine: BatchingEngine) -> None:
    """Speech with an instrumental bed under it at -12 dB: the words, not silence."""
    speech = load_clip(SECOND.path)
    music = synth_music(len(speech) / 16_000)[: len(speech)]
    music *= 0.25 * np.sqrt(np.mean(speech**2) / np.mean(music**2))
    path = write_audio(tmp_path / "over_music.wav", speech + music, "wav")
    e = score(SECOND.reference, pipeline.run(path, TranscribeOptions(sentences=False), engine).text, "en")
    assert e.hits >= HEARD * e.reference_tokens, e
