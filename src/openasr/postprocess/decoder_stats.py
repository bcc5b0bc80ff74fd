"""Give each sentence the decoder's numbers of the text it holds.

A sentence is cut from words, which may cross the decoder's own segments, so its numbers come from the
segments it draws on (those it overlaps for at least half of the shorter of the two, or else the one
it overlaps most): `tokens` are all of their tokens, in order (a decoder segment holding two sentences
gives its tokens to both), and `temperature`, `avg_logprob`, `compression_ratio` and `no_speech_prob`
are those of the decoder window that wrote most of those tokens. They are always one window's measured
values, never an average made up here; a chunk of up to 30 s is usually decoded in one window, so its
sentences share that window's numbers, as Whisper's own segments of one window do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from openasr.core.types import DecoderStats, Sentence

DecodedSpan = tuple[int, int, DecoderStats]
"""A decoder segment: begin and end in milliseconds of the original audio, and its numbers."""


def attach_decoder_stats(sentences: Sequence[Sentence], spans: Sequence[DecodedSpan]) -> tuple[Sentence, ...]:
    """`sentences` with `decoder` set from `spans`; unchanged when there are none (an engine that
    measures nothing)."""
    if not spans:
        return tuple(sentences)
    return tuple(replace(s, decoder=sentence_stats(s.begin_ms, s.end_ms, spans)) for s in sentences)


def sentence_stats(begin_ms: int, end_ms: int, spans: Sequence[DecodedSpan]) -> DecoderStats:
    """The numbers of the stretch [begin_ms, end_ms] (the module docstring says how they are chosen)."""
    drawn = _drawn_on(begin_ms, end_ms, spans)
    tokens = tuple(t for _, _, stats in drawn for t in stats.tokens)
    by_window: dict[tuple[float, float, float, float], int] = {}
    for _, _, stats in drawn:
        key = (stats.temperature, stats.avg_logprob, stats.compression_ratio, stats.no_speech_prob)
        by_window[key] = by_window.get(key, 0) + len(stats.tokens)
    temperature, avg_logprob, compression_ratio, no_speech_prob = max(by_window, key=lambda k: by_window[k])
    return DecoderStats(tokens, temperature, avg_logprob, compression_ratio, no_speech_prob)


def _drawn_on(begin_ms: int, end_ms: int, spans: Sequence[DecodedSpan]) -> list[DecodedSpan]:
    def overlap(span: DecodedSpan) -> int:
        return min(end_ms, span[1]) - max(begin_ms, span[0])

    def central(span: DecodedSpan) -> bool:
        shorter = min(end_ms - begin_ms, span[1] - span[0])
        return overlap(span) > 0 and 2 * overlap(span) >= shorter

    drawn = [span for span in spans if central(span)]
    if drawn:
        return drawn
    middle_ms = (begin_ms + end_ms) / 2
    return [max(spans, key=lambda span: (overlap(span), -abs((span[0] + span[1]) / 2 - middle_ms)))]
