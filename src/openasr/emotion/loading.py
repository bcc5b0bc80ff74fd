"""`OPENASR_EMOTION_MODEL` -> a loaded classifier: which backend a directory or hub id needs.

- a directory with FunASR's `config.yaml` (emotion2vec+ as published on ModelScope / Hugging Face), or
  a hub id naming emotion2vec: FunASR's own loading code (`openasr[emotion2vec]`);
- any other directory with a `config.json`, or any other hub id: a `transformers` audio-classification
  checkpoint (`openasr[emotion]`).
"""

from __future__ import annotations

from pathlib import Path

from openasr.core.errors import ModelNotFoundError, ModelUnavailableError
from openasr.emotion.classifier import EmotionClassifier


def load_emotion_classifier(ref: str, cache_dir: Path) -> EmotionClassifier:
    path = Path(ref).expanduser()
    if path.is_dir():
        if (path / "config.yaml").exists():
            return _emotion2vec(str(path))
        if (path / "config.json").exists():
            return _transformers(str(path), cache_dir)
        raise ModelUnavailableError(
            f"{path} is not an emotion model directory (a transformers checkpoint's config.json, "
            "or FunASR's config.yaml for emotion2vec)"
        )
    if "/" in ref and not ref.startswith((".", "/", "~")):
        return _emotion2vec(ref) if "emotion2vec" in ref.lower() else _transformers(ref, cache_dir)
    raise ModelNotFoundError(f"emotion model {ref!r} is neither a directory nor a hub repo id (owner/name)")


def _transformers(ref: str, cache_dir: Path) -> EmotionClassifier:
    from openasr.emotion.transformers_backend import TransformersEmotionClassifier

    return TransformersEmotionClassifier(ref, cache_dir=cache_dir)


def _emotion2vec(ref: str) -> EmotionClassifier:
    from openasr.emotion.emotion2vec import Emotion2vecClassifier

    return Emotion2vecClassifier(ref)
