"""Word times from Qwen3-ForcedAligner: recognised text + its chunk -> a time for every word.

The aligner is a token classifier over the audio followed by each word and two `<timestamp>` markers;
the class of each marker is the time (80 ms steps) where the word starts or ends. A whole batch of chunks
is aligned in one padded forward pass, each chunk's inputs built alone and then padded (`qwen3_batch`),
so its times do not depend on its batch. Words are cut from the recognised text itself (the aligner's word
list drops punctuation), so each word keeps its leading space and the punctuation after it, as the
sentence builder expects, and joining the words gives the text back exactly.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from openasr.engines.base import RecognizedWord
from openasr.engines.qwen3_batch import pad_items
from openasr.engines.qwen3_languages import ALIGNER_LANGUAGES, language_name
from openasr.engines.qwen3_torch import TorchPlacement

SAMPLE_RATE_HZ = 16_000


class ForcedAligner:
    """A loaded Qwen3-ForcedAligner (a local directory or a hub id)."""

    def __init__(self, source: str | Path, placement: TorchPlacement, cache_dir: Path | None = None) -> None:
        from transformers import AutoModelForTokenClassification, AutoProcessor

        hub = str(cache_dir) if cache_dir is not None else None
        self.source = str(source)
        self._processor: Any = AutoProcessor.from_pretrained(str(source), cache_dir=hub)
        self._model: Any = AutoModelForTokenClassification.from_pretrained(
            str(source), dtype=placement.dtype, cache_dir=hub
        )
        self._model.to(placement.device).eval()
        self._device = placement.device
        tokenizer = self._processor.tokenizer
        self._pad_id = int(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id)
        self.languages = ALIGNER_LANGUAGES - _missing_splitters()

    def prepare(
        self, samples: Sequence[np.ndarray], texts: Sequence[str], languages: Sequence[str]
    ) -> tuple[dict[str, Any], list[list[str]]]:
        """The padded inputs of a batch, each item built alone (`qwen3_batch`), and each item's words."""
        each = [
            self._processor.prepare_forced_aligner_inputs(
                audio=[audio], transcript=[text], language=[language_name(language)]
            )
            for audio, text, language in zip(samples, texts, languages, strict=True)
        ]
        word_lists = [words for _, item_words in each for words in item_words]
        inputs = {k: v.to(self._device) for k, v in pad_items([features for features, _ in each], self._pad_id).items()}
        if "input_features" in inputs:
            inputs["input_features"] = inputs["input_features"].to(self._model.dtype)
        return inputs, word_lists

    def align(
        self, samples: Sequence[np.ndarray], texts: Sequence[str], languages: Sequence[str]
    ) -> list[tuple[RecognizedWord, ...]]:
        """Words of each text with chunk-relative times, monotonic and inside the chunk; a text without
        alignable words gives no words."""
        import torch

        todo = [i for i, text in enumerate(texts) if self._processor.split_words_for_alignment(text, languages[i])]
        out: list[tuple[RecognizedWord, ...]] = [() for _ in texts]
        if not todo:
            return out
        inputs, word_lists = self.prepare(
            [samples[i] for i in todo], [texts[i] for i in todo], [languages[i] for i in todo]
        )
        with torch.inference_mode():
            logits = self._model(**inputs).logits
        timed = self._processor.decode_forced_alignment(
            logits.float(), inputs["input_ids"], word_lists, self._model.config.timestamp_token_id
        )
        for i, words in zip(todo, timed, strict=True):
            duration_s = len(samples[i]) / SAMPLE_RATE_HZ
            out[i] = _words_in_text(texts[i], words, duration_s)
        return out


def _missing_splitters() -> frozenset[str]:
    """Japanese and Korean words are split by optional packages; without them those languages get
    chunk-level times instead of failing at recognition time."""
    from transformers.utils.import_utils import is_nagisa_available, is_soynlp_available

    return frozenset(
        ({"ja"} if not is_nagisa_available() else set()) | ({"ko"} if not is_soynlp_available() else set())
    )


def _words_in_text(text: str, timed: list[dict[str, object]], duration_s: float) -> tuple[RecognizedWord, ...]:
    """Cut `text` at the aligned words: each piece runs from the end of the previous word to the end of
    its own word plus the punctuation after it; times are clamped into the chunk and made monotonic."""
    pieces: list[tuple[float, float, int]] = []
    cursor = 0
    last_end_s = 0.0
    for word in timed:
        found = _find_word(text, str(word["text"]), cursor)
        if found is None:
            continue
        cursor = found
        start_s = min(max(float(str(word["start_time"])), last_end_s), duration_s)
        end_s = min(max(float(str(word["end_time"])), start_s), duration_s)
        last_end_s = end_s
        pieces.append((start_s, end_s, cursor))
    words = []
    begin = 0
    for n, (start_s, end_s, stop) in enumerate(pieces):
        stop = _after_punctuation(text, stop) if n + 1 < len(pieces) else len(text)
        words.append(RecognizedWord(start_s, end_s, text[begin:stop], None))
        begin = stop
    return tuple(words)


def _find_word(text: str, word: str, cursor: int) -> int | None:
    """Where the aligner's `word` ends in `text`, searching from `cursor`; None where it is not there.

    The aligner's words are the text's words with everything but letters, digits and apostrophes taken
    out (transformers' `Qwen3ASRProcessor.split_words_for_alignment` and `_is_kept_char`), so "U.S.A."
    comes back as "USA", "3.5%" as "35", "well-known" as "wellknown" and "1,000" as "1000": the word is
    matched letter by letter, stepping over the punctuation inside it."""
    if not word:
        return None
    start = text.find(word[0], cursor)
    while start >= 0:
        end = _spelled_from(text, word, start)
        if end is not None:
            return end
        start = text.find(word[0], start + 1)
    return None


def _spelled_from(text: str, word: str, start: int) -> int | None:
    """The end of `word` spelled from `start`, punctuation between its letters skipped."""
    i = start
    for char in word:
        while i < len(text) and text[i] != char and _is_inner_punctuation(text[i]):
            i += 1
        if i >= len(text) or text[i] != char:
            return None
        i += 1
    return i


def _is_inner_punctuation(char: str) -> bool:
    """What the aligner drops from inside a word: not a letter, digit, apostrophe or space."""
    return char != "'" and not char.isspace() and unicodedata.category(char)[0] not in "LN"


def _after_punctuation(text: str, index: int) -> int:
    """Move past the punctuation that closes a word (not past the space before the next one)."""
    while index < len(text) and not text[index].isspace() and not text[index].isalnum() and text[index] != "'":
        index += 1
    return index
