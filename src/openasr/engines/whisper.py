"""The default engine: Whisper through faster-whisper / CTranslate2.

Whisper's own language codes are mapped to the service's (spec §11): `tl` is reported as `fil`, `nn` as
`no`; Cantonese (`yue`) only exists in large-v3 tokenizers, so on other models it is transcribed as `zh`.
Context biasing goes in as Whisper's prompt, which holds at most `max_prompt_tokens` tokens; a longer
context keeps its beginning (glossaries put their key terms first) — see `build_prompt`.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from faster_whisper.transcribe import Segment

from openasr.core.errors import InvalidParameterError
from openasr.engines.base import (
    EngineCapabilities,
    LanguageGuess,
    RecognitionRequest,
    RecognizedSegment,
    RecognizedWord,
)

_TO_SERVICE = {"tl": "fil", "nn": "no", "jw": "jv"}
_TO_WHISPER = {v: k for k, v in _TO_SERVICE.items()} | {"no": "no"}
_NO_SPEECH_PROB = 0.5
_LOW_LOGPROB = -0.7
"""A segment Whisper itself thinks is likely silence (no_speech_prob > 0.5) and decodes with low
confidence (avg_logprob < -0.7) is dropped: stricter than faster-whisper's (0.6, -1.0), which lets
trailing-silence hallucinations such as "试试" or "Thank you." through after VAD padding."""

_MAX_COMPRESSION_RATIO = 2.4
"""Whisper's own threshold for a repetition loop ("华遥——华遥——…")."""
_LOOP_PENALTY = 1.3

_CHINESE_HINT = "以下是普通话的句子。"
"""Steers Whisper to Simplified characters and Chinese punctuation (it defaults to Traditional)."""


def service_language(whisper_code: str) -> str:
    return _TO_SERVICE.get(whisper_code, whisper_code)


class WhisperEngine:
    """One loaded CTranslate2 Whisper model; `concurrent_calls` requests may decode in parallel."""

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
        self._tokenizer_lock = threading.Lock()
        # faster-whisper lists every code it knows for any multilingual model, "yue" included, but only
        # large-v3 tokenizers have <|yue|>: forcing it on base decodes with no language token (garbage).
        tokenizer = self._model.hf_tokenizer
        whisper_langs = {c for c in self._model.supported_languages if tokenizer.token_to_id(f"<|{c}|>") is not None}
        multilingual = self._model.model.is_multilingual
        self.capabilities = EngineCapabilities(
            languages=frozenset(service_language(code) for code in whisper_langs)
            | ({"yue"} if multilingual else set()),
            language_id=multilingual,
            word_timestamps=True,
            context_biasing=True,
            emotion=False,
            max_chunk_s=30.0,
            max_prompt_tokens=self._model.max_length // 2 - 1,
            concurrent_calls=workers,
        )
        self._whisper_langs = whisper_langs

    def detect_language(self, samples: np.ndarray) -> LanguageGuess:
        if not self.capabilities.language_id:
            return LanguageGuess("en", 1.0)
        code, probability, _ = self._model.detect_language(samples[: (30 * 16000)])
        return LanguageGuess(service_language(code), float(probability))

    def whisper_language(self, language: str) -> str:
        code = _TO_WHISPER.get(language, language)
        if code == "yue" and code not in self._whisper_langs:
            code = "zh"
        if code not in self._whisper_langs:
            raise InvalidParameterError(f"model {self.name} cannot transcribe language {language!r}", param="language")
        return code

    def build_prompt(self, context: str, language: str) -> str:
        """Context first, then the Chinese hint; cut to the prompt window keeping the beginning."""
        text = context.strip()
        if self.whisper_language(language) == "zh":
            text = f"{text} {_CHINESE_HINT}".strip()
        if not text:
            return ""
        with self._tokenizer_lock:
            ids = self._model.hf_tokenizer.encode(" " + text, add_special_tokens=False).ids
            limit = self.capabilities.max_prompt_tokens
            if len(ids) <= limit:
                return text
            return str(self._model.hf_tokenizer.decode(ids[:limit])).strip()

    def recognize(
        self, chunks: Sequence[np.ndarray], request: RecognitionRequest
    ) -> list[tuple[RecognizedSegment, ...]]:
        language = self.whisper_language(request.language)
        prompt = self.build_prompt(request.prompt, request.language) or None
        return [self._recognize_one(chunk, language, prompt, request.words) for chunk in chunks]

    def _recognize_one(
        self, chunk: np.ndarray, language: str, prompt: str | None, words: bool
    ) -> tuple[RecognizedSegment, ...]:
        """Deterministic decoding: the same chunk always gives the same text, so a resumed task matches an
        uninterrupted one. Whisper's temperature fallback samples with CTranslate2's per-thread random
        generator, which cannot be reseeded per call; a repetition loop is retried with a repetition
        penalty instead (still beam search, still deterministic)."""
        segments = self._transcribe(chunk, language, prompt, words)
        if any(s.compression_ratio > _MAX_COMPRESSION_RATIO for s in segments):
            segments = self._transcribe(chunk, language, prompt, words, repetition_penalty=_LOOP_PENALTY)
        return tuple(
            RecognizedSegment(
                start_s=s.start,
                end_s=s.end,
                text=s.text,
                words=tuple(RecognizedWord(w.start, w.end, w.word, w.probability) for w in (s.words or ())),
            )
            for s in segments
            if s.text.strip() and not (s.no_speech_prob > _NO_SPEECH_PROB and s.avg_logprob < _LOW_LOGPROB)
        )

    def _transcribe(
        self, chunk: np.ndarray, language: str, prompt: str | None, words: bool, repetition_penalty: float = 1.0
    ) -> list[Segment]:
        segments, _ = self._model.transcribe(
            chunk,
            language=language,
            beam_size=self._beam_size,
            temperature=0.0,
            repetition_penalty=repetition_penalty,
            initial_prompt=prompt,
            word_timestamps=words,
            vad_filter=False,
            condition_on_previous_text=False,
        )
        return list(segments)
