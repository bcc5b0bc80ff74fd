"""The one serializer of a recognised chunk for the task store: its result and every stage's kept data.

A checkpoint must hold everything a resumed run needs, so that a task killed part-way ends with exactly
the result of an uninterrupted run: the chunk's span and language (the resumed channel skips it and
settles its language from it), its sentences with every field (words as compact rows, not the result
JSON of `postprocess.formats`, which drops what a resumed run needs), and the data each side stage kept
of it (`ChunkResult.stage_data`, JSON by the stage protocol's promise), which the stages finish the channel
from. `chunk_values` and `chunk_from_values` are each other's inverse; `jobs/store.py` writes the one and
`jobs/records.py` reads the other, and nothing else maps a chunk's fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from openasr.core.types import DecoderStats, Sentence, Word
from openasr.pipeline import ChunkResult


def chunk_values(chunk: ChunkResult) -> dict[str, Any]:
    """The checkpoint row of a chunk (every column but the task id and the chunk index), waiting for the
    chunk's stages first: a checkpoint never holds work in flight."""
    chunk = chunk.resolved()
    return {
        "channel_id": chunk.channel_id,
        "start_s": chunk.start_s,
        "end_s": chunk.end_s,
        "language": chunk.language,
        "language_probability": chunk.language_probability,
        "sentences": [_sentence_json(s) for s in chunk.sentences],
        "stage_data": dict(chunk.stage_data),
    }


def chunk_from_values(values: Mapping[str, Any]) -> ChunkResult:
    """The chunk a checkpoint row holds (a row written before stage data was kept has none)."""
    return ChunkResult(
        channel_id=int(values["channel_id"]),
        start_s=float(values["start_s"]),
        end_s=float(values["end_s"]),
        language=values["language"],
        language_probability=values["language_probability"],
        sentences=tuple(_sentence(s) for s in values["sentences"]),
        stage_data=dict(values.get("stage_data") or {}),
    )


def _sentence_json(s: Sentence) -> dict[str, Any]:
    return {
        "sentence_id": s.sentence_id,
        "begin_ms": s.begin_ms,
        "end_ms": s.end_ms,
        "text": s.text,
        "language": s.language,
        "emotion": s.emotion,
        "words": [[w.begin_ms, w.end_ms, w.text, w.punctuation, w.probability] for w in s.words],
        "decoder": None if s.decoder is None else [list(s.decoder.tokens), *_decoder_numbers(s.decoder)],
    }


def _decoder_numbers(d: DecoderStats) -> tuple[float, float, float, float]:
    return d.temperature, d.avg_logprob, d.compression_ratio, d.no_speech_prob


def _sentence(data: Mapping[str, Any]) -> Sentence:
    return Sentence(
        sentence_id=int(data["sentence_id"]),
        begin_ms=int(data["begin_ms"]),
        end_ms=int(data["end_ms"]),
        text=data["text"],
        language=data["language"],
        words=tuple(Word(int(b), int(e), t, p, prob) for b, e, t, p, prob in data.get("words", ())),
        emotion=data.get("emotion"),
        decoder=_decoder(data.get("decoder")),
    )


def _decoder(row: list[Any] | None) -> DecoderStats | None:
    """Checkpoints written before sentences carried decoder numbers have none."""
    if row is None:
        return None
    tokens, temperature, avg_logprob, compression_ratio, no_speech_prob = row
    return DecoderStats(tuple(int(t) for t in tokens), temperature, avg_logprob, compression_ratio, no_speech_prob)
