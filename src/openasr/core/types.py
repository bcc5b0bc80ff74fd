"""Plain, frozen result and audio types. Times carry their unit in their name (_ms, _s, _hz)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from openasr.core.options import TranscribeOptions

SAMPLE_RATE_HZ = 16_000
"""Every engine and the VAD work on 16 kHz mono float32; decoding resamples to it."""


@dataclass(frozen=True)
class AudioInfo:
    """What the probe learned about an input before any heavy work."""

    format: str
    sample_rate_hz: int
    channels: int
    duration_s: float
    size_bytes: int | None = None


@dataclass(frozen=True)
class Audio:
    """A block of 16 kHz mono float32 samples, starting `start_s` into the original recording."""

    samples: np.ndarray
    start_s: float = 0.0
    sample_rate_hz: int = SAMPLE_RATE_HZ

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate_hz


@dataclass(frozen=True)
class SpeechSpan:
    """A stretch of speech found by the VAD, in seconds of the original audio."""

    start_s: float
    end_s: float


@dataclass(frozen=True)
class Word:
    """One word; `text` keeps its leading space or other joiner, `punctuation` is the mark after it;
    `speaker_id` as its sentence's (None unless diarization ran)."""

    begin_ms: int
    end_ms: int
    text: str
    punctuation: str = ""
    probability: float | None = None
    speaker_id: int | None = None


@dataclass(frozen=True)
class DecoderStats:
    """What the decoder measured of the text it wrote, as Whisper reports it per segment.

    `tokens` are the text's token ids (timestamps included); `temperature` the sampling temperature used
    (0.0: beam search); `avg_logprob` the mean token log probability, `compression_ratio` the text's gzip
    ratio and `no_speech_prob` the probability of no speech, all three of the decoder window the text
    came from. Engines that measure none of these leave it None."""

    tokens: tuple[int, ...]
    temperature: float
    avg_logprob: float
    compression_ratio: float
    no_speech_prob: float


@dataclass(frozen=True)
class Sentence:
    """A sentence of one channel. `emotion` stays None unless an emotion classifier is active; `decoder`
    None unless the engine measures it (`DecoderStats`). `speaker_id` stays None unless diarization ran
    (then ints from 0 in order of first appearance); `speaker_name` is the known speaker it matched."""

    sentence_id: int
    begin_ms: int
    end_ms: int
    text: str
    language: str
    words: tuple[Word, ...] = ()
    emotion: str | None = None
    decoder: DecoderStats | None = None
    speaker_id: int | None = None
    speaker_name: str | None = None


@dataclass(frozen=True)
class EmotionEstimate:
    """The emotion heard in one stretch of a channel (a sentence, or short sentences merged): the most
    probable of the service's seven classes and the probability of each."""

    begin_ms: int
    end_ms: int
    label: str
    probabilities: Mapping[str, float]


@dataclass(frozen=True)
class ChannelTranscript:
    """Everything recognised on one channel (or on the mono mix, reported as channel 0).

    `emotion` is the whole channel's, from its estimates weighted by duration; None without a classifier."""

    channel_id: int
    text: str
    language: str
    sentences: tuple[Sentence, ...]
    language_probability: float | None = None
    emotion: str | None = None


@dataclass(frozen=True)
class Transcript:
    """The result of one transcription: per-channel transcripts, the audio facts and the options used."""

    channels: tuple[ChannelTranscript, ...]
    audio: AudioInfo
    options: TranscribeOptions
    model: str
    extras: dict[str, str] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return "\n".join(c.text for c in self.channels if c.text)

    @property
    def language(self) -> str:
        return self.channels[0].language if self.channels else ""

    @property
    def emotion(self) -> str | None:
        """The first channel's emotion, as `language` is its language (sync requests have one channel)."""
        return self.channels[0].emotion if self.channels else None
