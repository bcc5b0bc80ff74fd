"""From VAD frame probabilities to recognition chunks, streaming, with times in the original audio.

Three small stages: `SpanSegmenter` turns probabilities into speech spans (Silero's own hysteresis rules,
run frame by frame so nothing but the current span is kept); `ChunkPacker` groups spans into chunks no
longer than the engine's window, cutting at long pauses; `speech_chunks` keeps the rolling audio buffer
and yields each chunk's samples, reaching a little into the silence around its spans (`_Margins`). A
chunk is a contiguous stretch of the original audio, so mapping a time back is `chunk.start_s + t`: the
engine never needs to know the VAD cut the audio. `fit_words_to_speech`
then uses the VAD's unpadded speech stretches to correct the engine's word times at pauses.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace

import numpy as np

from openasr.core.types import SAMPLE_RATE_HZ, Audio, SpeechSpan, Word
from openasr.vad.silero import FRAME_SAMPLES, SileroVad

_FRAME_S = FRAME_SAMPLES / SAMPLE_RATE_HZ


@dataclass(frozen=True)
class VadOptions:
    """Defaults tuned for recognition, not for the tightest speech boundaries.

    `min_speech_duration_ms` 250 drops clicks and noise bursts (noise rejection); `min_silence_duration_ms`
    300 ends a span at a breath; chunks stop at `max_chunk_s` (the engine window minus a margin) or at a
    pause of `max_gap_s`, which is also where sentences break.

    `speech_pad_ms` 400 is faster-whisper's own padding, and each chunk's audio reaches `chunk_margin_s`
    further into the non-speech around it (never into the chunk before it, never past half the pause to
    the speech after it): a recording that fits one window is decoded nearly whole, as the engine decodes
    it by itself. Whisper reads speech differently with less lead-in and tail. With 200 ms and no margin
    the fixtures' Mandarin lost characters the engine gets from the whole file (语音 → 运营, 进口 → 见口),
    Japanese its first word and Beckett his ("Ever tried" → "Never tried"). The wider pad also closes
    pauses of up to 2.4 s, keeping "只能怪我自己" in the context of the sentence before it.
    """

    threshold: float = 0.5
    min_speech_duration_ms: int = 250
    min_silence_duration_ms: int = 300
    speech_pad_ms: int = 400
    max_chunk_s: float = 28.0
    max_gap_s: float = 2.0
    chunk_margin_s: float = 0.9
    """At most half of `max_gap_s` (a chunk released by a pause has this much audio after it already), and
    `max_chunk_s` + twice this fits Whisper's 30 s window."""

    @property
    def neg_threshold(self) -> float:
        return max(self.threshold - 0.15, 0.01)


@dataclass(frozen=True)
class PaddedSpan(SpeechSpan):
    """A padded span that remembers where the VAD heard speech begin and end, before padding."""

    speech_start_s: float
    speech_end_s: float

    @property
    def speech(self) -> SpeechSpan:
        return SpeechSpan(self.speech_start_s, self.speech_end_s)


class SpanSegmenter:
    """Frame probabilities in, finished speech spans (seconds, padded) out."""

    def __init__(self, options: VadOptions, start_s: float = 0.0) -> None:
        self._o = options
        self._origin_s = start_s  # frame i covers origin + i * 32 ms: exact for any start, on or off the grid
        self._frame = 0
        self._start: int | None = None  # frame where the current span began
        self._temp_end = 0  # frame where silence began inside the current span
        self._prev_end = 0  # last silence long enough to cut at if the span gets too long
        self._next_start = 0
        self._last_end_s = start_s
        self._max_frames = int((options.max_chunk_s - 2 * options.speech_pad_ms / 1000) / _FRAME_S)
        self._min_silence = options.min_silence_duration_ms / 1000 / _FRAME_S
        self._min_speech = options.min_speech_duration_ms / 1000 / _FRAME_S
        self._cut_silence = 0.098 / _FRAME_S

    def push(self, probs: np.ndarray) -> list[SpeechSpan]:
        spans: list[SpeechSpan] = []
        o = self._o
        for p in probs.tolist():
            i = self._frame
            self._frame += 1
            if p >= o.threshold and self._temp_end:
                self._temp_end = 0
                if self._next_start < self._prev_end:
                    self._next_start = i
            if self._start is None:
                if p >= o.threshold:
                    self._start = i
                continue
            if i - self._start >= self._max_frames:  # padded, the span would outgrow max_chunk_s
                if self._prev_end:
                    spans += self._close(self._start, self._prev_end)
                    self._start = self._next_start if self._next_start >= self._prev_end else None
                else:  # no pause to cut at: cut here, or where a silence too short to end speech began
                    spans += self._close(self._start, self._temp_end or i)
                    self._start = None
                self._prev_end = self._next_start = self._temp_end = 0
                continue
            if p < o.neg_threshold:
                if not self._temp_end:
                    self._temp_end = i
                if i - self._temp_end > self._cut_silence:
                    self._prev_end = self._temp_end
                if i - self._temp_end >= self._min_silence:
                    spans += self._close(self._start, self._temp_end)
                    self._start = None
                    self._prev_end = self._next_start = self._temp_end = 0
        return spans

    def finish(self) -> list[SpeechSpan]:
        if self._start is None:
            return []
        end = self._temp_end or self._frame
        spans = self._close(self._start, end, final=True)
        self._start = None
        return spans

    @property
    def pending_start_s(self) -> float | None:
        """Start of a span still open (its audio must stay buffered), padded."""
        if self._start is None:
            return None
        return max(self._last_end_s, self._time(self._start) - self._o.speech_pad_ms / 1000)

    @property
    def position_s(self) -> float:
        return self._time(self._frame)

    def _time(self, frame: int) -> float:
        return self._origin_s + frame * _FRAME_S

    def _close(self, start: int, end: int, final: bool = False) -> list[SpeechSpan]:
        if end - start < self._min_speech:
            return []
        pad_s = self._o.speech_pad_ms / 1000
        speech_start_s, speech_end_s = self._time(start), self._time(end)
        start_s = max(self._last_end_s, speech_start_s - pad_s)
        end_s = min(self.position_s if final else speech_end_s + pad_s, speech_end_s + pad_s)
        self._last_end_s = end_s
        return [PaddedSpan(start_s, end_s, max(start_s, speech_start_s), min(end_s, speech_end_s))]


