"""One recognised chunk: its result, its sentences built from the engine's segments, and the rule that
settles a channel's language from its first chunks."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace

from openasr.core.options import TranscribeOptions
from openasr.core.types import Sentence, Word
from openasr.engines.base import RecognitionRequest, RecognizedSegment
from openasr.pipeline.stage import PendingStages, StageData
from openasr.postprocess.decoder_stats import attach_decoder_stats
from openasr.postprocess.finishing import finish_sentence
from openasr.postprocess.sentences import sentences_from_segments, sentences_from_words
from openasr.vad.timeline import SpeechChunk, fit_words_to_speech

UNSPACED_LANGUAGES = frozenset({"zh", "yue", "ja", "th", "lo", "my", "bo"})
"""Languages written without spaces between words or sentences."""


@dataclass(frozen=True)
class ChunkResult:
    """What one recognised chunk adds to a channel; `end_s` is where a resumed run may restart.

    `stage_data` holds each side stage's kept data for the chunk (JSON values, by stage name) once known;
    until then `pending` holds their work, and `resolved()` waits for it. A checkpoint stores the
    resolved chunk, `stage_data` included."""

    channel_id: int
    start_s: float
    end_s: float
    language: str
    language_probability: float | None
    sentences: tuple[Sentence, ...]
    stage_data: Mapping[str, StageData] = field(default_factory=dict)
    pending: PendingStages | None = field(default=None, compare=False, repr=False)

    @property
    def text(self) -> str:
        return join_texts([s.text for s in self.sentences], self.language)

    @property
    def ready(self) -> bool:
        """Whether every stage is done with this chunk (`resolved()` would not wait)."""
        return self.pending is None or self.pending.done()

    def resolved(self) -> ChunkResult:
        """This chunk with every stage's marks and kept data, waiting for the stages still at work."""
        if self.pending is None:
            return self
        sentences, kept = self.pending.resolve(self.sentences)
        return replace(self, sentences=sentences, stage_data={**self.stage_data, **kept}, pending=None)


def join_texts(parts: list[str], language: str) -> str:
    joiner = "" if language in UNSPACED_LANGUAGES else " "
    return joiner.join(p for p in (p.strip() for p in parts) if p)


LANGUAGE_SETTLED = 0.8
"""A chunk whose language detection is at least this sure decides the language of the chunks after it.
Whisper base gives 0.94–1.0 on the committed clips of 3 s and more and 0.80–0.96 on the 1 s cards clips,
but 0.58 for Dutch on a 0.8 s cut of English (tests/integration/test_language_identification.py)."""
LANGUAGE_VOTES = 3
"""Unsure chunks after which the language is settled by their summed probabilities: a recording Whisper
is never sure of (0.56 on the fixtures' Arabic) would otherwise decode one chunk at a time for good."""


def settled_language(results: Sequence[ChunkResult]) -> str | None:
    """The language later chunks of a channel are decoded in, from its chunks' results in order: the
    first detected with `LANGUAGE_SETTLED` confidence, or with no confidence at all (an engine that names
    the language without a probability, such as a remote server, is taken at its word); failing that,
    after `LANGUAGE_VOTES` chunks, the language with the largest summed probability; None while
    undecided."""
    votes: dict[str, float] = {}
    for result in results[:LANGUAGE_VOTES]:
        probability = result.language_probability
        if probability is None or probability >= LANGUAGE_SETTLED:  # None: given, or detected with no confidence
            return result.language
        votes[result.language] = votes.get(result.language, 0.0) + probability
    return max(votes, key=lambda code: votes[code]) if len(results) >= LANGUAGE_VOTES else None


def timed_words(options: TranscribeOptions) -> bool:
    """Whether the engine is asked for word times: for word timestamps, and for sentence timing."""
    return options.words or options.sentences


def chunk_request(options: TranscribeOptions, settled: str | None) -> RecognitionRequest:
    """A chunk's decoding settings. A translation's chunks are decoded in the language the caller gave or
    each detects its own: the settled language is that of the text (English), not of the speech."""
    language = settled if options.task == "transcribe" else options.language
    return RecognitionRequest(language, options.context, timed_words(options), options.task)


def chunk_sentences(
    chunk: SpeechChunk,
    segments: tuple[RecognizedSegment, ...],
    options: TranscribeOptions,
    language: str,
    first_id: int,
) -> tuple[Sentence, ...]:
    """The chunk's finished sentences in times of the original audio, numbered from `first_id`."""
    if timed_words(options) and any(s.words for s in segments):
        words = fit_words_to_speech([w for s in segments for w in _absolute_words(s, chunk)], chunk.speech)
        sentences = sentences_from_words(words, language, start_id=first_id)
    else:  # no timed words asked for, or none given (an engine without an aligner): segment times
        spans = [(_ms(chunk, s.start_s), _ms(chunk, s.end_s), s.text) for s in segments]
        sentences = sentences_from_segments(spans, language, start_id=first_id)
    measured = [(_ms(chunk, s.start_s), _ms(chunk, s.end_s), s.decoder) for s in segments if s.decoder is not None]
    sentences = attach_decoder_stats(sentences, measured)
    keep_words = options.words or options.diarize  # diarization cuts sentences where the speaker changes
    return tuple(finish_sentence(s, language, itn=options.itn, words=keep_words) for s in sentences)


def _ms(chunk: SpeechChunk, t_s: float) -> int:
    """Chunk-relative seconds -> milliseconds of the original audio, clamped inside the chunk."""
    return round((chunk.start_s + min(max(t_s, 0.0), chunk.audio.duration_s)) * 1000)


def _absolute_words(segment: RecognizedSegment, chunk: SpeechChunk) -> Iterator[Word]:
    for w in segment.words:
        yield Word(_ms(chunk, w.start_s), _ms(chunk, w.end_s), w.text, probability=w.probability)
