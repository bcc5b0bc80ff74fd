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

MAX_CLIPS_PER_CALL = 16
"""Clips per forward pass (each at most one 28 s chunk): a batch of four chunks of short sentences holds
up to ~75 clips, which padded into one tensor would cost memory for nothing."""


class TransformersEmotionClassifier:
    """Batches clips when the checkpoint was trained with an attention mask; otherwise classifies each
    clip alone, because zero padding changes the result of a model that cannot mask it (Wav2Vec2 base
    and its group-norm kin), and a clip's emotion must not depend on its batch."""

    def __init__(self, ref: str, *, cache_dir: Path | None = None) -> None:
        try:
            import torch
            from transformers import AutoFeatureExtractor, AutoModelForAudioClassification
            from transformers.utils import logging as transformers_logging
        except ImportError as exc:
            raise ModelUnavailableError(
                f"emotion model {ref}: transformers is not installed; run: pip install 'openasr[emotion]'"
            ) from exc
        transformers_logging.disable_progress_bar()  # "Loading weights" bars on stderr, around the CLI's output
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
        """Masked models: clips of similar length together, `MAX_CLIPS_PER_CALL` at a time, so padding and
        memory stay bounded however many callers' chunks a batch holds."""
        if not self._masked:
            return [self._classify_batch([clip])[0] for clip in clips]
        order = sorted(range(len(clips)), key=lambda i: len(clips[i]))
        out: dict[int, EmotionScores] = {}
        for start in range(0, len(order), MAX_CLIPS_PER_CALL):
            group = order[start : start + MAX_CLIPS_PER_CALL]
            out.update(zip(group, self._classify_batch([clips[i] for i in group]), strict=True))
        return [out[i] for i in range(len(clips))]

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
