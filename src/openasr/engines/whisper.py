"""The default engine: Whisper through faster-whisper / CTranslate2.

Whisper's own language codes are mapped to the service's (spec §11): `tl` is reported as `fil`, `nn` as
`no`; Cantonese (`yue`) only exists in large-v3 tokenizers, so on other models it is transcribed as `zh`.
Context biasing goes in as Whisper's prompt, which holds at most `max_prompt_tokens` tokens; a longer
context keeps its beginning (glossaries put their key terms first) — see `build_prompt`.
Multilingual models also translate (Whisper's `translate` task): the text is English, reported as `en`.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import ClassVar

from faster_whisper.tokenizer import _LANGUAGE_CODES

from openasr.core.errors import InvalidParameterError, ModelNotFoundError, ModelUnavailableError
from openasr.engines.backend import ModelStatus, capability_labels
from openasr.engines.base import (
    Engine,
    EngineCapabilities,
    Recognition,
    RecognitionItem,
    RecognitionRequest,
    RecognizedSegment,
    RecognizedWord,
)
from openasr.engines.weights import BUNDLED, bundled_model_dir, resolve_model_dir
from openasr.engines.whisper_decode import DecodedChunk, DecodedSegment, DecodeSettings, decode_chunks

_TO_SERVICE = {"tl": "fil", "nn": "no", "jw": "jv"}
_TO_WHISPER = {v: k for k, v in _TO_SERVICE.items()} | {"no": "no"}


_MAX_LENGTH = 448
"""Whisper's decoder positions; the prompt may take half of them (`max_prompt_tokens`)."""


def service_language(whisper_code: str) -> str:
    return _TO_SERVICE.get(whisper_code, whisper_code)


@dataclass(frozen=True)
class WhisperConfig:
    """CTranslate2 settings of the Whisper backend (`Settings.cpu_threads`, `engine_workers`,
    `timestamp_tokens`; the defaults and why are there)."""

    cpu_threads: int = 0
    workers: int = 2
    timestamp_tokens: bool = True


def whisper_capabilities(whisper_codes: frozenset[str], multilingual: bool, workers: int) -> EngineCapabilities:
    """What a Whisper model offers: the one declaration, for a loaded model (its tokenizer's languages)
    and for `openasr models` (the languages a multilingual Whisper knows)."""
    return EngineCapabilities(
        languages=frozenset(service_language(code) for code in whisper_codes) | ({"yue"} if multilingual else set()),
        language_id=multilingual,
        word_timestamps=True,
        context_biasing=True,
        emotion=False,
        max_chunk_s=30.0,
        max_prompt_tokens=_MAX_LENGTH // 2 - 1,
        concurrent_calls=workers,
        translation=multilingual,
        why_not={} if multilingual else {"translation": "English-only model"},
    )


class WhisperEngine:
    """One loaded CTranslate2 Whisper model; `concurrent_calls` batches may decode in parallel."""

    def __init__(
        self,
        name: str,
        model_dir: Path,
        *,
        cpu_threads: int = 0,
        workers: int = 1,
        compute_type: str = "int8",
        device: str = "cpu",
        beam_size: int = 5,
        timestamp_tokens: bool = True,
    ) -> None:
        from faster_whisper import WhisperModel

        self.name = name
        self._model = WhisperModel(
            str(model_dir),
            device=device,
            compute_type=compute_type,
            cpu_threads=cpu_threads,
            num_workers=workers,
        )
        self._beam_size = beam_size
        self._timestamp_tokens = timestamp_tokens
        self._tokenizer_lock = threading.Lock()
        # faster-whisper lists every code it knows for any multilingual model, "yue" included, but only
        # large-v3 tokenizers have <|yue|>: forcing it on base decodes with no language token (garbage).
        tokenizer = self._model.hf_tokenizer
        whisper_langs = {c for c in self._model.supported_languages if tokenizer.token_to_id(f"<|{c}|>") is not None}
        self.capabilities = whisper_capabilities(frozenset(whisper_langs), self._model.model.is_multilingual, workers)
        self._whisper_langs = whisper_langs

    def close(self) -> None:
        """Free the weights now (CTranslate2's `unload_model`), not whenever the last reference goes."""
        self._model.model.unload_model()

    def whisper_language(self, language: str) -> str:
        code = _TO_WHISPER.get(language, language)
        if code == "yue" and code not in self._whisper_langs:
            code = "zh"
        if code not in self._whisper_langs:
            raise InvalidParameterError(f"model {self.name} cannot transcribe language {language!r}", param="language")
        return code

    def build_prompt(self, context: str) -> str:
        """The caller's context, cut to the prompt window keeping its beginning.

        Nothing else goes in: a prompt steers Whisper's wording as much as its script. The common Chinese
        hint ("以下是普通话的句子。") buys Simplified characters and full-width punctuation at the price
        of condensed written Mandarin: 4.9 pp more CER on the fixtures' Mandarin and 7.5 pp on their
        Cantonese (same chunks, with and without it). The script is the finishing stage's job (OpenCC),
        the wording the model's."""
        text = context.strip()
        if not text:
            return ""
        ids = self._encode(" " + text)
        limit = self.capabilities.max_prompt_tokens
        if len(ids) <= limit:
            return text
        with self._tokenizer_lock:
            return str(self._model.hf_tokenizer.decode(ids[:limit])).strip()

    def _encode(self, text: str) -> list[int]:
        with self._tokenizer_lock:
            return list(self._model.hf_tokenizer.encode(text, add_special_tokens=False).ids)

    def recognize(self, items: Sequence[RecognitionItem]) -> list[Recognition]:
        """One batched decode per group of items that share a language (or its detection), a context and
        a word-timing need; each item keeps its own result, in order."""
        groups: dict[RecognitionRequest, list[int]] = {}
        for index, item in enumerate(items):
            groups.setdefault(item.request, []).append(index)
        by_index: dict[int, Recognition] = {}
        for request, indexes in groups.items():
            settings = DecodeSettings(
                language=self.whisper_language(request.language) if request.language else None,
                prompt_tokens=self._prompt_tokens(request.prompt),
                words=request.words,
                task=request.task,
                beam_size=1 if request.draft else self._beam_size,
                timestamp_tokens=self._timestamp_tokens,
                draft=request.draft,
            )
            decoded = decode_chunks(
                self._model, [items[i].samples for i in indexes], settings, [items[i].speech for i in indexes]
            )
            for index, chunk in zip(indexes, decoded, strict=True):
                by_index[index] = _recognition(request, chunk)
        return [by_index[i] for i in range(len(items))]

    def _prompt_tokens(self, context: str) -> tuple[int, ...]:
        """The prompt's tokens: once per group of a batch, which every language decoded in it shares."""
        prompt = self.build_prompt(context)
        return tuple(self._encode(" " + prompt)) if prompt else ()


