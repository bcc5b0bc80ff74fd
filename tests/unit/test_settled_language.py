"""The rule that fixes a channel's language from its chunks' detections (`pipeline.settled_language`)."""

from __future__ import annotations

from openasr.pipeline import LANGUAGE_VOTES, ChunkResult, settled_language


def _chunk(language: str, probability: float | None) -> ChunkResult:
    return ChunkResult(0, 0.0, 1.0, language, probability, ())


def test_the_first_sure_detection_settles_the_language() -> None:
    assert settled_language([_chunk("nl", 0.58), _chunk("en", 0.97), _chunk("zh", 0.99)]) == "en"


def test_unsure_detections_wait_then_vote_by_summed_probability() -> None:
    unsure = [_chunk("ar", 0.56), _chunk("fa", 0.6), _chunk("ar", 0.5)]
    assert settled_language([]) is None
    assert settled_language(unsure[: LANGUAGE_VOTES - 1]) is None
    assert settled_language(unsure) == "ar"  # 1.06 against 0.6
    assert settled_language([*unsure, _chunk("en", 0.99)]) == "ar"  # decided; a later chunk changes nothing


def test_a_language_named_without_a_probability_is_taken_at_its_word() -> None:
    """A remote engine names the language but gives no confidence: waiting for a sure one would decode
    the whole file one chunk at a time."""
    assert settled_language([_chunk("de", None)]) == "de"
    assert settled_language([_chunk("nl", 0.58), _chunk("de", None)]) == "de"
