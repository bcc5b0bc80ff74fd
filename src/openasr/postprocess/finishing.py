"""The last touch on a recognised sentence: the script and number style its language is written in.

Whisper writes Chinese in traditional characters as well as simplified, with the spaces its
leading-space tokens leave between words; openasr answers Chinese in simplified characters without
them. Inverse text normalisation (`itn`) turns spoken numbers into digits where it is offered.
"""

from __future__ import annotations

from dataclasses import replace

from openasr.core.options import ITN_LANGUAGES
from openasr.core.types import Sentence, Word
from openasr.postprocess.chinese import is_cjk, remove_cjk_spaces, to_simplified
from openasr.postprocess.itn import apply_itn

SIMPLIFIED_LANGUAGES = frozenset({"zh", "yue"})
"""Languages answered in simplified Chinese characters."""


def finish_sentence(sentence: Sentence, language: str, *, itn: bool, words: bool) -> Sentence:
    """The sentence as the caller receives it: simplified and unspaced Chinese ending on a full stop where
    its last phrase ends on a comma, ITN where asked for and offered, and its words only when word
    timestamps were asked for."""
    text = sentence.text
    timed = sentence.words
    if language in SIMPLIFIED_LANGUAGES:
        text = remove_cjk_spaces(to_simplified(text))
        timed = join_cjk_words(tuple(replace(w, text=to_simplified(w.text)) for w in timed))
        if text.endswith(_PHRASE_END):  # the sentence's last phrase ends it
            text = text[: -len(_PHRASE_END)] + _SENTENCE_END
            timed = timed[:-1] + tuple(_end_sentence(w) for w in timed[-1:])
    if itn and language in ITN_LANGUAGES:
        text = apply_itn(text, language)
    return replace(sentence, text=text, words=timed if words else ())


_PHRASE_END = "，"
_SENTENCE_END = "。"


def _end_sentence(word: Word) -> Word:
    if word.punctuation.endswith(_PHRASE_END):
        return replace(word, punctuation=word.punctuation[: -len(_PHRASE_END)] + _SENTENCE_END)
    return word


def join_cjk_words(words: tuple[Word, ...]) -> tuple[Word, ...]:
    """Whisper's leading-space tokens leave spaces between Chinese words: drop a word's leading space
    before a Chinese character, and its trailing joiner when the next word starts with one too. Spaces
    next to Latin words stay."""
    out = []
    for i, w in enumerate(words):
        text = w.text.lstrip() if i == 0 or is_cjk(w.text.lstrip()[:1] or "a") else w.text
        punctuation = w.punctuation
        next_first = words[i + 1].text.lstrip()[:1] if i + 1 < len(words) else ""
        last = (text + punctuation).rstrip()[-1:]
        if next_first and last and is_cjk(last) and is_cjk(next_first):
            text = text if punctuation else text.rstrip()
            punctuation = punctuation.rstrip()
        out.append(replace(w, text=text, punctuation=punctuation))
    return tuple(out)
