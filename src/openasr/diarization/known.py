"""Naming speakers after the caller's reference voices: one name per cluster, one cluster per name.

The pair of (cluster centroid, reference embedding) with the highest cosine is matched first, then the
next among those left, as long as the cosine reaches `MATCH_SIMILARITY`; a reference that matches no
cluster names nobody, and a cluster that matches no reference keeps no name.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

MATCH_SIMILARITY = 0.4
"""Cosine between a speaker's centroid and a 2–10 s reference of the same voice: CAM++ puts
different speakers' centroids mostly below 0.4 and halves of one speaker's speech above 0.8."""


def centroids(embeddings: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(k, d) L2-normalised mean embedding of each cluster 0..k-1."""
    k = int(labels.max()) + 1 if len(labels) else 0
    sums = np.stack([embeddings[labels == c].sum(axis=0) for c in range(k)]) if k else np.zeros((0, 1))
    return sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-9)


def match_names(centres: np.ndarray, names: Sequence[str], references: np.ndarray) -> dict[int, str]:
    """Cluster index -> name, for the clusters that match a reference."""
    if len(names) == 0 or len(centres) == 0:
        return {}
    sim = centres @ references.T
    matched: dict[int, str] = {}
    while True:
        c, r = divmod(int(np.argmax(sim)), sim.shape[1])
        if sim[c, r] < MATCH_SIMILARITY:
            return matched
        matched[c] = names[r]
        sim[c, :] = -np.inf
        sim[:, r] = -np.inf
