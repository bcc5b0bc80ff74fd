"""Batched Whisper decoding on CTranslate2: many chunks, one encoder pass and one beam search.

Chunks are at most 30 s, so each is exactly one Whisper window: no seeking, and no timestamp tokens
(as in faster-whisper's `BatchedInferencePipeline`) — times come from the word aligner, which runs on
each chunk's own encoder output. Features, prompt, suppressed tokens and aligner are faster-whisper's.

Decoding is deterministic: the same chunk gives the same text whatever it is batched with, so a resumed
task matches an uninterrupted one. Temperature fallback is not used (it samples with CTranslate2's
per-thread generator, which cannot be reseeded per call); a repetition loop (compressible text whose end
repeats a few tokens) is decoded again with a repetition penalty instead (still beam search).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import ctranslate2
import numpy as np
from faster_whisper import WhisperModel
from faster_whisper.audio import pad_or_trim
from faster_whisper.tokenizer import Tokenizer
from faster_whisper.transcribe import get_compression_ratio, get_suppressed_tokens

_NO_SPEECH_PROB = 0.5
_LOW_LOGPROB = -0.7
"""A window Whisper itself thinks is likely silence (no_speech_prob > 0.5) and decodes with low
confidence (avg_logprob < -0.7) is dropped: stricter than faster-whisper's (0.6, -1.0), which lets
trailing-silence hallucinations such as "试试" or "Thank you." through after VAD padding."""

_MAX_COMPRESSION_RATIO = 2.4
"""Whisper's own threshold for a repetition loop ("华遥——华遥——…")."""
_LOOP_TAIL_TOKENS = 30
"""A loop also repeats a few tokens at its end; a compressible but genuine text ("It was the best of
times. It was the worst of times. …", ratio 2.41) uses at least a third distinct tokens there."""
_LOOP_PENALTY = 1.3

_PREPEND_PUNCTUATIONS = "\"'“¿([{-"
_APPEND_PUNCTUATIONS = "\"'.。,，!！?？:：”)]}、"


@dataclass
class DecodedSegment:
    """Times in seconds from the chunk start; `words` as faster-whisper's aligner returns them."""

    start_s: float
    end_s: float
    text: str
    words: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class DecodeSettings:
    language: str
    prompt_tokens: tuple[int, ...]
    words: bool
    beam_size: int


@dataclass
class _Window:
    tokens: list[int]
    avg_logprob: float
    no_speech_prob: float
    compression_ratio: float


def decode_chunks(
    model: WhisperModel, chunks: Sequence[np.ndarray], settings: DecodeSettings
) -> list[list[DecodedSegment]]:
    """Decode chunks that share a language, a prompt and a word-timing need: one segment per chunk with
    speech (none for a window Whisper judges silent), spanning the chunk."""
    tokenizer = Tokenizer(
        model.hf_tokenizer, model.model.is_multilingual, task="transcribe", language=settings.language
    )
    features = [model.feature_extractor(chunk)[..., :-1] for chunk in chunks]
    encoder_output = model.encode(np.stack([pad_or_trim(f) for f in features]))
    windows = _generate(model, tokenizer, encoder_output, settings, 1.0)
    loops = [i for i, w in enumerate(windows) if _is_loop(w, tokenizer)]
    if loops:
        retried = _generate(model, tokenizer, _rows(encoder_output, loops), settings, _LOOP_PENALTY)
        for i, window in zip(loops, retried, strict=True):
            windows[i] = window
    decoded: list[list[DecodedSegment]] = []
    for index, (feature, window) in enumerate(zip(features, windows, strict=True)):
        text = tokenizer.decode(window.tokens)
        if (window.no_speech_prob > _NO_SPEECH_PROB and window.avg_logprob < _LOW_LOGPROB) or not text.strip():
            decoded.append([])
            continue
        frames = min(int(feature.shape[-1]), model.feature_extractor.nb_max_frames)
        segment = DecodedSegment(0.0, frames / model.frames_per_second, text)
        if settings.words:
            _add_words(model, tokenizer, _rows(encoder_output, [index]), segment, window.tokens, frames)
        decoded.append([segment])
    return decoded


def _generate(
    model: WhisperModel,
    tokenizer: Tokenizer,
    encoder_output: ctranslate2.StorageView,
    settings: DecodeSettings,
    repetition_penalty: float,
) -> list[_Window]:
    prompt = model.get_prompt(tokenizer, previous_tokens=list(settings.prompt_tokens), without_timestamps=True)
    results = model.model.generate(
        encoder_output,
        [prompt] * encoder_output.shape[0],
        beam_size=settings.beam_size,
        patience=1,
        length_penalty=1,
        repetition_penalty=repetition_penalty,
        max_length=model.max_length,
        return_scores=True,
        return_no_speech_prob=True,
        suppress_blank=True,
        suppress_tokens=get_suppressed_tokens(tokenizer, [-1]),
    )
    windows = []
    for result in results:
        tokens = result.sequences_ids[0]
        windows.append(
            _Window(
                tokens=tokens,
                avg_logprob=result.scores[0] * len(tokens) / (len(tokens) + 1),
                no_speech_prob=result.no_speech_prob,
                compression_ratio=get_compression_ratio(tokenizer.decode(tokens).strip()),
            )
        )
    return windows


def _is_loop(window: _Window, tokenizer: Tokenizer) -> bool:
    tail = [t for t in window.tokens if t < tokenizer.eot][-_LOOP_TAIL_TOKENS:]
    return window.compression_ratio > _MAX_COMPRESSION_RATIO and 3 * len(set(tail)) < len(tail)


def _add_words(
    model: WhisperModel,
    tokenizer: Tokenizer,
    encoder_output: ctranslate2.StorageView,
    segment: DecodedSegment,
    tokens: list[int],
    frames: int,
) -> None:
    window: list[dict[str, Any]] = [{"seek": 0, "start": segment.start_s, "end": segment.end_s, "tokens": tokens}]
    model.add_word_timestamps(
        [window], tokenizer, encoder_output, frames, _PREPEND_PUNCTUATIONS, _APPEND_PUNCTUATIONS, 0.0
    )
    segment.start_s, segment.end_s = float(window[0]["start"]), float(window[0]["end"])
    segment.words = window[0].get("words", [])


def _rows(encoder_output: ctranslate2.StorageView, rows: list[int]) -> ctranslate2.StorageView:
    """Some chunks' encoder output. A loop's retry and word alignment run on a chunk's own rows, so one
    chunk's words never depend on its batch neighbours (faster-whisper chains the last speech time
    across a batch)."""
    if rows == list(range(encoder_output.shape[0])):
        return encoder_output
    return ctranslate2.StorageView.from_array(np.ascontiguousarray(np.asarray(encoder_output)[rows]))
