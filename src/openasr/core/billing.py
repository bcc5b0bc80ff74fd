"""What one recognition is billed (spec §11), computed once for every surface and the usage store.

Each surface shows the same numbers in its own shape (DashScope's `seconds` and text tokens, the legacy
audio tokens, OpenAI's prompt/completion tokens) and the usage row stores them; all of them start from
the one `Charge` that `charge` builds, so a response and the row it leaves can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass

from openasr.core.options import TokenCounter, count_audio_tokens, count_context_tokens


@dataclass(frozen=True)
class Charge:
    seconds: int
    """Audio seconds: the duration rounded up, times the channels recognised."""
    audio_tokens: int
    """25 per billed second."""
    context_tokens: int
    output_tokens: int
    """The recognised text's tokens."""

    @property
    def input_tokens(self) -> int:
        return self.audio_tokens + self.context_tokens

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


def billed_seconds(duration_s: float) -> int:
    """The duration rounded up to whole seconds; a float's noise (3.0000000001 s) does not cost a second."""
    whole = int(duration_s)
    return whole + (1 if duration_s - whole > 1e-9 else 0) if duration_s > 0 else 0


def charge(
    duration_s: float, *, context: str, text: str, count: TokenCounter = count_context_tokens, channels: int = 1
) -> Charge:
    """Bill `duration_s` seconds of audio per channel, `context` as input text and `text` as output, each
    text counted by `count` (the engine's tokenizer where it has one)."""
    seconds = billed_seconds(duration_s) * channels
    return Charge(seconds, count_audio_tokens(seconds), count(context), count(text))
