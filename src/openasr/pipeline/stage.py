"""The protocol every side stage of a recognition follows, and a chunk's stage work in flight.

Recognition proper (engine, timeline, sentences) is the pipeline's own; a *stage* adds something beside
it. It may work on each recognised chunk (`begin`: emotion classifies each sentence's audio), on the
whole recording once the last chunk of a channel is in (`finish`: emotion weighs all estimates into
the channel's emotion; diarization clusters every chunk's speaker embeddings), or both. What it
works out per chunk and needs at the end is its *kept data*: plain JSON values (numbers, strings,
lists, string-keyed dicts), so one serializer (`jobs/checkpoints.py`) stores every stage's data with the
chunk, and a task resumed after a crash finishes each stage from exactly the data an uninterrupted run
had. A stage declares the capability it adds (as `EngineCapabilities` names it) and which options
switch it on (`enabled`).

A chunk's result goes out before its stages are done (a streamed first delta never waits for emotion):
it carries their work in flight (`PendingStages`), which `ChunkResult.resolved` waits for. The work is
not part of the result's value: the kept data is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from openasr.core.options import TranscribeOptions
from openasr.core.types import ChannelTranscript, Sentence
from openasr.runtime.batcher import Priority
from openasr.vad.timeline import SpeechChunk

StageData = Any
"""What a stage keeps of one chunk: a JSON value (checked by no type, promised by every stage)."""


class ChunkWork(Protocol):
    """A stage's work on one chunk, under way (typically a batcher's future)."""

    def done(self) -> bool: ...

    def result(self, sentences: tuple[Sentence, ...]) -> tuple[tuple[Sentence, ...], StageData]:
        """Wait for the work; the chunk's sentences as the stage marks them, and the data it keeps."""
        ...


class Stage(Protocol):
    """A side stage: per chunk (`begin`), once per channel at the end (`finish`), or both."""

    name: str
    """The key of its data in `ChunkResult.stage_data` and in checkpoints: never reuse one."""
    capability: str
    """The `EngineCapabilities` field it makes true for a recognition that runs it."""

    def enabled(self, options: TranscribeOptions) -> bool:
        """Whether these options switch it on (a stage always on when configured says True)."""
        ...

    def begin(self, chunk: SpeechChunk, sentences: tuple[Sentence, ...], priority: Priority) -> ChunkWork | None:
        """Start its work on a recognised chunk; None when it has nothing to do or keep for it."""
        ...

    def finish(
        self, channel: ChannelTranscript, kept: Sequence[StageData], options: TranscribeOptions
    ) -> ChannelTranscript:
        """The channel with what the stage adds once every chunk is in, from each chunk's kept data (and
        the recognition's options: diarization's `speaker_count`)."""
        ...


@dataclass(frozen=True)
class PendingStages:
    """Each stage's work on one chunk, by stage name, in the order the stages run."""

    work: tuple[tuple[str, ChunkWork], ...]

    def done(self) -> bool:
        return all(w.done() for _, w in self.work)

    def resolve(self, sentences: tuple[Sentence, ...]) -> tuple[tuple[Sentence, ...], dict[str, StageData]]:
        """Wait for every stage; the sentences as all of them mark them and each one's kept data."""
        kept: dict[str, StageData] = {}
        for name, work in self.work:
            sentences, kept[name] = work.result(sentences)
        return sentences, kept


def begin_stages(
    stages: Sequence[Stage], chunk: SpeechChunk, sentences: tuple[Sentence, ...], priority: Priority
) -> PendingStages | None:
    """Start every stage on a recognised chunk; None when none has work for it."""
    work = tuple((s.name, w) for s in stages if (w := s.begin(chunk, sentences, priority)) is not None)
    return PendingStages(work) if work else None
