"""One channel's recognition, chunk by chunk: VAD chunks in, `ChunkResult`s out, in order.

Chunks are submitted to the engine as soon as VAD cuts them, up to two batches ahead, so one long
recording fills whole batches; each result is yielded as soon as it and all before it are done, so the
first one arrives after the first chunk. Each result starts the side stages on its chunk.

The language is forced by the options, or detected: each chunk's own language is detected from the
encoder output that recognises it until the channel's language is settled (`settled_language`); later
chunks are decoded in that language, so a long recording does not flip language on a short or noisy
stretch, and a first chunk that is unsure ("OK.", a cough) does not decide for the whole channel. While
unsettled, each chunk waits for the one before, so which chunks detect does not depend on timing: a
resumed run decides the same way.

`earlier` holds the chunks an interrupted run already recognised (its checkpoints) and continues it:
decoding and VAD replay from the start and only the chunks ending after the last of them are recognised,
so every chunk boundary is exactly that of an uninterrupted run (starting the VAD mid-way would reset its
recurrent state and frame grid, move chunk starts and change the text). The replay costs decoding + VAD
only, about 0.3 % of real time on one core.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future

from openasr.core.options import TranscribeOptions
from openasr.engines.base import Recognition, RecognitionItem
from openasr.pipeline.chunks import ChunkResult, chunk_request, chunk_sentences, settled_language
from openasr.pipeline.stage import Stage, begin_stages
from openasr.runtime.batcher import EngineFront, Priority
from openasr.vad.timeline import SpeechChunk

RESUME_TOLERANCE_S = 1e-6
"""Chunk ends are recomputed identically on replay; the tolerance only absorbs storage round-off."""


class ChannelRun:
    """The state of one channel's recognition between chunks: what is in flight, the language so far
    and the next sentence id."""

    def __init__(
        self,
        channel_id: int,
        options: TranscribeOptions,
        engine: EngineFront,
        priority: Priority,
        stages: Sequence[Stage],
        earlier: Sequence[ChunkResult] = (),
    ) -> None:
        self._channel_id = channel_id
        self._options, self._engine, self._priority, self._stages = options, engine, priority, stages
        self._resume_after_s = earlier[-1].end_s if earlier else None
        self._done = list(earlier)
        self._language = options.language or settled_language(self._done)
        self._next_id = sum(len(r.sentences) for r in earlier)
        self._pending: deque[tuple[SpeechChunk, Future[Recognition]]] = deque()

    def results(self, chunks: Iterator[SpeechChunk]) -> Iterator[ChunkResult]:
        """Recognise the chunks that follow `earlier`, yielding each result in order; what is still in
        flight when the caller stops is cancelled."""
        try:
            while True:
                try:
                    chunk = next(chunks, None)
                except Exception:  # audio broken part-way: what was heard before the break is still delivered
                    yield from self._drain()
                    raise
                if chunk is None:
                    break
                if self._resume_after_s is not None and chunk.end_s <= self._resume_after_s + RESUME_TOLERANCE_S:
                    continue
                while self._language is None and self._pending:  # undecided: the chunk before may settle it
                    yield self._finish()
                self._submit(chunk)
                while self._pending and (len(self._pending) > 2 * self._engine.max_batch or self._pending[0][1].done()):
                    yield self._finish()
            yield from self._drain()
        finally:
            for _, future in self._pending:
                future.cancel()

    def _submit(self, chunk: SpeechChunk) -> None:
        options = self._options
        request = chunk_request(options, self._language)
        speech = tuple((s.start_s - chunk.start_s, s.end_s - chunk.start_s) for s in chunk.speech)
        item = RecognitionItem(chunk.audio.samples, request, speech)
        self._pending.append((chunk, self._engine.submit(item, self._priority)))

    def _drain(self) -> Iterator[ChunkResult]:
        while self._pending:
            yield self._finish()

    def _finish(self) -> ChunkResult:
        """The oldest chunk in flight, once the engine has recognised it, with its stages started."""
        chunk, future = self._pending.popleft()
        recognition = future.result()
        sentences = chunk_sentences(chunk, recognition.segments, self._options, recognition.language, self._next_id)
        self._next_id += len(sentences)
        result = ChunkResult(
            self._channel_id,
            chunk.start_s,
            chunk.end_s,
            recognition.language,
            recognition.language_probability,
            sentences,
            pending=begin_stages(self._stages, chunk, sentences, self._priority),
        )
        if self._language is None:  # once settled, later results cannot change it: nothing more to keep
            self._done.append(result)
            self._language = settled_language(self._done)
        return result
