"""Emotion as a side stage: each sentence's emotion per chunk, and each channel's from all of them.

Per chunk, the sentences' audio (short ones merged, `emotion.spans`) goes to the classifier behind its
batcher; each sentence gets the label of its stretch, and the chunk keeps one estimate per stretch
(begin, end, label, the seven probabilities). At the end the channel's emotion is all estimates weighted
by duration. The stage is on for every recognition whenever a classifier is configured: no option
switches it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, replace
from typing import Any

from openasr.core.options import TranscribeOptions
from openasr.core.types import ChannelTranscript, EmotionEstimate, Sentence
from openasr.emotion.classifier import EmotionScores
from openasr.emotion.spans import EmotionSpan, emotion_spans, overall_emotion, span_clip
from openasr.pipeline.chunks import ChunkResult
from openasr.pipeline.stage import StageData
from openasr.runtime.batcher import Priority
from openasr.runtime.emotion_batcher import EmotionBatcher
from openasr.vad.timeline import SpeechChunk

EMOTION = "emotion"
"""The stage's name: the key of its data in chunk results and checkpoints."""


@dataclass(frozen=True)
class _EmotionWork:
    spans: tuple[EmotionSpan, ...]
    future: Future[tuple[EmotionScores, ...]]

    def done(self) -> bool:
        return self.future.done()

    def result(self, sentences: tuple[Sentence, ...]) -> tuple[tuple[Sentence, ...], StageData]:
        scores = self.future.result()
        pairs = list(zip(self.spans, scores, strict=True))
        label = {i: score.label for span, score in pairs for i in span.sentence_ids}
        marked = tuple(replace(s, emotion=label.get(s.sentence_id)) for s in sentences)
        kept = [
            {
                "begin_ms": span.begin_ms,
                "end_ms": span.end_ms,
                "label": score.label,
                "probabilities": dict(score.probabilities),
            }
            for span, score in pairs
        ]
        return marked, kept


class EmotionStage:
    """The configured classifier as a stage; `EmotionBatcher` shares its calls among all recognitions."""

    name = EMOTION
    capability = "emotion"

    def __init__(self, classifier: EmotionBatcher) -> None:
        self._classifier = classifier

    def enabled(self, options: TranscribeOptions) -> bool:
        return True

    def begin(self, chunk: SpeechChunk, sentences: tuple[Sentence, ...], priority: Priority) -> _EmotionWork | None:
        """Send each sentence's audio to the classifier; None when the chunk has no sentences."""
        spans = tuple(emotion_spans(sentences))
        if not spans:
            return None
        clips = tuple(span_clip(chunk.audio.samples, chunk.start_s, span) for span in spans)
        return _EmotionWork(spans, self._classifier.submit(clips, priority))

    def finish(
        self, channel: ChannelTranscript, kept: Sequence[StageData], options: TranscribeOptions
    ) -> ChannelTranscript:
        return replace(channel, emotion=overall_emotion(estimates(kept)))


def estimates(kept: Iterable[StageData]) -> list[EmotionEstimate]:
    """The estimates in chunks' kept data, in order."""
    return [_estimate(e) for chunk in kept for e in chunk]


def _estimate(data: dict[str, Any]) -> EmotionEstimate:
    return EmotionEstimate(data["begin_ms"], data["end_ms"], data["label"], data["probabilities"])


def emotion_so_far(chunks: Iterable[ChunkResult]) -> str | None:
    """The emotion of the chunks whose stages are done, weighted by duration, never waiting for the
    others (what a stream shows before the end); None before the first."""
    ready = (c.resolved() for c in chunks if c.ready)
    return overall_emotion(estimates(c.stage_data[EMOTION] for c in ready if EMOTION in c.stage_data))
