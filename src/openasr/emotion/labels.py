"""The seven emotions of the service and the table that maps a model's own class names onto them.

A model's classes are matched case-insensitively, after dropping a bilingual prefix ("生气/angry" ->
"angry", emotion2vec's style). Three kinds of entries:

- the seven themselves and their usual spellings in speech-emotion corpora (IEMOCAP's `ang`/`hap`/`exc`,
  RAVDESS/CREMA-D/EmoDB's `anger`, `fear`, `happiness`, `sadness`, `disgust`, `surprise`);
- nearby classes of other corpora, folded into the closest of the seven on the arousal/valence plane:
  `calm` (RAVDESS) and `boredom` (EmoDB) are low-arousal, near-neutral valence -> neutral; `excited`
  (IEMOCAP, conventionally merged with happy) -> happy; `contempt` (Ekman's seventh) -> disgusted;
- classes that say "none of these" (emotion2vec's `other` and `<unk>`, `unknown`): DROPPED. Their
  probability is removed and the rest renormalised, because "an emotion outside the set" is not
  evidence for any one of the seven; in particular it is not "neutral".

A checkpoint with any class outside this table is refused at load, naming its classes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from openasr.core.errors import ModelUnavailableError

EMOTIONS = ("surprised", "neutral", "happy", "sad", "disgusted", "angry", "fearful")
"""The service's classes (spec §11), in the order the spec lists them."""

DROPPED = None

LABEL_TABLE: Mapping[str, str | None] = {
    **{e: e for e in EMOTIONS},
    "surprise": "surprised",
    "sur": "surprised",
    "neu": "neutral",
    "calm": "neutral",
    "boredom": "neutral",
    "bored": "neutral",
    "happiness": "happy",
    "hap": "happy",
    "joy": "happy",
    "excited": "happy",
    "exc": "happy",
    "sadness": "sad",
    "disgust": "disgusted",
    "dis": "disgusted",
    "contempt": "disgusted",
    "anger": "angry",
    "ang": "angry",
    "fear": "fearful",
    "fea": "fearful",
    "other": DROPPED,
    "oth": DROPPED,
    "unknown": DROPPED,
    "unk": DROPPED,
    "<unk>": DROPPED,
}


class EmotionLabelsError(ModelUnavailableError):
    """A classifier whose classes do not map onto the seven emotions."""


def normalise_label(label: str) -> str:
    """ "生气/angry" -> "angry"; "Happy " -> "happy"."""
    return label.rsplit("/", 1)[-1].strip().lower()


def map_labels(model: str, labels: Sequence[str]) -> tuple[str | None, ...]:
    """Each of a model's classes as one of the seven, or None where the table drops it.

    Refused: any class the table does not know, and a model that would yield fewer than two of the seven
    (it could not tell one emotion from another)."""
    unknown = [label for label in labels if normalise_label(label) not in LABEL_TABLE]
    mapped = tuple(LABEL_TABLE.get(normalise_label(label)) for label in labels)
    if unknown or len({m for m in mapped if m is not None}) < 2:
        reason = f"{unknown} are not emotions openasr knows" if unknown else "too few of them are emotions"
        raise EmotionLabelsError(
            f"emotion model {model} has the classes {list(labels)}; {reason}. A classifier's classes must map "
            f"onto {', '.join(EMOTIONS)} (accepted names: openasr.emotion.labels.LABEL_TABLE)"
        )
    return mapped


def to_seven(mapped: Sequence[str | None], probabilities: Sequence[float]) -> dict[str, float]:
    """A model's class probabilities as probabilities of the seven: classes mapping to the same emotion
    add up, dropped classes are removed and the rest renormalised (uniform if nothing is left)."""
    out = dict.fromkeys(EMOTIONS, 0.0)
    for emotion, p in zip(mapped, probabilities, strict=True):
        if emotion is not None:
            out[emotion] += float(p)
    total = sum(out.values())
    if total <= 0.0:
        return dict.fromkeys(EMOTIONS, 1.0 / len(EMOTIONS))
    return {e: p / total for e, p in out.items()}
