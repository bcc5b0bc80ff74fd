"""Batched Whisper decoding on CTranslate2: many chunks, one encoder pass and one beam search per round.

This is `WhisperModel.transcribe`'s window loop (same features, prompt, suppressed tokens, timestamp
grammar, seeking and word aligner) run over many chunks at once, as `BatchedInferencePipeline` batches.
A chunk is at most 30 s, so its first window usually consumes it; one whose first window ends on an open
segment (Whisper stopped a second or two before the end) is continued from there in a second round
where the VAD heard speech after its last word, batched with every other unfinished chunk — decoding
that rest without timestamps instead would be cheaper but drops the last utterance ("Go forward ten
meters." after a long sentence).

The language is either given or detected per chunk from its first window's encoder output, the one
recognition uses anyway (`WhisperModel.transcribe` encodes the audio a second time to detect it); a
batch may mix languages, each row with its own language token and prompt.

Decoding is deterministic: the same chunk gives the same text whatever it is batched with, so a resumed
task matches an uninterrupted one. Temperature fallback is not used (it samples with CTranslate2's
per-thread generator, which cannot be reseeded per call); a repetition loop (compressible text whose end
repeats a few tokens, or a window stuck on a few tokens at its end) is decoded again with a repetition
penalty and no repeated 3-grams instead (still beam search), and the less repetitive decoding is kept.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import ctranslate2
import numpy as np
from faster_whisper import WhisperModel
from faster_whisper.audio import pad_or_trim
from faster_whisper.tokenizer import Tokenizer
from faster_whisper.transcribe import get_compression_ratio, get_suppressed_tokens

from openasr.core.types import DecoderStats
from openasr.engines.whisper_no_speech import no_speech_rule

log = logging.getLogger(__name__)


_MAX_COMPRESSION_RATIO = 2.4
"""Whisper's own threshold for a repetition loop ("华遥——华遥——…")."""
_LOOP_TAIL_TOKENS = 30
"""A loop also repeats a few tokens at its end; a compressible but genuine text ("It was the best of
times. It was the worst of times. …", ratio 2.41) uses at least a third distinct tokens there."""
_STUCK_TAIL_DISTINCT = 5
"""A window whose last 30 tokens use at most this many distinct ones is stuck ("…股质书中正患者,一见别人
喇叭的咬扎打扰此三前四十四克死赦赦赦赦赦…") even when the text before keeps the whole window's
compression ratio under 2.4: a tongue twister's text still uses a dozen distinct tokens there."""
_LOOP_PENALTY = 1.3
_LOOP_NO_REPEAT_NGRAM = 3
"""The retry also forbids any token 3-gram twice, which a repetition penalty alone does not stop
(Chinese characters are often two byte-level tokens, so a penalised loop still finds the next one)."""

_DRAFT_PAD_FRAMES = 500
"""A draft's encoder window: its audio and at least 5 s of padding, in steps of 5 s (10, 15, … s), not
Whisper's 30 s (what whisper.cpp's `audio_ctx` does for live transcription). The encoder's cost falls
faster than the window (15 s: 0.21 s against 0.89 s for 30 s on one core, whisper-base int8). The
padding is what tells Whisper where the audio ends: a window that the audio fills to its end is decoded
on past it, into invented text. The steps keep the encoder's buffers to a few sizes: with a window fitted
to each caption's length, two workers decoding captions of 0.7–10 s grew from 362 to 664 MB between
their 10th and 90th second; in steps, from 292 to 324 MB between the 10th and 70th, flat at the end."""

_MAX_INITIAL_TIMESTAMP_S = 1.0
_PREPEND_PUNCTUATIONS = "\"'“¿([{-"
_APPEND_PUNCTUATIONS = "\"'.。,，!！?？:：”)]}、"


