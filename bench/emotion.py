"""Accuracy and a confusion table of an emotion classifier over a directory of labelled clips.

    python bench/emotion.py ../shared/fixtures/emotion --model DIR_OR_HUB_ID
    OPENASR_EMOTION_MODEL=DIR_OR_HUB_ID python bench/emotion.py ../shared/fixtures/emotion

A clip's true emotion is in its name: the last `_`-separated word (`emodb_16a04Wc_anger.wav` -> anger),
or else EmoDB's emotion letter (sixth character of its code: W anger, L boredom, E disgust, A fear,
F happiness, T sadness, N neutral). Both go through the label table of `openasr.emotion.labels`, as a
model's classes do, so EmoDB's boredom counts as neutral. Each clip is classified whole (EmoDB's clips
are single utterances of 2-4 s), through the same loading code as the server (`OPENASR_EMOTION_MODEL`).
Without a model it says how to give one and exits with status 2.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

from openasr.audio.decode import decode_audio
from openasr.core.errors import AsrError
from openasr.emotion.labels import EMOTIONS, LABEL_TABLE, normalise_label
from openasr.emotion.loading import load_emotion_classifier
from openasr.settings import Settings

_EMODB_LETTERS = {"W": "anger", "L": "boredom", "E": "disgust", "A": "fear", "F": "happiness", "T": "sadness"}
_EMODB_LETTERS["N"] = "neutral"
_EMODB_CODE = re.compile(r"\d\d[a-z]\d\d([WLEAFTN])[a-z]")
_AUDIO = {".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a"}


def true_emotion(path: Path) -> str | None:
    word = normalise_label(path.stem.rsplit("_", 1)[-1])
    if LABEL_TABLE.get(word):
        return LABEL_TABLE[word]
    code = _EMODB_CODE.search(path.stem)
    return LABEL_TABLE[_EMODB_LETTERS[code.group(1)]] if code else None


def confusion_table(pairs: list[tuple[str, str]]) -> str:
    """Rows: the true emotion; columns: the predicted one (first three letters)."""
    lines = ["true \\ predicted " + " ".join(f"{e[:3]:>4}" for e in EMOTIONS)]
    for truth in EMOTIONS:
        counts = [sum(1 for t, p in pairs if t == truth and p == predicted) for predicted in EMOTIONS]
        lines.append(f"{truth:<17}" + " ".join(f"{c:>4}" for c in counts))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--model", default=os.environ.get("OPENASR_EMOTION_MODEL"), help="directory or hub id")
    args = parser.parse_args(argv)
    clips = sorted(p for p in args.directory.iterdir() if p.suffix.lower() in _AUDIO)
    labelled = [(p, e) for p in clips if (e := true_emotion(p)) is not None]
    print(f"{len(labelled)} labelled clips of {len(clips)} in {args.directory}")
    if not args.model:
        print("no emotion model: pass --model DIR_OR_HUB_ID or set OPENASR_EMOTION_MODEL (a transformers")
        print("audio-classification checkpoint, or emotion2vec+, e.g. emotion2vec/emotion2vec_plus_base)")
        return 2
    try:
        classifier = load_emotion_classifier(args.model, Settings().cache_dir)
    except AsrError as exc:
        print(f"cannot load {args.model}: {exc.message}")
        return 2
    scores = classifier.classify([decode_audio(p) for p, _ in labelled])
    pairs = []
    for (path, truth), s in zip(labelled, scores, strict=True):
        pairs.append((truth, s.label))
        mark = "ok" if truth == s.label else "--"
        print(f"{mark} {path.name:<40} true {truth:<10} predicted {s.label:<10} p={s.probabilities[s.label]:.2f}")
    correct = sum(1 for t, p in pairs if t == p)
    print(f"\naccuracy {correct}/{len(pairs)} = {correct / max(1, len(pairs)):.0%} (model {args.model})\n")
    print(confusion_table(pairs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
