"""The loop clean-up both Qwen3-ASR references run before parsing (threshold 20), and the parser's
header rules that follow qwen-asr's `parse_asr_output`."""

from __future__ import annotations

from openasr.engines.qwen3_languages import ParsedOutput, parse_output
from openasr.engines.qwen3_repetition import fix_repetitions


def test_a_looping_phrase_is_kept_once_and_the_text_after_it_stays() -> None:
    assert fix_repetitions("好的" * 200) == "好的"
    assert fix_repetitions("我说" + "好的" * 30 + "再见") == "我说好的再见"
    assert fix_repetitions("la " * 25 + "end") == "la end"


def test_a_character_run_longer_than_the_threshold_is_kept_once() -> None:
    assert fix_repetitions("a" * 21 + "b") == "ab"
    assert fix_repetitions("嗯" * 300) == "嗯"


def test_repetitions_up_to_the_threshold_are_speech_and_stay() -> None:
    said = "no, " * 19 + "no way"
    assert fix_repetitions(said) == said
    assert fix_repetitions("a" * 20) == "a" * 20
    assert fix_repetitions("hello world.") == "hello world."


def test_patterns_longer_than_twenty_characters_are_not_collapsed() -> None:
    long = "abcdefghijklmnopqrstu" * 21  # 21 characters, repeated 21 times
    assert fix_repetitions(long) == long


def test_the_parser_cleans_loops_before_reading_the_header() -> None:
    raw = "language Chinese<asr_text>" + "好的" * 224 + "<|im_end|>"
    assert parse_output(raw) == ParsedOutput("好的", "zh")


def test_language_none_followed_by_text_keeps_the_text() -> None:
    assert parse_output("language None<asr_text>thank you.") == ParsedOutput("thank you.", None)
    assert parse_output("language None<asr_text>  ") == ParsedOutput("", None, no_speech=True)


def test_the_first_language_line_of_the_header_is_read() -> None:
    assert parse_output("language French\nlanguage German\n<asr_text>oui") == ParsedOutput("oui", "fr")
    assert parse_output("\nlanguage Japanese\nnoise\n<asr_text>はい") == ParsedOutput("はい", "ja")


def test_a_header_naming_several_languages_gives_the_first_known_one() -> None:
    assert parse_output("language Chinese,English<asr_text>我们 meeting").language == "zh"
    assert parse_output("language English/Chinese<asr_text>x").language == "en"
    assert parse_output("language Klingon, French<asr_text>x").language == "fr"
    assert parse_output("language Klingon<asr_text>x").language is None
