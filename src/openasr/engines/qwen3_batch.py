"""A batch of Qwen3-ASR inputs built item by item, then padded, so an item's inputs do not depend on
its batch.

transformers' processor extracts the features of a whole batch at once; its feature extractor rescales
the padded attention mask, which gives an item whose length is not a multiple of 160 samples (one mel
hop) one more frame inside a batch than alone (32,001 samples: 200 frames and 26 audio tokens alone, 201
and 27 beside a longer item). Processing each item on its own and padding afterwards keeps every item's
frames, audio tokens and prompt exactly as they are alone: token rows are padded on the left (generation
continues from the right end), feature frames on the right with their mask at 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

_LEFT = ("input_ids", "attention_mask")
_RIGHT = ("input_features", "input_features_mask")


def pad_items(items: Sequence[dict[str, Any]], pad_token_id: int) -> dict[str, Any]:
    """One batch from single-item processor outputs (each tensor with a batch dimension of 1)."""
    import torch

    out: dict[str, Any] = {}
    for key in items[0]:
        rows = [item[key] for item in items]
        if key not in _LEFT + _RIGHT:
            out[key] = torch.cat(rows)
            continue
        width = max(int(row.shape[-1]) for row in rows)
        value = pad_token_id if key == "input_ids" else 0
        padded = []
        for row in rows:
            pad = torch.full((*row.shape[:-1], width - row.shape[-1]), value, dtype=row.dtype)
            padded.append(torch.cat([pad, row] if key in _LEFT else [row, pad], dim=-1))
        out[key] = torch.cat(padded)
    return out
