"""Any `transformers` audio-classification checkpoint (feature extractor + `AutoModelForAudioClassification`)
whose classes map onto the seven emotions; needs the `emotion` extra (torch, transformers)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from openasr.core.errors import ModelUnavailableError
from openasr.core.types import SAMPLE_RATE_HZ
from openasr.emotion.classifier import EmotionScores
from openasr.emotion.labels import map_labels, to_seven


class TransformersEmotionClassifier:
    """Batches clips when the checkpoint was trained with an attention mask; otherwise classifies each
    clip alone, because zero padding changes the result of a model that cannot mask it (Wav2Vec2 base
    and its group-norm kin), and a clip's emotion must not depend on its batch."""

    def __init__(self, ref: str, *, cache_dir: Path | None = None) -> None:
        try:
            import torch
            from transformers import AutoFeatureExtractor, AutoModelForAudioClassification
        except ImportError as exc:
            raise ModelUnavailableError(
                f"emotion model {ref}: transformers is not installed; run: pip install 'openasr[emotion]'"
            ) from exc
        hub_cache = str(cache_dir / "hub") if cache_dir is not None else None
        try:
            self._extractor: Any = AutoFeatureExtractor.from_pretrained(ref, cache_dir=hub_cache)
            self._model: Any = AutoModelForAudioClassification.from_pretrained(ref, cache_dir=hub_cache)
        except (OSError, ValueError) as exc:  # missing files, no hub, not an audio-classification checkpoint
            raise ModelUnavailableError(f"could not load emotion model {ref}: {exc}") from exc
        self._model.eval()
        self._torch = torch
        self.name = ref
        id2label = self._model.config.id2label
        self.labels = tuple(str(id2label[i]) for i in range(len(id2label)))
        self._mapped = map_labels(ref, self.labels)
        self._masked = bool(getattr(self._extractor, "return_attention_mask", False))

    def classify(self, clips: Sequence[np.ndarray]) -> list[EmotionScores]:
        batches = [list(clips)] if self._masked else [[clip] for clip in clips]
        return [scores for batch in batches if batch for scores in self._classify_batch(batch)]

    def _classify_batch(self, clips: list[np.ndarray]) -> list[EmotionScores]:
        inputs = self._extractor(
            clips,
            sampling_rate=SAMPLE_RATE_HZ,
            padding=True,
            return_tensors="pt",
            **({"return_attention_mask": True} if self._masked else {}),
        )
        with self._torch.inference_mode():
            logits = self._model(**inputs).logits
        probabilities = self._torch.softmax(logits.float(), dim=-1).numpy()
        return [EmotionScores.from_probabilities(to_seven(self._mapped, row)) for row in probabilities]
