"""Qwen3-ASR's output parser, its language names -> service codes, and how the registry recognises its
checkpoints (no torch needed)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from openasr.core.errors import ModelUnavailableError
from openasr.engines.qwen3_backend import Qwen3Backend, Qwen3Config
from openasr.engines.qwen3_languages import (
    ALIGNER_LANGUAGES,
    CHINESE_DIALECTS,
    CODE_TO_NAME,
    ParsedOutput,
    language_code,
    language_name,
    parse_output,
)
from openasr.engines.registry import model_backend
from openasr.engines.weights import resolve_qwen3_source


@pytest.mark.parametrize(("code", "name"), sorted(CODE_TO_NAME.items()))
def test_every_language_name_maps_to_its_code_and_back(code: str, name: str) -> None:
    assert language_code(name) == code
    assert language_code(name.lower()) == code
    assert language_name(code) == name
    assert parse_output(f"language {name}<asr_text>some words<|im_end|>") == ParsedOutput("some words", code)


@pytest.mark.parametrize("dialect", sorted(CHINESE_DIALECTS))
def test_every_dialect_name_maps_to_chinese_or_cantonese(dialect: str) -> None:
    expected = "yue" if "Cantonese" in dialect else "zh"
    assert language_code(dialect) == expected
    assert language_code(f"{dialect} dialect") == expected
    assert language_code(f"Chinese ({dialect})") == expected
    assert parse_output(f"language {dialect}<asr_text>你好").language == expected


def test_there_are_thirty_languages_and_the_aligner_covers_eleven() -> None:
    assert len(CODE_TO_NAME) == 30
    assert len(ALIGNER_LANGUAGES) == 11 and set(CODE_TO_NAME) >= ALIGNER_LANGUAGES


def test_language_none_is_no_speech() -> None:
    assert parse_output("language None<asr_text><|im_end|>") == ParsedOutput("", None, no_speech=True)
    assert parse_output("language None<asr_text>", forced_language=None).no_speech
    assert language_code("None") is None


def test_forced_language_output_is_the_text_alone() -> None:
    assert parse_output("Bonjour à tous.<|im_end|><|endoftext|>", "fr") == ParsedOutput("Bonjour à tous.", "fr")


def test_unknown_names_and_missing_markers() -> None:
    assert parse_output("language Klingon<asr_text>nuqneH") == ParsedOutput("nuqneH", None)
    assert parse_output("just text") == ParsedOutput("just text", None)
    assert parse_output("") == ParsedOutput("", None)
    assert parse_output("\n\nlanguage English<asr_text>a<asr_text>b") == ParsedOutput("ab", "en")
    with pytest.raises(KeyError):
        language_name("uk")


def test_registry_reads_the_backend_from_the_model_and_refuses_the_original_layout(tmp_path: Path) -> None:
    hf, original, whisper = tmp_path / "hf", tmp_path / "original", tmp_path / "ct2"
    for directory, config in (
        (hf, {"model_type": "qwen3_asr", "text_config": {"max_position_embeddings": 4096}}),
        (original, {"model_type": "qwen3_asr", "thinker_config": {}}),
        (whisper, {"model_type": "whisper"}),
    ):
        directory.mkdir()
        (directory / "config.json").write_text(json.dumps(config))
    assert [model_backend(str(d)) for d in (hf, original, whisper)] == ["qwen3", "qwen3", "whisper"]
    assert resolve_qwen3_source(str(hf)) == str(hf)
    with pytest.raises(ModelUnavailableError, match=r"convert_qwen3_asr_to_hf\.py"):
        resolve_qwen3_source(str(original))
    assert resolve_qwen3_source("Qwen/Qwen3-ASR-1.7B") == "Qwen/Qwen3-ASR-1.7B-hf"
    assert "context biasing (3072 tokens)" in Qwen3Backend(Qwen3Config()).status(str(hf), tmp_path).capabilities


def test_aligned_words_are_cut_from_the_text_with_their_punctuation_and_times_kept_in_the_chunk() -> None:
    from openasr.engines.qwen3_aligner import _words_in_text

    text = "Hello, world. 你好！ it's fine"
    timed = [
        {"text": "Hello", "start_time": 0.5, "end_time": 0.9},
        {"text": "world", "start_time": 0.8, "end_time": 1.2},  # starts before the previous end
        {"text": "你", "start_time": 1.3, "end_time": 1.5},
        {"text": "好", "start_time": 1.5, "end_time": 1.7},
        {"text": "it's", "start_time": 2.0, "end_time": 2.4},
        {"text": "fine", "start_time": 2.5, "end_time": 9.0},  # past the 3 s chunk
    ]
    words = _words_in_text(text, timed, duration_s=3.0)
    assert [w.text for w in words] == ["Hello,", " world.", " 你", "好！", " it's", " fine"]
    assert "".join(w.text for w in words) == text
    assert words[1].start_s == 0.9 and words[-1].end_s == 3.0
    assert all(w.start_s <= w.end_s for w in words)
    assert all(a.end_s <= b.start_s for a, b in itertools.pairwise(words))
    assert all(w.probability is None for w in words)  # an aligner does not choose words


def test_words_with_inner_punctuation_keep_their_times() -> None:
    """The aligner's words are cleaned by transformers' own splitter ("U.S.A." -> "USA"); each is found
    in the text again with its punctuation, and keeps its own time."""
    from transformers.models.qwen3_asr.processing_qwen3_asr import Qwen3ASRProcessor

    from openasr.engines.qwen3_aligner import _words_in_text

    text = "The U.S.A. grew 3.5%, a well-known fact: 1,000 firms."
    cleaned = Qwen3ASRProcessor.split_words_for_alignment(None, text, "English")  # type: ignore[arg-type]
    assert cleaned == ["The", "USA", "grew", "35", "a", "wellknown", "fact", "1000", "firms"]
    timed = [{"text": w, "start_time": 0.5 * n, "end_time": 0.5 * n + 0.4} for n, w in enumerate(cleaned)]
    words = _words_in_text(text, timed, duration_s=6.0)
    assert [w.text for w in words] == [
        "The",
        " U.S.A.",
        " grew",
        " 3.5%,",
        " a",
        " well-known",
        " fact:",
        " 1,000",
        " firms.",
    ]
    assert [w.start_s for w in words] == [t["start_time"] for t in timed]
    assert "".join(w.text for w in words) == text


def test_the_recogniser_and_the_aligner_are_told_apart_by_their_architectures(tmp_path: Path) -> None:
    asr, aligner = tmp_path / "asr", tmp_path / "aligner"
    for directory, architecture in (
        (asr, "Qwen3ASRForConditionalGeneration"),
        (aligner, "Qwen3ASRForTokenClassification"),
    ):
        directory.mkdir()
        config = {"model_type": "qwen3_asr", "architectures": [architecture]}
        (directory / "config.json").write_text(json.dumps(config))
    assert resolve_qwen3_source(str(asr)) == str(asr)
    assert resolve_qwen3_source(str(aligner), "aligner") == str(aligner)
    with pytest.raises(ModelUnavailableError, match="is a Qwen3-ForcedAligner"):
        resolve_qwen3_source(str(aligner))
    with pytest.raises(ModelUnavailableError, match="is a Qwen3-ASR model"):
        resolve_qwen3_source(str(asr), "aligner")
    with pytest.raises(ModelUnavailableError, match="not a Qwen3-ASR model"):
        resolve_qwen3_source("Qwen/Qwen3-ForcedAligner-0.6B")
    assert resolve_qwen3_source("Qwen/Qwen3-ForcedAligner-0.6B", "aligner") == "Qwen/Qwen3-ForcedAligner-0.6B-hf"
