"""The last touch on a sentence: Chinese as openasr answers it, its words still spelling its text."""

from __future__ import annotations

from openasr.core.types import Sentence, Word
from openasr.postprocess.finishing import finish_sentence
from openasr.postprocess.sentences import sentences_from_words


def _finished(texts: list[str], language: str = "zh") -> Sentence:
    words = [Word(i * 300, (i + 1) * 300, t) for i, t in enumerate(texts)]
    (sentence,) = sentences_from_words(words, language)
    return finish_sentence(sentence, language, itn=False, words=True)


def test_a_chinese_sentence_whose_last_phrase_ends_on_a_comma_ends_on_a_full_stop() -> None:
    # The Whisper engine closes each phrase of Chinese with a comma (funasr_nano_dia_yue, unprompted).
    sentence = _finished(["身", "體", "很", "厲害，", "然後", "走", "吧，"])
    assert sentence.text == "身体很厉害，然后走吧。"
    assert [(w.text, w.punctuation) for w in sentence.words][3::3] == [("厉害", "，"), ("吧", "。")]
    assert "".join(w.text + w.punctuation for w in sentence.words) == sentence.text


def test_other_endings_and_languages_are_left_alone() -> None:
    assert _finished(["你", "好？"]).text == "你好？"
    assert _finished(["我", "用", " Python"]).text == "我用 Python"
    assert _finished([" Well,", " then,"], "en").text == "Well, then,"
