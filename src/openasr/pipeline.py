"""The only orchestrator: probe -> decode -> VAD -> chunks -> engine -> timeline -> postprocess -> emotion.

`open(path, options, engine, limits=…)` starts one recognition: it checks the engine, probes the file
once, applies the surface's limits and resolves the channels, all before any decoding. The
`Transcription` it returns streams each channel as one `ChunkResult` per recognised chunk as soon as it
is ready (SSE streaming, async checkpoints and progress bars all hang off it, and a stream resumes from
the chunks an interrupted run checkpointed), and assembles the `Transcript`; `run` does all of it at
once. Chunks go to the engine's batcher at most two batches ahead, so memory is bounded and duration
only costs time.

With an emotion classifier, each recognised chunk's sentences go to it as the chunk is yielded; the chunk
carries the pending result (`ChunkResult.resolved()` waits for it), so a streamed first delta never
waits for emotion.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from pathlib import Path

from openasr.audio.decode import check_channels, check_duration, decode_blocks, measured_info
from openasr.core.errors import AudioTooLargeError, InvalidParameterError
from openasr.core.options import TranscribeOptions, check_context_tokens
from openasr.core.types import AudioInfo, ChannelTranscript, EmotionEstimate, Sentence, Transcript, Word
from openasr.emotion.classifier import EmotionScores
from openasr.emotion.spans import EmotionSpan, emotion_spans, overall_emotion, span_clip
from openasr.engines.base import Recognition, RecognitionItem, RecognitionRequest, RecognizedSegment
from openasr.postprocess.decoder_stats import attach_decoder_stats
from openasr.postprocess.finishing import finish_sentence
from openasr.postprocess.sentences import sentences_from_segments, sentences_from_words
from openasr.runtime.batcher import EngineFront, Priority
from openasr.runtime.emotion_batcher import EmotionBatcher
from openasr.vad.silero import shared_vad
from openasr.vad.timeline import SpeechChunk, VadOptions, fit_words_to_speech, speech_chunks

UNSPACED_LANGUAGES = frozenset({"zh", "yue", "ja", "th", "lo", "my", "bo"})
"""Languages written without spaces between words or sentences."""

Progress = Callable[[float, float], None]
"""Called with (audio seconds done, total seconds) after each chunk."""


@dataclass(frozen=True)
class PendingEmotion:
    """A chunk's sentences grouped for the classifier, and the classifier's answer for each group."""

    spans: tuple[EmotionSpan, ...]
    future: Future[tuple[EmotionScores, ...]]


@dataclass(frozen=True)
class ChunkResult:
    """What one recognised chunk adds to a channel; `end_s` is where a resumed run may restart.

    `emotions` holds the chunk's emotion estimates once known; until then `pending_emotion` does."""

    channel_id: int
    start_s: float
    end_s: float
    language: str
    language_probability: float | None
    sentences: tuple[Sentence, ...]
    emotions: tuple[EmotionEstimate, ...] = ()
    pending_emotion: PendingEmotion | None = field(default=None, compare=False, repr=False)

    @property
    def text(self) -> str:
        return join_texts([s.text for s in self.sentences], self.language)

    @property
    def emotion_ready(self) -> bool:
        return self.pending_emotion is None or self.pending_emotion.future.done()

    def resolved(self) -> ChunkResult:
        """This chunk with each sentence's emotion, waiting for the classifier if it is still at work."""
        if self.pending_emotion is None:
            return self
        spans, scores = self.pending_emotion.spans, self.pending_emotion.future.result()
        label = {i: score.label for span, score in zip(spans, scores, strict=True) for i in span.sentence_ids}
        return replace(
            self,
            sentences=tuple(replace(s, emotion=label.get(s.sentence_id)) for s in self.sentences),
            emotions=tuple(
                EmotionEstimate(span.begin_ms, span.end_ms, score.label, score.probabilities)
                for span, score in zip(spans, scores, strict=True)
            ),
            pending_emotion=None,
        )


def join_texts(parts: list[str], language: str) -> str:
    joiner = "" if language in UNSPACED_LANGUAGES else " "
    return joiner.join(p for p in (p.strip() for p in parts) if p)


