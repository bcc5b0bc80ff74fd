"""The label table: every class of both model families maps onto the seven, or is dropped by rule."""

from __future__ import annotations

import pytest

from emotion_models import EMOTION2VEC_PLUS_LABELS, SEVEN
from openasr.emotion.labels import EMOTIONS, EmotionLabelsError, map_labels, to_seven


def test_the_seven_are_the_services() -> None:
    assert (
        sorted(EMOTIONS)
        == sorted(SEVEN)
        == sorted(["surprised", "neutral", "happy", "sad", "disgusted", "angry", "fearful"])
    )


def test_emotion2vec_plus_classes_map_and_other_and_unknown_are_dropped() -> None:
    mapped = map_labels("emotion2vec_plus_base", EMOTION2VEC_PLUS_LABELS)
    assert mapped == ("angry", "disgusted", "fearful", "happy", "neutral", None, "sad", "surprised", None)


def test_a_checkpoint_named_with_the_seven_maps_one_to_one() -> None:
    assert map_labels("tiny", [e.upper() for e in SEVEN]) == SEVEN


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        # IEMOCAP four-class heads (superb/wav2vec2-base-superb-er and kin)
        (["neu", "hap", "ang", "sad"], ("neutral", "happy", "angry", "sad")),
        # RAVDESS heads: calm is low-arousal, near-neutral
        (
            ["angry", "calm", "disgust", "fearful", "happy", "neutral", "sad", "surprised"],
            ("angry", "neutral", "disgusted", "fearful", "happy", "neutral", "sad", "surprised"),
        ),
        # EmoDB's seven, boredom folded into neutral
        (
            ["anger", "boredom", "disgust", "fear", "happiness", "neutral", "sadness"],
            ("angry", "neutral", "disgusted", "fearful", "happy", "neutral", "sad"),
        ),
        (["excited", "contempt", "surprise", "unknown"], ("happy", "disgusted", "surprised", None)),
    ],
)
def test_other_corpora_map_by_the_table(labels: list[str], expected: tuple[str | None, ...]) -> None:
    assert map_labels("m", labels) == expected


def test_unmappable_classes_are_refused_naming_them() -> None:
    with pytest.raises(EmotionLabelsError) as info:
        map_labels("speech-commands", ["yes", "no", "happy"])
    message = str(info.value)
    assert "['yes', 'no', 'happy']" in message and "['yes', 'no']" in message and "angry" in message


def test_a_model_that_cannot_tell_two_emotions_apart_is_refused() -> None:
    with pytest.raises(EmotionLabelsError, match="too few"):
        map_labels("m", ["neutral", "other"])


def test_probabilities_add_up_per_emotion_and_dropped_mass_is_renormalised_away() -> None:
    mapped = ("angry", "neutral", None, "neutral")
    out = to_seven(mapped, [0.2, 0.1, 0.5, 0.2])
    assert out["angry"] == pytest.approx(0.4) and out["neutral"] == pytest.approx(0.6)
    assert sum(out.values()) == pytest.approx(1.0) and set(out) == set(EMOTIONS)
