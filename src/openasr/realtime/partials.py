"""Live captions of the open item (spec §5.3): when a partial decode is due, what it decodes, and how its
hypothesis becomes confirmed text and stash.

A partial is a draft decode (greedy, no word times) of the item's audio since its last cut, at most
`MAX_WINDOW_S`. Once a stretch of the item is confirmed and at least `CUT_BEHIND_S` behind the newest
audio, the window's start moves past it (its text is kept as the frozen prefix), so one decode costs
O(window), not O(item). The final is never built from partials.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from openasr.core.types import SAMPLE_RATE_HZ
from openasr.engines.base import Recognition, RecognitionRequest
from openasr.pipeline.chunks import join_texts
from openasr.postprocess.chinese import remove_cjk_spaces, to_simplified
from openasr.postprocess.finishing import SIMPLIFIED_LANGUAGES
from openasr.realtime.stabiliser import Stabiliser, Stable, tokens

FIRST_AFTER_S = 0.7
"""The first partial once the item holds this much speech."""
EVERY_S = 0.5
"""Then another once this much new audio has arrived (audio arriving during a decode coalesces)."""
MAX_WINDOW_S = 10.0
CUT_BEHIND_S = 3.0
SURE_LANGUAGE = 0.8


@dataclass
class OpenItem:
    """The item being spoken: where it starts, its speech so far and its captions' state."""

    item_id: str
    start: int
    voiced_frames: int = 0
    partial_at: int = 0
    """Position of the newest audio the last partial decode saw."""
    window_start: int = 0
    frozen: str = ""
    """Text of the audio before `window_start` (confirmed before the window moved past it)."""
    language: str | None = None
    stabiliser: Stabiliser = field(default_factory=Stabiliser)
    last: Stable | None = None

    def __post_init__(self) -> None:
        self.window_start = self.start
        self.partial_at = self.start


def due(item: OpenItem, voiced_s: float, received: int) -> bool:
    """Whether a new partial decode of `item` is due with `received` samples in the session."""
    new_s = (received - item.partial_at) / SAMPLE_RATE_HZ
    return voiced_s >= FIRST_AFTER_S and new_s >= EVERY_S


def window(item: OpenItem, received: int) -> tuple[int, int]:
    """The samples a partial decodes now: from the last cut, at most `MAX_WINDOW_S` back."""
    return max(item.window_start, received - int(MAX_WINDOW_S * SAMPLE_RATE_HZ)), received


def request(item: OpenItem, language: str | None, context: str) -> RecognitionRequest:
    """A draft decode in the forced language, else the one earlier partials of the item were sure of."""
    return RecognitionRequest(language or item.language, context, words=False, draft=True)


def text_of(recognition: Recognition) -> str:
    """The hypothesis as captions show it: segments joined, Chinese simplified and unspaced."""
    text = join_texts([s.text for s in recognition.segments], recognition.language)
    if recognition.language in SIMPLIFIED_LANGUAGES:
        text = remove_cjk_spaces(to_simplified(text))
    return text


def accept(item: OpenItem, recognition: Recognition, window_start: int, window_end: int) -> Stable | None:
    """Fold a partial result into the item's captions; None when nothing visible changed."""
    if item.language is None and (recognition.language_probability or 0.0) >= SURE_LANGUAGE:
        item.language = recognition.language
    hypothesis = _joined(item.frozen, text_of(recognition), recognition.language)
    stable = item.stabiliser.update(hypothesis)
    if window_start == item.window_start:
        _move_cut(item, recognition, window_start, window_end)
    if stable == item.last or not (stable.confirmed or stable.stash):
        return None
    item.last = stable
    return stable


def _move_cut(item: OpenItem, recognition: Recognition, window_start: int, window_end: int) -> None:
    """Move the window's start past the latest segment that is confirmed and far enough behind."""
    confirmed = tokens(item.stabiliser.confirmed)
    latest = (window_end - window_start) / SAMPLE_RATE_HZ - CUT_BEHIND_S
    text, cut_s, frozen = item.frozen, 0.0, item.frozen
    for segment in recognition.segments:
        text = _joined(text, segment.text, recognition.language)
        if segment.end_s > latest or len(tokens(text)) > len(confirmed):
            break
        cut_s, frozen = segment.end_s, text
    if cut_s > 0:
        item.window_start = window_start + int(cut_s * SAMPLE_RATE_HZ)
        item.frozen = frozen


def _joined(before: str, after: str, language: str) -> str:
    return join_texts([before, after], language)


def voiced_s(frames: int, frame_samples: int) -> float:
    return frames * frame_samples / SAMPLE_RATE_HZ