class ChunkPacker:
    """Groups consecutive spans into chunks no longer than `max_chunk_s`, cut at pauses of `max_gap_s`."""

    def __init__(self, options: VadOptions) -> None:
        self._o = options
        self._spans: list[SpeechSpan] = []

    def push(self, span: SpeechSpan) -> list[tuple[SpeechSpan, ...]]:
        out = []
        if self._spans and (
            span.end_s - self._spans[0].start_s > self._o.max_chunk_s
            or span.start_s - self._spans[-1].end_s > self._o.max_gap_s
        ):
            out.append(self._flush())
        self._spans.append(span)
        return out

    def advance(self, now_s: float) -> list[tuple[SpeechSpan, ...]]:
        """Release the open chunk once a long enough pause has followed it (lets streaming move on)."""
        if self._spans and now_s - self._spans[-1].end_s > self._o.max_gap_s:
            return [self._flush()]
        return []

    def finish(self) -> list[tuple[SpeechSpan, ...]]:
        return [self._flush()] if self._spans else []

    @property
    def pending_start_s(self) -> float | None:
        return self._spans[0].start_s if self._spans else None

    def _flush(self) -> tuple[SpeechSpan, ...]:
        spans, self._spans = tuple(self._spans), []
        return spans


@dataclass(frozen=True)
class SpeechChunk:
    """One recognition chunk: contiguous samples of the original audio and the speech spans inside."""

    audio: Audio
    spans: tuple[SpeechSpan, ...]

    @property
    def start_s(self) -> float:
        return self.audio.start_s

    @property
    def end_s(self) -> float:
        return self.audio.start_s + self.audio.duration_s

    @property
    def speech(self) -> tuple[SpeechSpan, ...]:
        """Where the VAD heard speech inside the chunk, without the padding."""
        return tuple(s.speech if isinstance(s, PaddedSpan) else s for s in self.spans)


class _Buffer:
    """The audio not yet handed out; trimmed as soon as no open span or chunk can still need it."""

    def __init__(self, start_s: float) -> None:
        self._start = round(start_s * SAMPLE_RATE_HZ)
        self._parts: list[np.ndarray] = []
        self._data = np.zeros(0, dtype=np.float32)

    def append(self, samples: np.ndarray) -> None:
        self._parts.append(samples)

    def slice(self, start_s: float, end_s: float) -> Audio:
        self._join()
        a = max(self._start, round(start_s * SAMPLE_RATE_HZ))
        b = max(a, round(end_s * SAMPLE_RATE_HZ))
        return Audio(self._data[a - self._start : b - self._start].copy(), start_s=a / SAMPLE_RATE_HZ)

    def trim(self, keep_from_s: float) -> None:
        self._join()
        cut = round(keep_from_s * SAMPLE_RATE_HZ) - self._start
        if cut > 0:
            self._data = self._data[cut:].copy()
            self._start += cut

    def _join(self) -> None:
        if self._parts:
            self._data = np.concatenate([self._data, *self._parts])
            self._parts = []