class WhisperBackend:
    """Whisper through CTranslate2: the bundled models, any CTranslate2 directory, any other hub id
    (the backend a model falls to when no other recognises it)."""

    name: ClassVar[str] = "whisper"
    config_type: ClassVar[type] = WhisperConfig
    holds_weights: ClassVar[bool] = True
    needs_config: ClassVar[bool] = False

    def __init__(self, config: WhisperConfig) -> None:
        self._config = config

    def recognises(self, model: str) -> bool:
        return True

    def load(self, model: str, cache_dir: Path) -> Engine:
        config = self._config
        return WhisperEngine(
            model,
            resolve_model_dir(model, cache_dir),
            cpu_threads=config.cpu_threads,
            workers=config.workers,
            timestamp_tokens=config.timestamp_tokens,
        )

    def status(self, model: str, cache_dir: Path, emotion_model: str | None = None) -> ModelStatus:
        """A bundled model's weights are verified (hashed once); any other is only found, not loaded."""
        bundled = BUNDLED.get(model)
        multilingual = bundled.multilingual if bundled else True
        codes = frozenset(_LANGUAGE_CODES) if multilingual else frozenset({"en"})
        on, off = capability_labels(whisper_capabilities(codes, multilingual, self._config.workers), emotion_model)
        status, detail, size = "ready", "", 0
        try:
            if bundled is not None:
                bundled_model_dir(model, cache_dir)
                size = sum(f.size_bytes for f in bundled.files)
            else:
                path = resolve_model_dir(model, cache_dir, allow_download=False)
                size = sum(f.stat().st_size for f in path.iterdir() if f.is_file())
        except ModelUnavailableError as exc:
            status, detail = "unavailable", exc.message
        except ModelNotFoundError as exc:  # a hub id is fetched on first use, where a hub is reachable
            status, detail = ("hub", "") if "/" in model else ("unavailable", exc.message)
        languages = bundled.languages if bundled else "from its tokenizer (Whisper)"
        return ModelStatus(model, status, size, languages, on, off, detail)


def _recognition(request: RecognitionRequest, chunk: DecodedChunk) -> Recognition:
    """A translation is English text whatever was spoken: its language is `en`, and the detection's
    probability (of the spoken language) is not reported, since it says nothing about the text."""
    if request.task == "translate":
        return Recognition(tuple(_segment(s, "en") for s in chunk.segments), "en", None)
    segments = tuple(_segment(s, chunk.language) for s in chunk.segments)
    language = request.language or service_language(chunk.language)
    return Recognition(segments, language, chunk.language_probability)


def _segment(segment: DecodedSegment, language: str) -> RecognizedSegment:
    """A decoded segment in the engine protocol's terms; a phrase of Chinese closed by its comma."""
    text, words = segment.text, tuple(_word(**w) for w in segment.words)
    if language == "zh" and _HAN.fullmatch(text.rstrip()[-1:]):
        text = _close_phrase(text)
        if words:
            words = (*words[:-1], replace(words[-1], text=_close_phrase(words[-1].text)))
    return RecognizedSegment(segment.start_s, segment.end_s, text, words, segment.decoder)


_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
_PHRASE_END = "，"


def _close_phrase(text: str) -> str:
    """Unprompted, Whisper writes Chinese as subtitles are written: each timestamped segment one phrase,
    with no mark at its end ("身體很厲害" | "然後他們有一個人就很突然"). Written Chinese has a comma there
    (the finishing stage makes the last one of a sentence a full stop); without it the phrases run on."""
    return text.rstrip() + _PHRASE_END


def _word(start: float, end: float, word: str, probability: float) -> RecognizedWord:
    return RecognizedWord(float(start), float(end), word, float(probability))
