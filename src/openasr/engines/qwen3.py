"""Qwen3-ASR in-process, through transformers' native classes (`pip install "openasr[qwen3]"`).

A batch of chunks, from any callers, is one padded `generate`: each item carries its own system turn
(the caller's context) and its own assistant prefill (`language <Name><asr_text>` when the language is
forced, nothing when the model is to detect it). Each item is processed alone and then padded
(`qwen3_batch`), and decoding is greedy with left padding and attention masks, so an item's inputs do not
depend on its batch. The model's own `language None` verdict means no speech:
that chunk gets no text. Word and sentence times come from Qwen3-ForcedAligner when one is configured;
without it a chunk's text spans the VAD's speech in it, and word timestamps are not offered.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from openasr.core.errors import InvalidParameterError
from openasr.engines.base import Recognition, RecognitionItem, RecognizedSegment
from openasr.engines.qwen3_aligner import SAMPLE_RATE_HZ, ForcedAligner
from openasr.engines.qwen3_batch import pad_items
from openasr.engines.qwen3_budget import max_new_tokens
from openasr.engines.qwen3_capabilities import qwen3_capabilities
from openasr.engines.qwen3_header_scores import HeaderScores
from openasr.engines.qwen3_languages import CODE_TO_NAME, ParsedOutput, language_name, parse_output
from openasr.engines.qwen3_torch import TorchPlacement

log = logging.getLogger(__name__)

_NO_SPEECH_LANGUAGE = "en"
"""Reported for a chunk without speech whose language nobody named (the pipeline's own fallback)."""


class Qwen3AsrEngine:
    """One loaded Qwen3-ASR model (a directory or a hub id of an `-hf` checkpoint)."""

    def __init__(
        self,
        name: str,
        source: str | Path,
        placement: TorchPlacement,
        *,
        aligner: ForcedAligner | None = None,
        max_new_tokens: int | None = None,
        cache_dir: Path | None = None,
    ) -> None:
        from transformers import AutoProcessor, Qwen3ASRForConditionalGeneration

        hub = str(cache_dir) if cache_dir is not None else None
        self.name = name
        self._processor: Any = AutoProcessor.from_pretrained(str(source), cache_dir=hub)
        model_class: Any = Qwen3ASRForConditionalGeneration
        self._model: Any = model_class.from_pretrained(str(source), dtype=placement.dtype, cache_dir=hub)
        self._model.to(placement.device).eval()
        self._device = placement.device
        self._aligner = aligner
        self._max_new_tokens = max_new_tokens
        """A cap on the duration-scaled budget (`qwen3_budget`); None: the budget alone."""
        self._tokenizer = self._processor.tokenizer
        self._marker_id = int(self._tokenizer.convert_tokens_to_ids("<asr_text>"))
        pad = self._tokenizer.pad_token_id
        self._pad_id = int(pad if pad is not None else self._tokenizer.eos_token_id)
        self._tokenizer_lock = threading.Lock()
        """Usage counts tokens on request threads while a batch is being padded on the engine's: a Rust
        tokenizer whose padding is being set raises "Already borrowed" to a concurrent caller."""
        positions = int(self._model.config.text_config.max_position_embeddings)
        self.capabilities = qwen3_capabilities(positions, aligner.languages if aligner is not None else None)

    @property
    def aligner(self) -> ForcedAligner | None:
        return self._aligner

    def count_tokens(self, text: str) -> int:
        """Tokens of `text` in the model's own tokenizer: what the context costs, and what usage reports."""
        return len(self._encode(text)) if text else 0

    def _encode(self, text: str) -> list[int]:
        with self._tokenizer_lock:
            return list(self._tokenizer.encode(text, add_special_tokens=False))

    def system_prompt(self, context: str) -> str:
        """The caller's context as the system turn, cut to `max_prompt_tokens` keeping its beginning
        (glossaries put their key terms first)."""
        text = context.strip()
        ids = self._encode(text) if text else []
        limit = self.capabilities.max_prompt_tokens
        if len(ids) <= limit:
            return text
        with self._tokenizer_lock:
            return str(self._tokenizer.decode(ids[:limit])).strip()

    def prepare(self, items: Sequence[RecognitionItem]) -> dict[str, object]:
        """The padded model inputs of a batch (input ids hold each item's system turn and prefill), each
        item processed alone and then padded (`qwen3_batch`), so that it does not depend on its batch."""
        for item in items:
            if item.request.language is not None and item.request.language not in CODE_TO_NAME:
                raise InvalidParameterError(
                    f"model {self.name} cannot transcribe language {item.request.language!r}", param="language"
                )
        prompts = [self.system_prompt(item.request.prompt) for item in items]
        with self._tokenizer_lock:
            each = [
                self._processor.apply_transcription_request(
                    audio=[item.samples],
                    language=[language_name(item.request.language) if item.request.language else None],
                    prompt=[prompt],
                )
                for item, prompt in zip(items, prompts, strict=True)
            ]
        inputs = {key: value.to(self._device) for key, value in pad_items(each, self._pad_id).items()}
        inputs["input_features"] = inputs["input_features"].to(self._model.dtype)
        return inputs

    def recognize(self, items: Sequence[RecognitionItem]) -> list[Recognition]:
        import torch
        from transformers import LogitsProcessorList

        inputs = self.prepare(items)
        budget = max_new_tokens(max(len(i.samples) for i in items) / SAMPLE_RATE_HZ, self._max_new_tokens)
        header = HeaderScores(self._marker_id, [i.request.language is not None for i in items])
        with torch.inference_mode():
            sequences = self._model.generate(
                **inputs, max_new_tokens=budget, do_sample=False, logits_processor=LogitsProcessorList([header])
            )
        prompt_length = int(inputs["input_ids"].shape[1])  # type: ignore[attr-defined]
        generated = sequences[:, prompt_length:]
        with self._tokenizer_lock:
            raw = self._tokenizer.batch_decode(generated, skip_special_tokens=False)
        parsed = [parse_output(text, item.request.language) for text, item in zip(raw, items, strict=True)]
        confidence = header.confidence(generated)
        cut = self._cut(generated, budget)
        words = self._align(items, parsed)
        return [
            self._recognition(item, output, item_words, conf, truncated)
            for item, output, item_words, conf, truncated in zip(items, parsed, words, confidence, cut, strict=True)
        ]

    def _cut(self, generated: Any, budget: int) -> list[bool]:
        """Rows that used the whole budget without an end token: their text may be cut short."""
        eos = self._model.generation_config.eos_token_id
        ends = [eos] if isinstance(eos, int) else list(eos or [])
        cut = []
        for row in generated.tolist():
            truncated = len(row) >= budget and not any(token in ends for token in row)
            if truncated:
                log.warning("Qwen3-ASR %s: a chunk reached its budget of %d tokens and was cut", self.name, budget)
            cut.append(truncated)
        return cut

    def _align(self, items: Sequence[RecognitionItem], parsed: list[ParsedOutput]) -> list[tuple]:
        """Align, in one batch, the chunks whose caller wants word times in a language the aligner has."""
        out: list[tuple] = [() for _ in items]
        if self._aligner is None:
            return out
        todo = [
            i
            for i, (item, p) in enumerate(zip(items, parsed, strict=True))
            if item.request.words and p.text and p.language in self._aligner.languages
        ]
        if todo:
            aligned = self._aligner.align(
                [items[i].samples for i in todo],
                [parsed[i].text for i in todo],
                [str(parsed[i].language) for i in todo],
            )
            for i, words in zip(todo, aligned, strict=True):
                out[i] = words
        return out

    def _recognition(
        self, item: RecognitionItem, output: ParsedOutput, words: tuple, confidence: float, truncated: bool
    ) -> Recognition:
        """`language None` (or an empty text) gives no segment; a detected language carries the model's
        confidence in its language line, a forced one none."""
        language = output.language or item.request.language or _NO_SPEECH_LANGUAGE
        if not output.text:
            return Recognition((), language, None, truncated)
        if words:
            segment = RecognizedSegment(words[0].start_s, words[-1].end_s, output.text, words)
        else:
            start_s, end_s = _speech_extent(item)
            segment = RecognizedSegment(start_s, end_s, output.text)
        probability = None if item.request.language else (confidence if output.language else 0.0)
        return Recognition((segment,), language, probability, truncated)


def _speech_extent(item: RecognitionItem) -> tuple[float, float]:
    """Where the chunk's text is said, as far as is known without an aligner: the VAD's speech in it."""
    if item.speech:
        return item.speech[0][0], item.speech[-1][1]
    return 0.0, len(item.samples) / SAMPLE_RATE_HZ