_MB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """What a surface accepts of one file (spec §11: sync 10 MB / 5 min, async 2 GB / 12 h): bytes on disk
    and seconds of audio. The CLI and the Python API have none."""

    max_bytes: int
    max_seconds: float


def check_engine(engine: EngineFront, options: TranscribeOptions) -> None:
    """Fail early, naming the parameter, when the engine cannot honour the options."""
    caps = engine.capabilities
    if options.language is not None and options.language not in caps.languages:
        raise InvalidParameterError(
            f"model {engine.name} does not support language {options.language!r}", param="language"
        )
    if options.task == "translate" and not caps.translation:
        reason = caps.why_not.get("translation", "it only transcribes")
        raise InvalidParameterError(f"model {engine.name} cannot translate: {reason}", param="model")
    if options.context and not caps.context_biasing:
        raise InvalidParameterError(f"model {engine.name} does not support context biasing", param="context")
    if options.context:
        check_context_tokens(options.context, engine.count_tokens)
    if options.words and not caps.word_timestamps:
        why = caps.why_not.get("word_timestamps")
        raise InvalidParameterError(
            f"model {engine.name} has no word timestamps" + (f": {why}" if why else ""), param="words"
        )


def open(
    path: Path,
    options: TranscribeOptions,
    engine: EngineFront,
    *,
    limits: Limits | None = None,
    priority: Priority = Priority.BULK,
    vad_options: VadOptions | None = None,
    emotion: EmotionBatcher | None = None,
) -> Transcription:
    """Start a recognition of the file at `path`: every check runs here, once, before any decoding.

    The options are valid already (a `TranscribeOptions` validates itself when made); this checks that
    the engine can honour them, probes the file once (a header without a length is counted by a bounded
    decode), applies `limits` (size, then duration) and resolves the channels. It raises an `AsrError`
    before any recognition starts, so a streaming surface can still answer with a plain error status.
    """
    check_engine(engine, options)
    max_seconds = limits.max_seconds if limits is not None else None
    info = measured_info(path, max_seconds)
    if limits is not None and info.size_bytes is not None and info.size_bytes > limits.max_bytes:
        raise AudioTooLargeError(
            f"audio is {info.size_bytes / _MB:.1f} MB; the limit is {limits.max_bytes // _MB} MB", param="audio"
        )
    check_duration(info.duration_s, max_seconds)
    check_channels(info, options.channels or ())
    channels: tuple[int | None, ...] = (None,) if options.channels is None else options.channels
    return Transcription(path, options, engine, info, channels, max_seconds, priority, vad_options, emotion)


