"""When a decoded Whisper window is no speech: faster-whisper's own rule, and stricter ones where the VAD
heard little speech in the window.

Kept apart from the window loop (`whisper_decode`) because these numbers are measured decisions of their
own, each pinned by a test (`tests/unit/engines/test_whisper_engine.py`).
"""

from __future__ import annotations

_ENGINE_NO_SPEECH_RULE = (0.6, -1.0)
"""(no_speech_prob above, avg_logprob below): faster-whisper's own evidence of no speech. A window that
meets it is dropped, however much speech the VAD heard in it."""
_SHORT_SOUND_RULES = ((0.5, -0.7), (0.35, -0.9))
"""Stricter pairs for a window where the VAD heard under `_SHORT_SOUND_S` of speech: what Whisper writes
over padding, a breath or a sung note ("Thank you." at 0.52 and -1.03 over the fixtures' a-cappella
clip, of which the VAD hears 0.38 s; "A-a, B-A-N-E" at 0.62 and -1.61 over the tests' sung vowels) sits
under the engine's bar. The least sure short speech of tests/data and the fixtures stays out of both
(cards_004 "5, 5": 0.24, -0.76)."""
_SHORT_SOUND_S = 4.0
"""Where the VAD heard this much speech in a window, only the engine's own rule may drop it: a tongue
twister of 19 s of speech scores 0.57-0.63 and -0.58 to -0.82 depending on its lead-in, as unsure as a
hallucination by these two numbers alone, and dropping it would lose 140 characters."""


def no_speech_rule(no_speech_prob: float, avg_logprob: float, heard_s: float) -> tuple[float, float] | None:
    """The (no_speech_prob, avg_logprob) pair by which a window is Whisper's own evidence of no speech,
    given the seconds of VAD speech in it; None keeps the window."""
    rules = (_ENGINE_NO_SPEECH_RULE, *(_SHORT_SOUND_RULES if heard_s < _SHORT_SOUND_S else ()))
    return next(((p, lp) for p, lp in rules if no_speech_prob > p and avg_logprob < lp), None)