@dataclass
class DecodedSegment:
    """Times in seconds from the chunk start; `words` as faster-whisper's aligner returns them; `decoder`
    the segment's tokens with its window's numbers, as `WhisperModel.transcribe` reports them."""

    start_s: float
    end_s: float
    text: str
    words: list[dict[str, Any]] = field(default_factory=list)
    decoder: DecoderStats | None = None


@dataclass(frozen=True)
class DecodedChunk:
    segments: list[DecodedSegment]
    language: str
    """Whisper's code of the language the chunk was decoded in."""
    language_probability: float | None
    """The detection's probability; None where the language was given."""


@dataclass(frozen=True)
class DecodeSettings:
    language: str | None
    """Whisper's code; None detects it per chunk (English-only models: always English)."""
    prompt_tokens: tuple[int, ...]
    """The previous-text prompt: the caller's context, the same in every language a chunk is decoded in."""
    words: bool
    beam_size: int
    task: str = "transcribe"
    """Whisper's task token: `transcribe`, or `translate` (English text from any language)."""
    timestamp_tokens: bool = True
    """False decodes each chunk as one window without timestamp tokens, as `BatchedInferencePipeline`
    does: faster, a little less accurate (README, performance)."""
    draft: bool = False
    """A live caption's decode (`RecognitionRequest.draft`): a window of its audio and padding
    (`_DRAFT_PAD_FRAMES`), decoded once, its open ending kept as it is, no words aligned. Never for a final."""


@dataclass
class _Window:
    """One beam search's result; `temperature` is always 0.0 (see the module docstring)."""

    tokens: list[int]
    avg_logprob: float
    no_speech_prob: float
    compression_ratio: float

    def stats(self, piece: dict[str, Any]) -> DecoderStats:
        """A segment of this window: its own tokens with the window's numbers."""
        return DecoderStats(tuple(piece["tokens"]), 0.0, self.avg_logprob, self.compression_ratio, self.no_speech_prob)


@dataclass
class _Chunk:
    """One chunk's progress through its windows, in mel frames; `speech` in seconds from its start."""

    features: np.ndarray
    speech: Sequence[tuple[float, float]]
    tokenizer: Tokenizer | None = None
    """Set by the language: given, or detected on the first window."""
    language_probability: float | None = None
    seek: int = 0
    last_speech_s: float = 0.0
    segments: list[DecodedSegment] = field(default_factory=list)

    @property
    def frames(self) -> int:
        return int(self.features.shape[-1])