@dataclass(frozen=True)
class Transcription:
    """One recognition of one file from start to end, made by `open`: the audio's probe, the channels to
    recognise (None stands for the mono mix, reported as channel 0), each channel's chunks as a stream
    that can resume, and the assembled `Transcript`. The CLI, the Python API, every sync surface, the
    streams and the task worker all hold one; none of them knows the order of the stages."""

    path: Path
    options: TranscribeOptions
    engine: EngineFront
    audio: AudioInfo
    channels: tuple[int | None, ...]
    max_seconds: float | None = None
    priority: Priority = Priority.BULK
    vad_options: VadOptions | None = None
    emotion: EmotionBatcher | None = None

    @property
    def total_s(self) -> float:
        """Audio seconds to recognise: the duration once per channel (what progress counts to)."""
        return self.audio.duration_s * len(self.channels)

    def run(self, progress: Progress | None = None) -> Transcript:
        """Recognise every channel completely, each into its own `ChannelTranscript`."""
        done_s = 0.0
        results: list[list[ChunkResult]] = []
        for channel in self.channels:
            results.append([])
            for result in self.stream(channel):
                results[-1].append(result)
                if progress is not None:
                    progress(min(self.total_s, done_s + result.end_s), self.total_s)
            done_s += self.audio.duration_s
        if progress is not None:
            progress(self.total_s, self.total_s)
        return self.assemble(results)

    def assemble(self, results: Sequence[Sequence[ChunkResult]]) -> Transcript:
        """The transcript from each channel's chunk results, in the order of `channels`."""
        transcripts = tuple(
            _assemble_channel(channel or 0, list(chunks), self.options, self.engine)
            for channel, chunks in zip(self.channels, results, strict=True)
        )
        return Transcript(transcripts, self.audio, self.options, self.engine.name)

    def stream(self, channel: int | None = None, *, earlier: Sequence[ChunkResult] = ()) -> Iterator[ChunkResult]:
        """Recognise one channel (None: the mono mix) chunk by chunk, in order.

        Chunks are submitted to the engine as soon as VAD cuts them, up to two batches ahead, so one long
        file fills whole batches; each result is yielded as soon as it and all before it are done, so the
        first one arrives after the first chunk.

        The language is forced by the options, or detected: each chunk's own language is detected from the
        encoder output that recognises it until the channel's language is settled (`settled_language`); later
        chunks are decoded in that language, so a long recording does not flip language on a short or noisy
        stretch, and a first chunk that is unsure ("OK.", a cough) does not decide for the whole channel.
        While unsettled, each chunk waits for the one before, so which chunks detect does not depend on
        timing: a resumed run decides the same way.

        `earlier` holds the chunks an interrupted run already recognised (its checkpoints) and continues it:
        decoding and VAD replay from the start and only the chunks ending after the last of them are
        recognised, so every chunk boundary is exactly that of an uninterrupted run (starting the VAD mid-way
        would reset its recurrent state and frame grid, move chunk starts and change the text). The replay
        costs decoding + VAD only, about 0.3 % of real time on one core.
        """
        if channel not in self.channels:
            raise ValueError(f"channel {channel} is not one this recognition resolved: {self.channels}")
        options, engine, priority, emotion = self.options, self.engine, self.priority, self.emotion
        resume_after_s = earlier[-1].end_s if earlier else None
        done = list(earlier)
        language = options.language or settled_language(done)
        next_id = sum(len(r.sentences) for r in earlier)
        pending: deque[tuple[SpeechChunk, Future[Recognition]]] = deque()

        def finish() -> ChunkResult:
            nonlocal next_id, language
            chunk, future = pending.popleft()
            recognition = future.result()
            sentences = _sentences(chunk, recognition.segments, options, recognition.language, next_id)
            next_id += len(sentences)
            result = ChunkResult(
                channel or 0,
                chunk.start_s,
                chunk.end_s,
                recognition.language,
                recognition.language_probability,
                sentences,
                pending_emotion=classify_emotion(chunk, sentences, emotion, priority) if emotion else None,
            )
            if language is None:  # once settled, later results cannot change it: nothing more to keep
                done.append(result)
                language = settled_language(done)
            return result

        blocks = decode_blocks(self.path, channel=channel, max_s=self.max_seconds, info=self.audio)
        chunks = speech_chunks(blocks, shared_vad(), self.vad_options)
        try:
            while True:
                try:
                    chunk = next(chunks, None)
                except Exception:  # a file broken part-way: what was heard before the break is still delivered
                    while pending:
                        yield finish()
                    raise
                if chunk is None:
                    break
                if resume_after_s is not None and chunk.end_s <= resume_after_s + _RESUME_TOLERANCE_S:
                    continue
                while language is None and pending:  # undecided: the chunk before may settle it
                    yield finish()
                request = _request(options, language)
                speech = tuple((s.start_s - chunk.start_s, s.end_s - chunk.start_s) for s in chunk.speech)
                item = RecognitionItem(chunk.audio.samples, request, speech)
                pending.append((chunk, engine.submit(item, priority)))
                while pending and (len(pending) > 2 * engine.max_batch or pending[0][1].done()):
                    yield finish()
            while pending:
                yield finish()
        finally:
            for _, future in pending:
                future.cancel()


