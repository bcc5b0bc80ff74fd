"""Recognition accuracy of the full pipeline with the bundled whisper-base on the committed real speech.

Scores use `bench/asr_metrics.py` (lower case, no punctuation, hyphens split, "Mr." = "mister", number
words = digits on both sides, Chinese folded to Simplified): the same normalisation `bench/eval.py`
prints. faster-whisper run directly on the same files is the reference implementation: the pipeline
(our decoding, streaming VAD, chunking, post-processing) must not cost accuracy against it.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import ctranslate2
import numpy as np
import pytest
from asr_metrics import ErrorCount, normalize_text, score
from faster_whisper import WhisperModel

from openasr import pipeline
from openasr.core.options import TranscribeOptions
from openasr.core.types import Transcript
from openasr.engines.base import Engine
from openasr.engines.weights import bundled_model_dir
from openasr.vad.timeline import VadOptions
from speech_clips import Clip, clip, load_clips

ENGLISH = load_clips("en")
CHINESE = load_clips("zh")
_CHUNK_S = VadOptions().max_chunk_s


def _pooled(pairs: list[tuple[str, str]], language: str) -> ErrorCount:
    total = ErrorCount(0, 0)
    for reference, hypothesis in pairs:
        total += score(reference, hypothesis, language)
    return total


@pytest.fixture(scope="module")
def faster_whisper(cache_dir: Path) -> Iterator[WhisperModel]:
    """faster-whisper used as its README says, on the bundled weights: the reference implementation."""
    model = WhisperModel(str(bundled_model_dir("whisper-base", cache_dir)), device="cpu", compute_type="int8")
    yield model
    del model
    gc.collect()


PARITY = 0.005
"""The issue's bar: openasr's corpus error rate at most 0.5 pp above faster-whisper's on the same weights."""


def _faster_whisper_texts(model: WhisperModel, clips: list[Clip]) -> dict[str, str]:
    """faster-whisper as its README runs it; its temperature fallback samples, so it is seeded per clip."""
    texts = {}
    for c in clips:
        ctranslate2.set_random_seed(0)
        audio: str | np.ndarray = str(c.path)
        if c.path.suffix == ".raw":  # headerless: faster-whisper's decoder cannot open it by name
            audio = np.fromfile(c.path, dtype="<i2").astype(np.float32) / 32768
        segments, _ = model.transcribe(audio, beam_size=5)
        texts[c.name] = " ".join(s.text.strip() for s in segments)
    return texts


@pytest.fixture(scope="module")
def chinese_transcripts(engine: Engine) -> dict[str, Transcript]:
    return {c.name: pipeline.run(c.path, TranscribeOptions(), engine) for c in CHINESE}


def test_english_word_error_rate_is_at_most_5_percent(english_transcripts: dict[str, Transcript]) -> None:
    total = _pooled([(c.reference, english_transcripts[c.name].text) for c in ENGLISH], "en")
    assert total.reference_tokens > 200
    assert total.rate <= 0.05, f"WER {total.rate:.2%} ({total.edits}/{total.reference_tokens})"
    assert all(english_transcripts[c.name].language == "en" for c in ENGLISH)


def test_english_is_as_accurate_as_faster_whisper_run_directly(
    english_transcripts: dict[str, Transcript], faster_whisper: WhisperModel
) -> None:
    """No worse than faster-whisper + 0.5 pp on the clips that fit one recognition window: each is one
    chunk reaching from the file's start to its end (the VAD's pad and margin), so both systems decode the
    same audio, and a near-tie another CTranslate2 build decides differently moves both alike.

    Clips longer than a window (two_cities.flac, 44 s) are left out of the parity on purpose: the
    pipeline recognises VAD chunks independently (so one file's chunks can fan out over many engines
    and a resumed task re-creates the same text), while faster-whisper's long-form loop prompts each
    30 s window with the text of the previous one. On two_cities that prompt decides the coin-flip
    "for good or for evil" / "for good author evil" (2 edits); their absolute WER is still covered by
    the 5 % test above.
    """
    clips = [c for c in ENGLISH if english_transcripts[c.name].audio.duration_s <= _CHUNK_S]
    assert len(clips) >= 10
    reference_texts = _faster_whisper_texts(faster_whisper, clips)
    ours = _pooled([(c.reference, english_transcripts[c.name].text) for c in clips], "en")
    theirs = _pooled([(c.reference, reference_texts[c.name]) for c in clips], "en")
    assert ours.rate <= theirs.rate + PARITY, (
        f"pipeline WER {ours.rate:.2%} ({ours.edits}/{ours.reference_tokens}) vs faster-whisper "
        f"{theirs.rate:.2%} ({theirs.edits}/{theirs.reference_tokens})"
    )


