"""The one options object of a transcription, validated in one place.

Surfaces build a `TranscribeOptions` from their wire format (`protocol.to_options`), then refine it with
`dataclasses.replace`; nothing downstream reads a mutable kwargs dict. An instance validates itself when
it is made (`validate_options`), so every `TranscribeOptions` that exists is valid: it is checked once,
where the request is read, before any audio is touched, and nothing downstream checks it again.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from openasr.core.errors import InvalidParameterError

MAX_CONTEXT_TOKENS = 10_000
"""The service's limit on context-biasing text (spec §11), checked by `check_context_tokens` when the
engine is known (`pipeline.check_engine`): counted with the engine's own tokenizer where it has one
(Qwen3-ASR), else with the estimate `count_context_tokens`."""

ITN_LANGUAGES = frozenset({"zh", "en"})
MAX_SPEAKERS = 20
"""The largest `speaker_count` a caller may ask for."""
MAX_KNOWN_SPEAKERS = 4
"""At most this many reference speakers (OpenAI's limit on `known_speaker_names`)."""

TASKS = ("transcribe", "translate")
"""`translate` writes English text whatever the spoken language (Whisper's own task); engines declare
whether they can (`EngineCapabilities.translation`)."""


@dataclass(frozen=True)
class KnownSpeaker:
    """A speaker the caller named, by the embedding of a reference clip of their voice (192-d, L2-normalised:
    `openasr.diarization.embeddings.embed_clip`); a speaker cluster that matches it is called `name`."""

    name: str
    embedding: tuple[float, ...]


@dataclass(frozen=True)
class TranscribeOptions:
    """What the caller asked for.

        `channels` is None for the mono mix (sync recognition: channels are merged, spec §11); a tuple of
        indexes transcribes each channel on its own. `language` None means detect it. `words` asks for
        word timestamps; `sentences` asks for sentence timing (costs word alignment, so text-only callers
        turn it off); `task` is one of `TASKS`. `diarize` asks who spoke when (each sentence's `speaker_id`):
    `speaker_count` makes it find exactly that many speakers (else it counts them), `known_speakers` names
    the speakers whose reference voices match. Limits on the audio are the surface's, not the caller's:
        `pipeline.open` takes them.
    """

    model: str = "whisper-base"
    language: str | None = None
    itn: bool = False
    context: str = ""
    words: bool = False
    sentences: bool = True
    channels: tuple[int, ...] | None = None
    task: str = "transcribe"
    diarize: bool = False
    speaker_count: int | None = None
    known_speakers: tuple[KnownSpeaker, ...] = ()

    def __post_init__(self) -> None:
        validate_options(self)


AUDIO_TOKENS_PER_SECOND = 25
"""The service bills audio at 25 tokens per second, a partial second counting as one (spec §11)."""


def count_audio_tokens(duration_s: float) -> int:
    return AUDIO_TOKENS_PER_SECOND * math.ceil(duration_s)


TokenCounter = Callable[[str], int]
"""Counts text tokens for usage: the engine's own tokenizer where it has one (Qwen3-ASR), else
`count_context_tokens`."""


def count_context_tokens(text: str) -> int:
    """A tokenizer-free estimate: one token per CJK character, one per other whitespace-separated word."""
    tokens = 0
    for piece in text.split():
        cjk = sum(1 for ch in piece if _is_cjk(ch))
        tokens += cjk + (1 if cjk < len(piece) else 0)
    return tokens


def _is_cjk(ch: str) -> bool:
    code = ord(ch)
    return 0x3040 <= code <= 0x30FF or 0x3400 <= code <= 0x9FFF or 0xAC00 <= code <= 0xD7AF


def check_context_tokens(context: str, count: TokenCounter) -> None:
    """Refuse a context longer than `MAX_CONTEXT_TOKENS` as `count` (an engine's tokenizer) counts it."""
    if count(context) > MAX_CONTEXT_TOKENS:
        raise InvalidParameterError(f"context is longer than {MAX_CONTEXT_TOKENS} tokens", param="context")


def validate_options(options: TranscribeOptions) -> TranscribeOptions:
    """Reject what no engine can honour, naming the parameter; return the options unchanged. Runs as an
    instance is made; what the engine can honour, the context's length included (it is counted in the
    engine's tokens), is `pipeline.check_engine`'s."""
    if options.language is not None and not (1 < len(options.language) <= 8):
        raise InvalidParameterError(f"language {options.language!r} is not a language code", param="language")
    if options.task not in TASKS:
        raise InvalidParameterError(f"task must be one of {', '.join(TASKS)}, not {options.task!r}", param="task")
    if options.channels is not None:
        if not options.channels:
            raise InvalidParameterError("channel list is empty", param="channel_id")
        if any(c < 0 for c in options.channels):
            raise InvalidParameterError("channel indexes start at 0", param="channel_id")
        if len(set(options.channels)) != len(options.channels):
            raise InvalidParameterError("channel list repeats a channel", param="channel_id")
    _validate_speakers(options)
    return options


def _validate_speakers(options: TranscribeOptions) -> None:
    count = options.speaker_count
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_SPEAKERS):
        raise InvalidParameterError(
            f"speaker_count must be a whole number from 1 to {MAX_SPEAKERS}, not {count!r}", param="speaker_count"
        )
    if len(options.known_speakers) > MAX_KNOWN_SPEAKERS:
        raise InvalidParameterError(
            f"at most {MAX_KNOWN_SPEAKERS} known speakers, not {len(options.known_speakers)}",
            param="known_speaker_names",
        )
