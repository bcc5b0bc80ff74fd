"""The model's confidence in the `language X` line it writes, kept while decoding instead of after it.

`generate(output_scores=True)` keeps every step's full-vocabulary scores: about 0.6 MB a step and item
(151,936 float32), 26 GB at batch 32 when one item loops to its budget, for a figure that needs only the
few steps before `<asr_text>`. This logits processor runs last (transformers appends a caller's
processors after the generation config's, so it sees the scores greedy decoding chooses by), adds the
log-probability of each token chosen until the row writes `<asr_text>`, and stops doing any work once
every row has written it or had its language forced. It holds one step's log-probabilities at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class HeaderScores:
    """Call it as a `LogitsProcessor`; `confidence(generated)` after `generate` returns."""

    def __init__(self, marker_id: int, forced: Sequence[bool]) -> None:
        import torch

        self._marker = marker_id
        self._done = torch.tensor(list(forced), dtype=torch.bool)
        self._sums = torch.zeros(len(forced), dtype=torch.float64)
        self._previous: Any = None
        """Log-probabilities of the last step, for the rows still writing their header."""

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        if self._previous is not None:
            chosen = input_ids[:, -1]
            self._done = self._done.to(chosen.device)
            picked = self._previous.gather(-1, chosen.unsqueeze(-1)).squeeze(-1)
            writing = ~self._done & (chosen != self._marker)
            self._sums = self._sums.to(chosen.device) + torch.where(writing, picked.double(), 0.0)
            self._done = self._done | (chosen == self._marker)
            self._previous = None
        if not bool(self._done.all()):
            self._previous = scores.float().log_softmax(-1)
        return scores

    def confidence(self, generated: Any) -> list[float]:
        """Per row: the probability of its header's tokens; 1.0 where it wrote no `<asr_text>` (the
        language was forced, or decoding stopped before it)."""
        wrote = (generated == self._marker).any(-1).tolist()
        sums = self._sums.exp().tolist()
        return [float(p) if w else 1.0 for p, w in zip(sums, wrote, strict=True)]
