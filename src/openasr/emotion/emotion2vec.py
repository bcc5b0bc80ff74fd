"""emotion2vec+ (`emotion2vec_plus_base` / `_large` / `_seed`) through FunASR's own loading code; needs the
`emotion2vec` extra (funasr, about 35 more packages, hence apart from `emotion`).

Its nine classes are the service's seven plus `other` and `<unk>`, which the label table drops (see
`labels`). FunASR classifies each clip of a `generate` call on its own (no padding), so results never
depend on the batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from openasr.core.errors import ModelUnavailableError
from openasr.emotion.classifier import EmotionScores
from openasr.emotion.labels import map_labels, to_seven


class Emotion2vecClassifier:
    """`ref`: a directory, or a hub id fetched by FunASR into its hub's own cache: ModelScope for `iic/…`
    and `damo/…` ids (where emotion2vec was first published), Hugging Face otherwise."""

    def __init__(self, ref: str) -> None:
        try:
            from funasr import AutoModel
        except ImportError as exc:
            raise ModelUnavailableError(
                f"emotion model {ref}: FunASR is not installed; run: pip install 'openasr[emotion2vec]'"
            ) from exc
        hub = {} if Path(ref).is_dir() else {"hub": "ms" if ref.startswith(("iic/", "damo/")) else "hf"}
        try:
            self._model: Any = AutoModel(
                model=ref, device="cpu", disable_update=True, disable_pbar=True, log_level="ERROR", **hub
            )
        except (OSError, ValueError, AssertionError, KeyError) as exc:  # missing files, no hub, not FunASR's
            raise ModelUnavailableError(f"could not load emotion model {ref}: {exc}") from exc
        self.name = ref
        tokenizer = self._model.kwargs.get("tokenizer")
        tokens = [str(t) for t in getattr(tokenizer, "token_list", None) or []]
        self.labels = tuple(t for t in tokens if not t.startswith("unuse"))  # as FunASR's inference reports them
        self._mapped = map_labels(ref, self.labels)

    def classify(self, clips: Sequence[np.ndarray]) -> list[EmotionScores]:
        if not clips:
            return []
        results = self._model.generate(
            [np.asarray(c, dtype=np.float32) for c in clips], granularity="utterance", extract_embedding=False
        )
        return [EmotionScores.from_probabilities(self._scores(r)) for r in results]

    def _scores(self, result: dict[str, Any]) -> dict[str, float]:
        if tuple(result["labels"]) != self.labels:
            raise RuntimeError(f"emotion2vec answered with classes {result['labels']}, not {list(self.labels)}")
        return to_seven(self._mapped, result["scores"])