def speech_chunks(blocks: Iterable[Audio], vad: SileroVad, options: VadOptions | None = None) -> Iterator[SpeechChunk]:
    """Yield recognition chunks as soon as each is complete; silence-only input yields nothing."""
    o = options or VadOptions()
    stream = vad.stream()
    segmenter: SpanSegmenter | None = None
    packer = ChunkPacker(o)
    buffer: _Buffer | None = None
    margins = _Margins(o.chunk_margin_s)
    for block in blocks:
        if segmenter is None or buffer is None:
            segmenter, buffer = SpanSegmenter(o, block.start_s), _Buffer(block.start_s)
        buffer.append(block.samples)
        groups = []
        for span in segmenter.push(stream.feed(block.samples)):
            groups += [(spans, span.start_s) for spans in packer.push(span)]
        # Silence so far reaches only to a span still open in the segmenter: small blocks must not
        # release a chunk while its next sentence is being spoken (the block size never changes chunks).
        open_start_s = segmenter.pending_start_s
        groups += [
            (spans, math.inf)
            for spans in packer.advance(segmenter.position_s if open_start_s is None else open_start_s)
        ]
        yield from _emit(groups, buffer, margins)
        keep = min(
            s for s in (packer.pending_start_s, segmenter.pending_start_s, segmenter.position_s) if s is not None
        )
        buffer.trim(keep - o.speech_pad_ms / 1000 - o.chunk_margin_s)
    if segmenter is None or buffer is None:
        return
    groups = []
    for span in segmenter.push(stream.feed(np.zeros(0, dtype=np.float32), final=True)) + segmenter.finish():
        groups += [(spans, span.start_s) for spans in packer.push(span)]
    yield from _emit(groups + [(spans, math.inf) for spans in packer.finish()], buffer, margins)


class _Margins:
    """Where each chunk's audio begins and ends: its padded spans, widened by up to `margin_s` of the
    non-speech around them, never into the chunk before it and never past half the pause before the
    next speech. Every bound is known when the chunk is released, whatever the block size."""

    def __init__(self, margin_s: float) -> None:
        self._margin_s = margin_s
        self._previous_end_s = -math.inf

    def bounds(self, spans: tuple[SpeechSpan, ...], next_start_s: float) -> tuple[float, float]:
        start_s = max(spans[0].start_s - self._margin_s, self._previous_end_s)
        end_s = min(spans[-1].end_s + self._margin_s, (spans[-1].end_s + next_start_s) / 2)
        self._previous_end_s = end_s
        return start_s, end_s


def _emit(
    groups: list[tuple[tuple[SpeechSpan, ...], float]], buffer: _Buffer, margins: _Margins
) -> Iterator[SpeechChunk]:
    """Each released group of spans with the start of the speech after it (infinity where none is near)."""
    for spans, next_start_s in groups:
        yield SpeechChunk(buffer.slice(*margins.bounds(spans, next_start_s)), spans)


MAX_END_STRETCH_S = 1.0
"""How far the last word before a pause may be stretched to the VAD's end of speech."""


def fit_words_to_speech(
    words: Sequence[Word], speech: Sequence[SpeechSpan], *, max_end_stretch_s: float = MAX_END_STRETCH_S
) -> list[Word]:
    """Correct the engine's word times with the VAD's speech stretches (absolute times, in order).

    Whisper's cross-attention word times drift by a few hundred ms exactly where subtitles need them:
    the first word of a chunk starts at the chunk start, inside the VAD padding; a word before a pause
    is stretched across it, so two utterances 1.2 s apart merge into one sentence; and the last word
    before a pause ends early (goforward.raw: "meters" ends 0.4 s before the speech does). So each word
    is assigned to a speech stretch: the last one it overlaps (the alignment hands a pause to the word
    after it, so a word straddling a pause belongs to the later stretch), else the nearest, never an
    earlier one than the previous word's. Its edges are clamped into that stretch, and the last word of
    each stretch ends where the speech ends (at most `max_end_stretch_s` later than the engine said).
    Words keep their order and text; with no speech stretches they are returned unchanged.
    """
    if not speech or not words:
        return list(words)
    spans = [(round(s.start_s * 1000), round(s.end_s * 1000)) for s in speech]
    owners: list[int] = []
    for w in words:
        owner = _owner(w, spans)
        owners.append(max(owner, owners[-1]) if owners else owner)
    fitted = []
    stretch_ms = round(max_end_stretch_s * 1000)
    for i, (w, k) in enumerate(zip(words, owners, strict=True)):
        start_ms, end_ms = spans[k]
        begin = min(max(w.begin_ms, start_ms), end_ms)
        end = min(max(w.end_ms, begin), end_ms)
        last_of_span = i + 1 == len(words) or owners[i + 1] != k
        if last_of_span and end < end_ms:
            end = min(end_ms, end + stretch_ms)
        fitted.append(replace(w, begin_ms=begin, end_ms=end))
    return fitted


def _owner(word: Word, spans: list[tuple[int, int]]) -> int:
    overlapping = [k for k, (a, b) in enumerate(spans) if min(word.end_ms, b) > max(word.begin_ms, a)]
    if overlapping:
        return overlapping[-1]
    return min(range(len(spans)), key=lambda k: (max(spans[k][0] - word.end_ms, word.begin_ms - spans[k][1]), -k))