def decode_chunks(
    model: WhisperModel,
    chunks: Sequence[np.ndarray],
    settings: DecodeSettings,
    speech: Sequence[Sequence[tuple[float, float]]] | None = None,
) -> list[DecodedChunk]:
    """Decode chunks that share a context and a word-timing need; one result each.

    `speech` holds, per chunk, where the VAD heard speech (seconds from the chunk start); without it no
    window is decoded again for speech its text skipped."""
    tokenizers = _Tokenizers(model, settings.task)
    states = [
        _Chunk(model.feature_extractor(chunk)[..., :-1], speech[i] if speech else ()) for i, chunk in enumerate(chunks)
    ]
    if settings.language is not None or not model.model.is_multilingual:
        for state in states:
            state.tokenizer = tokenizers.get(settings.language or "en")
            state.language_probability = None if settings.language else 1.0
    full = model.feature_extractor.nb_max_frames
    longest = full - _DRAFT_PAD_FRAMES if settings.draft else full
    while active := [s for s in states if s.seek < s.frames]:
        spans = [min(longest, s.frames - s.seek) for s in active]
        size = full
        if settings.draft:  # the audio and the padding, rounded up to the next step
            size = min(full, -(-(max(spans) + _DRAFT_PAD_FRAMES) // _DRAFT_PAD_FRAMES) * _DRAFT_PAD_FRAMES)
        encoder_output = _encode(
            model,
            [pad_or_trim(s.features[:, s.seek : s.seek + n], size) for s, n in zip(active, spans, strict=True)],
        )
        _detect_languages(model, tokenizers, active, encoder_output)
        windows = _generate(model, active, encoder_output, settings)
        loops = [i for i, (s, w) in enumerate(zip(active, windows, strict=True)) if _is_loop(w, _tokenizer(s))]
        if loops:
            retried = _generate(model, [active[i] for i in loops], _rows(encoder_output, loops), settings, retry=True)
            for i, window in zip(loops, retried, strict=True):
                if window.compression_ratio < windows[i].compression_ratio:
                    windows[i] = window
        for index, (state, window, span) in enumerate(zip(active, windows, spans, strict=True)):
            _advance(model, settings, state, window, span, encoder_output, index)
    return [DecodedChunk(s.segments, _tokenizer(s).language_code, s.language_probability) for s in states]


class _Tokenizers:
    """One faster-whisper `Tokenizer` per language code: it carries the language's start-of-transcript
    sequence (with the task's token) and how the aligner splits its words."""

    def __init__(self, model: WhisperModel, task: str) -> None:
        self._model = model
        self._task = task
        self._by_code: dict[str, Tokenizer] = {}

    def get(self, code: str) -> Tokenizer:
        if code not in self._by_code:
            multilingual = self._model.model.is_multilingual
            self._by_code[code] = Tokenizer(self._model.hf_tokenizer, multilingual, task=self._task, language=code)
        return self._by_code[code]


def _detect_languages(
    model: WhisperModel, tokenizers: _Tokenizers, active: list[_Chunk], encoder_output: ctranslate2.StorageView
) -> None:
    """Each chunk without a language takes the most probable one of its first window, from the encoder
    output already computed for decoding it."""
    undecided = [i for i, s in enumerate(active) if s.tokenizer is None]
    if not undecided:
        return
    for i, ranked in zip(undecided, model.model.detect_language(_rows(encoder_output, undecided)), strict=True):
        token, probability = ranked[0]
        active[i].tokenizer = tokenizers.get(token[2:-2])  # "<|de|>" -> "de"
        active[i].language_probability = float(probability)


def _tokenizer(state: _Chunk) -> Tokenizer:
    assert state.tokenizer is not None, "the language is set before the first window is decoded"
    return state.tokenizer


def _encode(model: WhisperModel, windows: list[np.ndarray]) -> ctranslate2.StorageView:
    """One window at a time through the encoder, the batch together through the decoder.

    The encoder's matrices are already large for one 30 s window (1500 frames), so batching it gains
    nothing on a CPU, while its attention scores cost 72 MB per window (whisper-base): encoding a batch
    of four at once on each of two workers would add ~0.5 GB of peak memory. The decoder, a few rows per
    step, is where batching pays."""
    if len(windows) == 1 or model.model.device != "cpu":
        return model.encode(np.stack(windows))
    outputs = [np.asarray(model.encode(window[None])) for window in windows]
    return ctranslate2.StorageView.from_array(np.concatenate(outputs))


def _generate(
    model: WhisperModel,
    states: list[_Chunk],
    encoder_output: ctranslate2.StorageView,
    settings: DecodeSettings,
    retry: bool = False,
) -> list[_Window]:
    """One beam search over every row, each starting with its own language's prompt.

    CTranslate2 needs the start-of-transcript token at the same position in every row: the prompts share
    the caller's context and differ only in their one language token."""
    prompts = [
        model.get_prompt(_tokenizer(s), list(settings.prompt_tokens), without_timestamps=not settings.timestamp_tokens)
        for s in states
    ]
    tokenizer = _tokenizer(states[0])  # suppressed tokens and decoding to text do not depend on the language
    results = model.model.generate(
        encoder_output,
        prompts,
        beam_size=settings.beam_size,
        patience=1,
        length_penalty=1,
        repetition_penalty=_LOOP_PENALTY if retry else 1.0,
        no_repeat_ngram_size=_LOOP_NO_REPEAT_NGRAM if retry else 0,
        max_length=model.max_length,
        return_scores=True,
        return_no_speech_prob=True,
        suppress_blank=True,
        suppress_tokens=get_suppressed_tokens(tokenizer, [-1]),
        max_initial_timestamp_index=round(_MAX_INITIAL_TIMESTAMP_S / model.time_precision),
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
    if len(tail) == _LOOP_TAIL_TOKENS and len(set(tail)) <= _STUCK_TAIL_DISTINCT:
        return True
    return window.compression_ratio > _MAX_COMPRESSION_RATIO and 3 * len(set(tail)) < len(tail)


def _advance(
    model: WhisperModel,
    settings: DecodeSettings,
    state: _Chunk,
    window: _Window,
    span: int,
    encoder_output: ctranslate2.StorageView,
    index: int,
) -> None:
    """Keep a window's finished segments and move the chunk's seek past what the window consumed.

    Every window's words are aligned, whether the caller wants them or not: they say how far the text
    really reaches. Whisper sometimes ends a window early, a few words followed by one timestamp at the
    window's end ("10 of clothes.<|7.00|>" over a 5 s sentence it never wrote). Where the VAD heard
    `_MIN_SKIPPED_SPEECH_S` of speech after the last word, the next window starts at that word's end,
    so a skipped utterance is decoded again; where it heard none, there is no next window
    (`_resume_seek`)."""
    tokenizer = _tokenizer(state)
    start = state.seek
    offset_s = start / model.frames_per_second
    window_end_s = (start + span) / model.frames_per_second
    if _is_no_speech(state, window, tokenizer, offset_s, window_end_s):
        state.seek += span
        return
    pieces, single_ending, consumed = _split_by_timestamps(model, tokenizer, window.tokens, span, settings.draft)
    seek = start + consumed
    segments: list[dict[str, Any]] = [
        {"seek": start, "start": offset_s + a, "end": offset_s + b, "tokens": tokens} for a, b, tokens in pieces
    ]
    if segments and not settings.draft:
        state.last_speech_s = model.add_word_timestamps(
            [segments],
            tokenizer,
            _rows(encoder_output, [index]),
            span,
            _PREPEND_PUNCTUATIONS,
            _APPEND_PUNCTUATIONS,
            state.last_speech_s,
        )
        seek = _resume_seek(model, state, segments, seek, single_ending, (offset_s, window_end_s))
    state.seek = seek if seek > start else start + span
    for s in segments:
        text = tokenizer.decode(s["tokens"])
        if s["start"] != s["end"] and text.strip():
            words = s.get("words", []) if settings.words else []
            state.segments.append(DecodedSegment(float(s["start"]), float(s["end"]), text, words, window.stats(s)))


def _is_no_speech(state: _Chunk, window: _Window, tokenizer: Tokenizer, offset_s: float, window_end_s: float) -> bool:
    """Whether a window is dropped as no speech, by the rule for the VAD speech it holds (logged)."""
    heard_s = _speech_between(state.speech, offset_s, window_end_s)
    rule = no_speech_rule(window.no_speech_prob, window.avg_logprob, heard_s)
    if rule is not None and log.isEnabledFor(logging.DEBUG):  # the detokenised text only for the log
        log.debug(
            "window %.2f-%.2f s dropped as no speech: no_speech_prob %.2f > %.2f, avg_logprob %.2f < %.2f, "
            "VAD speech in it %.2f s: %r",
            offset_s, window_end_s, window.no_speech_prob, rule[0], window.avg_logprob, rule[1],
            heard_s, tokenizer.decode(window.tokens),
        )  # fmt: skip
    return rule is not None


def _resume_seek(
    model: WhisperModel,
    state: _Chunk,
    segments: list[dict[str, Any]],
    seek: int,
    single_ending: bool,
    window_s: tuple[float, float],
) -> int:
    """Where the next window starts: at the last aligned word's end where the VAD heard
    `_MIN_SKIPPED_SPEECH_S` of speech after it, whether the window ended on an open segment or early on a
    single timestamp; else at the window's end (the chunk is done). Where the VAD's speech is not known,
    a window that ended on an open segment goes on from its last word, as `WhisperModel.transcribe` does.

    Checking the open ending too matters most without timestamp tokens, where every window ends on one:
    each chunk would otherwise cost a second 30 s window over its own trailing silence."""
    offset_s, window_end_s = window_s
    word_ends = [w["end"] for s in segments for w in s.get("words", [])]
    if not word_ends or word_ends[-1] <= offset_s:
        return seek
    last_word_s = word_ends[-1]
    skipped_s = _speech_between(state.speech, last_word_s + _WORD_END_SLACK_S, window_end_s)
    if skipped_s < _MIN_SKIPPED_SPEECH_S and (single_ending or state.speech):
        return round(window_end_s * model.frames_per_second)
    if single_ending:
        log.debug(
            "window %.2f-%.2f s ends at %.2f s with %.2f s of VAD speech left: decoding it again",
            offset_s, window_end_s, last_word_s, skipped_s,
        )  # fmt: skip
    return round(last_word_s * model.frames_per_second)


_MIN_SKIPPED_SPEECH_S = 0.5
"""VAD speech after a window's last word that is decoded again: a short word's worth. Less would retry
on the padding and breath the VAD counts as speech around every utterance."""
_WORD_END_SLACK_S = 0.3
"""Speech this close after the last word's end is that word's own tail (the aligner ends words early)."""


def _speech_between(speech: Sequence[tuple[float, float]], start_s: float, end_s: float) -> float:
    """Seconds of VAD speech inside [start_s, end_s]."""
    return sum(max(0.0, min(b, end_s) - max(a, start_s)) for a, b in speech)


def _split_by_timestamps(
    model: WhisperModel, tokenizer: Tokenizer, tokens: list[int], span: int, keep_open: bool = False
) -> tuple[list[tuple[float, float, list[int]]], bool, int]:
    """Whisper's timestamp grammar: the tokens between consecutive timestamps are one segment.

    Returns (start, end, tokens) per finished segment, window-relative; whether a single timestamp ends
    the window; and the frames consumed: all of them, or up to the end of the last finished segment when
    the window ends on an open one (decoded again, from there, in the next round). `keep_open` keeps an
    open ending as a last segment up to the window's end instead, and consumes the whole window."""
    begin = tokenizer.timestamp_begin
    precision = model.time_precision
    single_ending = len(tokens) >= 2 and tokens[-2] < begin <= tokens[-1]
    cuts = [i for i in range(1, len(tokens)) if tokens[i] >= begin and tokens[i - 1] >= begin]
    if not cuts:
        stamps = [t for t in tokens if t >= begin]
        end_s = span / model.frames_per_second
        if stamps and stamps[-1] != begin:
            end_s = (stamps[-1] - begin) * precision
        return [(0.0, end_s, tokens)], single_ending, span
    if single_ending:
        cuts.append(len(tokens))
    pieces = []
    for first, last in zip([0, *cuts[:-1]], cuts, strict=True):
        piece = tokens[first:last]
        pieces.append(((piece[0] - begin) * precision, (piece[-1] - begin) * precision, piece))
    consumed = span if single_ending else (tokens[cuts[-1] - 1] - begin) * model.input_stride
    tail = tokens[cuts[-1] :]
    if keep_open and not single_ending and any(t < begin for t in tail):
        pieces.append(((tail[0] - begin) * precision, span / model.frames_per_second, tail))
        consumed = span
    return pieces, single_ending, consumed


def _rows(encoder_output: ctranslate2.StorageView, rows: list[int]) -> ctranslate2.StorageView:
    """Some chunks' encoder output. A loop's retry and word alignment run on a chunk's own rows, so one
    chunk's words never depend on its batch neighbours (faster-whisper chains the last speech time
    across a batch)."""
    if rows == list(range(encoder_output.shape[0])):
        return encoder_output
    return ctranslate2.StorageView.from_array(np.ascontiguousarray(np.asarray(encoder_output)[rows]))