def test_chinese_is_detected_recognised_and_written_in_simplified_characters(
    chinese_transcripts: dict[str, Transcript],
) -> None:
    """AISHELL-1 read speech: language zh, CER bounded, Simplified output (Whisper writes Traditional).

    The bound is 25 %: whisper-base int8 run directly through faster-whisper scores 22.2 % (8/36
    characters) on these two clips, float32 19.4 %; the pipeline must stay within that model limit.
    """
    from opencc import OpenCC

    to_simplified = OpenCC("t2s")
    total = _pooled([(c.reference, chinese_transcripts[c.name].text) for c in CHINESE], "zh")
    assert total.rate <= 0.25, f"CER {total.rate:.2%} ({total.edits}/{total.reference_tokens})"
    for c in CHINESE:
        t = chinese_transcripts[c.name]
        assert t.language == "zh"
        assert t.channels[0].language_probability is not None and t.channels[0].language_probability > 0.9
        texts = [t.text] + [s.text for s in t.channels[0].sentences]
        assert all(to_simplified.convert(text) == text for text in texts), texts
        assert not set("廣產間協會認進輕銷為") & set(t.text), t.text


def test_chinese_is_as_accurate_as_faster_whisper_run_directly(
    chinese_transcripts: dict[str, Transcript], faster_whisper: WhisperModel
) -> None:
    """CER no worse than faster-whisper's + 0.5 pp: on 36 characters, no more errors at all.

    Both clips are one chunk each from the file's start to its end, the audio faster-whisper decodes:
    cut at 200 ms around the speech instead, the pipeline wrote 见口 where faster-whisper writes 进口."""
    reference_texts = _faster_whisper_texts(faster_whisper, CHINESE)
    ours = _pooled([(c.reference, chinese_transcripts[c.name].text) for c in CHINESE], "zh")
    theirs = _pooled([(c.reference, reference_texts[c.name]) for c in CHINESE], "zh")
    assert ours.rate <= theirs.rate + PARITY, (ours, theirs, reference_texts)


def _says(text: str, term: str, language: str) -> bool:
    """Whether the normalised text has the word (spaced languages) or the character string (Chinese)."""
    normalized = normalize_text(text, language)
    return term in (normalized.split() if language == "en" else normalized)


@pytest.mark.parametrize(
    ("name", "context", "misheard", "expected"),
    [
        # AISHELL-1 "广州市房地产中介协会分析": without context whisper-base hears "佛地产中间协会".
        ("BAC009S0724W0121", "房地产中介协会", ["佛地产", "中间"], ["房地产", "中介"]),
        # "eight of spades four of clubs seven of hearts": without context "clubs" comes out as "close".
        # Whisper base is as fickle about the wording of a prompt here as faster-whisper given the same
        # `initial_prompt` (identical text for each): the suits as a glossary fix it.
        ("cards_005", "Suits: Clubs, Spades, Hearts, Diamonds.", ["close"], ["clubs"]),
    ],
)
def test_context_biasing_fixes_a_misrecognised_term(
    engine: Engine, name: str, context: str, misheard: list[str], expected: list[str]
) -> None:
    c = clip(name)
    plain = pipeline.run(c.path, TranscribeOptions(), engine).text
    biased = pipeline.run(c.path, TranscribeOptions(context=context), engine).text
    for term in misheard:
        assert _says(plain, term, c.language), f"without context: {plain!r}"
        assert not _says(biased, term, c.language), f"with context: {biased!r}"
    for term in expected:
        assert not _says(plain, term, c.language), f"without context: {plain!r}"
        assert _says(biased, term, c.language), f"with context: {biased!r}"
    assert score(c.reference, biased, c.language).edits < score(c.reference, plain, c.language).edits
