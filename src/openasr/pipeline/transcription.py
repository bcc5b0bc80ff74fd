"""One recognition from start to end: checks, source, channels, each channel's chunks, the Transcript.

`open(source, options, engine, limits=…)` starts one recognition: it checks the engine, opens the source
(a file is probed once and checked against the surface's limits; live blocks are checked as they
arrive) and resolves the channels, all before any decoding. The `Transcription` it returns streams each
channel as one `ChunkResult` per recognised chunk as soon as it is ready (SSE streaming, async
checkpoints and progress bars all hang off it, and a stream resumes from the chunks an interrupted run
checkpointed), and assembles the `Transcript`; `run` does all of it at once. `start` is what surfaces
call: `open` with the engine of the options' model and every configured side stage (`stages`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from openasr.core.errors import InvalidParameterError
from openasr.core.options import TranscribeOptions, check_context_tokens
from openasr.core.types import AudioInfo, ChannelTranscript, Transcript
from openasr.pipeline.channel import ChannelRun
from openasr.pipeline.chunks import ChunkResult, join_texts
from openasr.pipeline.sources import AudioSource, Limits, open_file, open_live
from openasr.pipeline.stage import Stage
from openasr.pipeline.stages import StageModels, configured_stages
from openasr.runtime.batcher import EngineFront, Priority
from openasr.vad.silero import shared_vad
from openasr.vad.timeline import VadOptions, speech_chunks

Progress = Callable[[float, float], None]
"""Called with (audio seconds done, total seconds) after each chunk."""

AudioInput = Path | Iterable[np.ndarray]
"""A file, or live float32 mono 16 kHz blocks (`pipeline.sources`)."""


class Models(StageModels, Protocol):
    """What `start` draws a recognition's engine and stages from (`EnginePool` is it)."""

    def get(self, model: str) -> EngineFront: ...


def check_engine(engine: EngineFront, options: TranscribeOptions) -> None:
    """Fail early, naming the parameter, when the engine cannot honour the options."""
    caps = engine.capabilities
    if options.language is not None and options.language not in caps.languages:
        raise InvalidParameterError(
            f"model {engine.name} does not support language {options.language!r}", param="language"
        )
    if options.task == "translate" and not caps.translation:
        reason = caps.why_not.get("translation", "it only transcribes")
        raise InvalidParameterError(
            f"model {engine.name} cannot translate: {reason}; translate with a multilingual Whisper model "
            "(whisper-base)",
            param="model",
        )
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
    source: AudioInput,
    options: TranscribeOptions,
    engine: EngineFront,
    *,
    limits: Limits | None = None,
    priority: Priority = Priority.BULK,
    vad_options: VadOptions | None = None,
    stages: Sequence[Stage] = (),
) -> Transcription:
    """Start a recognition of `source`: every check runs here, once, before any decoding.

    The options are valid already (a `TranscribeOptions` validates itself when made); this checks that
    the engine can honour them, opens the source under `limits` and resolves the channels. It raises an
    `AsrError` before any recognition starts, so a streaming surface can still answer with a plain error
    status. Of `stages`, those the options switch on run.
    """
    check_engine(engine, options)
    requested = options.channels or ()
    opened = open_file(source, limits, requested) if isinstance(source, Path) else open_live(source, limits, requested)
    channels: tuple[int | None, ...] = (None,) if options.channels is None else options.channels
    active = tuple(stage for stage in stages if stage.enabled(options))
    return Transcription(opened, options, engine, channels, priority, vad_options, active)


def start(
    source: AudioInput,
    options: TranscribeOptions,
    models: Models,
    *,
    limits: Limits | None = None,
    priority: Priority = Priority.BULK,
) -> Transcription:
    """`open` with the engine of `options.model` and every configured stage: how a surface recognises."""
    engine = models.get(options.model)
    return open(source, options, engine, limits=limits, priority=priority, stages=configured_stages(models))


def run(
    source: AudioInput,
    options: TranscribeOptions,
    engine: EngineFront,
    *,
    priority: Priority = Priority.BULK,
    progress: Progress | None = None,
    vad_options: VadOptions | None = None,
    stages: Sequence[Stage] = (),
) -> Transcript:
    """Transcribe a source completely (`open(…).run(progress)`), with no limits on its size or length."""
    return open(source, options, engine, priority=priority, vad_options=vad_options, stages=stages).run(progress)


@dataclass(frozen=True)
class Transcription:
    """One recognition of one source from start to end, made by `open`: the opened source, the channels
    to recognise (None stands for the mono mix, reported as channel 0), each channel's chunks as a
    stream that can resume, and the assembled `Transcript`. The CLI, the Python API, every sync surface,
    the streams and the task worker all hold one; none of them knows the order of the stages."""

    source: AudioSource
    options: TranscribeOptions
    engine: EngineFront
    channels: tuple[int | None, ...]
    priority: Priority = Priority.BULK
    vad_options: VadOptions | None = None
    stages: tuple[Stage, ...] = ()

    @property
    def audio(self) -> AudioInfo:
        """The audio's facts; of a live source, the audio received so far (all of it once it ended)."""
        return self.source.info

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
        """The transcript from each channel's chunk results, in the order of `channels`; every stage
        finishes each channel from the data its chunks kept."""
        transcripts = tuple(
            self._assemble_channel(channel or 0, [r.resolved() for r in chunks])
            for channel, chunks in zip(self.channels, results, strict=True)
        )
        return Transcript(transcripts, self.audio, self.options, self.engine.name)

    def stream(self, channel: int | None = None, *, earlier: Sequence[ChunkResult] = ()) -> Iterator[ChunkResult]:
        """Recognise one channel (None: the mono mix) chunk by chunk, in order (`pipeline.channel`);
        `earlier` are the checkpointed chunks of an interrupted run, which this one continues."""
        if channel not in self.channels:
            raise ValueError(f"channel {channel} is not one this recognition resolved: {self.channels}")
        chunks = speech_chunks(self.source.blocks(channel), shared_vad(), self.vad_options)
        run = ChannelRun(channel or 0, self.options, self.engine, self.priority, self.stages, earlier)
        yield from run.results(chunks)

    def _assemble_channel(self, channel_id: int, results: list[ChunkResult]) -> ChannelTranscript:
        """Join chunk results; a channel with no speech gets an empty text in the forced or default
        language. Its language is the one detected with the highest confidence (the settled one, once a
        chunk settled it), else the forced one."""
        sentences = tuple(s for r in results for s in r.sentences)
        detected = [r for r in results if r.language_probability is not None]
        best = max(detected, key=lambda r: r.language_probability or 0.0, default=None)
        if best is not None:
            language, probability = best.language, best.language_probability
        else:
            language = results[0].language if results else self.options.language or _fallback_language(self.engine)
            probability = None
        text = join_texts([s.text for s in sentences], language)
        channel = ChannelTranscript(channel_id, text, language, sentences, probability)
        for stage in self.stages:
            kept = [r.stage_data[stage.name] for r in results if stage.name in r.stage_data]
            channel = stage.finish(channel, kept, self.options)
        return channel


def _fallback_language(engine: EngineFront) -> str:
    languages = engine.capabilities.languages
    return "en" if "en" in languages or not languages else sorted(languages)[0]
