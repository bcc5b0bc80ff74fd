"""Speaker diarization as a side stage: embeddings per chunk, speakers once per channel.

Per chunk, CAM++ embeds 1.5 s windows every 0.75 s over the VAD's speech (`diarization.windows`) on one
background thread shared by every recognition (so embedding never takes more than a core and never holds
up the engine), and the chunk keeps the windows' owned times and embeddings; the checkpoint stores them,
so a task resumed after a crash clusters exactly the windows an uninterrupted run had. At the end of a
channel, `diarization.speakers` clusters them (exactly `speaker_count` when given), folds short turns and
gives every sentence and word its speaker. On only when the options ask for it (`diarize`).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace

from openasr.core.options import TranscribeOptions
from openasr.core.types import ChannelTranscript, Sentence
from openasr.diarization.embeddings import embed_windows
from openasr.diarization.speakers import find_speakers, label_sentences, split_at_turns
from openasr.diarization.windows import encode, speech_windows
from openasr.pipeline.stage import StageData
from openasr.postprocess.finishing import finish_sentence
from openasr.runtime.batcher import Priority
from openasr.vad.timeline import SpeechChunk

DIARIZATION = "diarization"
"""The stage's name: the key of its data in chunk results and checkpoints."""

_executor_lock = threading.Lock()
_executor: ThreadPoolExecutor | None = None


def _shared_executor() -> ThreadPoolExecutor:
    """One embedding thread per process, made on first use."""
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="openasr-diarization")
        return _executor


@dataclass(frozen=True)
class _EmbeddingWork:
    future: Future[StageData]

    def done(self) -> bool:
        return self.future.done()

    def result(self, sentences: tuple[Sentence, ...]) -> tuple[tuple[Sentence, ...], StageData]:
        return sentences, self.future.result()


def chunk_embeddings(chunk: SpeechChunk) -> StageData:
    """The kept data of one chunk: its windows' owned times and embeddings (`diarization.windows`)."""
    windows = speech_windows(chunk.speech, chunk.start_s, len(chunk.audio.samples))
    return encode(windows.owned_ms, embed_windows(chunk.audio.samples, windows.samples))


class DiarizationStage:
    """Who spoke when, on the CAM++ model shipped with the package."""

    name = DIARIZATION
    capability = "diarization"

    def enabled(self, options: TranscribeOptions) -> bool:
        return options.diarize

    def begin(self, chunk: SpeechChunk, sentences: tuple[Sentence, ...], priority: Priority) -> _EmbeddingWork | None:
        """Embed the chunk's speech windows in the background; None when the VAD heard no speech in it."""
        if not chunk.speech:
            return None
        return _EmbeddingWork(_shared_executor().submit(chunk_embeddings, chunk))

    def finish(
        self, channel: ChannelTranscript, kept: Sequence[StageData], options: TranscribeOptions
    ) -> ChannelTranscript:
        """Every sentence with its speaker: a sentence whose words change speaker is cut there (its pieces
        finished as the pipeline finishes sentences), and words are dropped unless asked for."""
        speakers = find_speakers(kept, options.speaker_count, options.known_speakers)
        sentences: list[Sentence] = []
        for sentence in channel.sentences:
            pieces = split_at_turns(sentence, speakers.turns)
            if len(pieces) > 1:
                pieces = tuple(finish_sentence(p, p.language, itn=options.itn, words=True) for p in pieces)
            sentences += pieces
        first_id = channel.sentences[0].sentence_id if channel.sentences else 0
        renumbered = [
            replace(s, sentence_id=first_id + i, words=s.words if options.words else ())
            for i, s in enumerate(label_sentences(sentences, speakers))
        ]
        return replace(channel, sentences=tuple(renumbered))