def classify_emotion(
    chunk: SpeechChunk, sentences: tuple[Sentence, ...], emotion: EmotionBatcher, priority: Priority
) -> PendingEmotion | None:
    """Send each sentence's audio (short ones merged, `emotion_spans`) to the classifier; None when the
    chunk has no sentences."""
    spans = tuple(emotion_spans(sentences))
    if not spans:
        return None
    clips = tuple(span_clip(chunk.audio.samples, chunk.start_s, span) for span in spans)
    return PendingEmotion(spans, emotion.submit(clips, priority))


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


_RESUME_TOLERANCE_S = 1e-6
"""Chunk ends are recomputed identically on replay; the tolerance only absorbs storage round-off."""


def _timed_words(options: TranscribeOptions) -> bool:
    return options.words or options.sentences


def _request(options: TranscribeOptions, settled: str | None) -> RecognitionRequest:
    """A chunk's decoding settings. A translation's chunks are decoded in the language the caller gave or
    each detects its own: the settled language is that of the text (English), not of the speech."""
    language = settled if options.task == "transcribe" else options.language
    return RecognitionRequest(language, options.context, _timed_words(options), options.task)


def _sentences(
    chunk: SpeechChunk,
    segments: tuple[RecognizedSegment, ...],
    options: TranscribeOptions,
    language: str,
    first_id: int,
) -> tuple[Sentence, ...]:
    if _timed_words(options) and any(s.words for s in segments):
        words = fit_words_to_speech([w for s in segments for w in _absolute_words(s, chunk)], chunk.speech)
        sentences = sentences_from_words(words, language, start_id=first_id)
    else:  # no timed words asked for, or none given (an engine without an aligner): segment times
        spans = [(_ms(chunk, s.start_s), _ms(chunk, s.end_s), s.text) for s in segments]
        sentences = sentences_from_segments(spans, language, start_id=first_id)
    measured = [(_ms(chunk, s.start_s), _ms(chunk, s.end_s), s.decoder) for s in segments if s.decoder is not None]
    sentences = attach_decoder_stats(sentences, measured)
    return tuple(finish_sentence(s, language, itn=options.itn, words=options.words) for s in sentences)


def _ms(chunk: SpeechChunk, t_s: float) -> int:
    """Chunk-relative seconds -> milliseconds of the original audio, clamped inside the chunk."""
    return round((chunk.start_s + min(max(t_s, 0.0), chunk.audio.duration_s)) * 1000)


def _absolute_words(segment: RecognizedSegment, chunk: SpeechChunk) -> Iterator[Word]:
    for w in segment.words:
        yield Word(_ms(chunk, w.start_s), _ms(chunk, w.end_s), w.text, probability=w.probability)


def run(
    path: Path,
    options: TranscribeOptions,
    engine: EngineFront,
    *,
    priority: Priority = Priority.BULK,
    progress: Progress | None = None,
    vad_options: VadOptions | None = None,
    emotion: EmotionBatcher | None = None,
) -> Transcript:
    """Transcribe a file completely (`open(…).run(progress)`), with no limits on its size or length."""
    return open(path, options, engine, priority=priority, vad_options=vad_options, emotion=emotion).run(progress)


def _assemble_channel(
    channel_id: int, results: list[ChunkResult], options: TranscribeOptions, engine: EngineFront
) -> ChannelTranscript:
    """Join chunk results; a channel with no speech gets an empty text in the forced or default language.

    Its language is the one detected with the highest confidence (the settled one, once a chunk settled
    it), else the forced one. Its emotion is all chunks' estimates weighted by duration (waiting for
    those still being classified)."""
    results = [r.resolved() for r in results]
    sentences = tuple(s for r in results for s in r.sentences)
    detected = [r for r in results if r.language_probability is not None]
    best = max(detected, key=lambda r: r.language_probability or 0.0, default=None)
    if best is not None:
        language, probability = best.language, best.language_probability
    else:
        language = results[0].language if results else options.language or _fallback_language(engine)
        probability = None
    text = join_texts([s.text for s in sentences], language)
    emotion = overall_emotion([e for r in results for e in r.emotions])
    return ChannelTranscript(channel_id, text, language, sentences, probability, emotion)


def _fallback_language(engine: EngineFront) -> str:
    languages = engine.capabilities.languages
    return "en" if "en" in languages or not languages else sorted(languages)[0]
