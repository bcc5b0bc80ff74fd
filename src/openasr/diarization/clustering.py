"""Speaker clusters from window embeddings: agglomerative on cosine similarity, bounded for any length.

Clusters merge pairwise, most similar centroids first (a centroid is its members' summed embedding, so a
cluster's weight is its size), until `count` remain when the caller gave it, else until no two
clusters are more similar than `MERGE_SIMILARITY` (the automatic count). Past `MAX_DIRECT` windows (about
12 minutes of speech) the windows are first merged in time-ordered blocks of `BLOCK`
(sure merges only, plus enough to bound the number of pieces), and the pieces are clustered: memory and
time stay bounded for a 12-hour file. Then every window goes to its nearest centroid (two passes), which
repairs what greedy merging got wrong; with an automatic count, clusters too small to be a speaker
(`min_share`) are folded into their nearest neighbour.
"""

from __future__ import annotations

import numpy as np

MERGE_SIMILARITY = 0.42
"""Automatic count: two clusters are one speaker while their centroids' cosine is above this. On 12 one-minute
mixes of 2–4 of bench/diarization.py's speakers every value from 0.3 to 0.55 found every count exactly;
this is the middle."""
SURE_SIMILARITY = 0.6
"""Block merging (long files): pieces this similar are surely one speaker."""
MAX_DIRECT = 1000
BLOCK = 200
MIN_PIECES = 10
"""Block merging keeps at least this many pieces of a block (more than the speakers of 200 windows, about
2.5 minutes of speech), so forced merges never join two speakers; a second round reduces the pieces."""
MIN_SHARE = 0.03
"""Automatic count: a cluster with less of the speech than this is folded into its nearest neighbour."""


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def merge(sums: np.ndarray, *, target: int, threshold: float) -> np.ndarray:
    """Merge rows (summed embeddings) most-similar-first while more than `target` remain or the best pair
    is above `threshold`; each row's cluster index (0..k-1, in order of first row)."""
    m = len(sums)
    sums = sums.astype(np.float64)  # a copy: merging adds into it
    sim = _unit(sums) @ _unit(sums).T
    np.fill_diagonal(sim, -np.inf)
    owner = np.arange(m)
    live = np.ones(m, dtype=bool)
    alive = m
    while alive > 1:
        flat = int(np.argmax(sim))
        i, j = divmod(flat, m)
        if alive <= target and sim[i, j] <= threshold:
            break
        sums[i] += sums[j]
        owner[owner == j] = i
        live[j] = False
        sim[j, :] = -np.inf
        sim[:, j] = -np.inf
        row = _unit(sums) @ _unit(sums[i])
        row[~live] = -np.inf
        row[i] = -np.inf
        sim[i, :] = row
        sim[:, i] = row
        alive -= 1
    _, labels = np.unique(owner, return_inverse=True)
    return labels


def _reduce(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Time-ordered blocks merged into pieces: the pieces' summed vectors and each row's piece."""
    target = max(MIN_PIECES, BLOCK * MAX_DIRECT // (2 * len(vectors)))
    pieces: list[np.ndarray] = []
    labels = np.empty(len(vectors), dtype=np.int64)
    for a in range(0, len(vectors), BLOCK):
        block = vectors[a : a + BLOCK]
        local = merge(block, target=target, threshold=SURE_SIMILARITY)
        labels[a : a + BLOCK] = local + len(pieces)
        pieces += [block[local == k].sum(axis=0) for k in range(local.max() + 1)]
    return np.stack(pieces), labels


def _refine(embeddings: np.ndarray, labels: np.ndarray, passes: int = 2) -> np.ndarray:
    """Each window to its nearest centroid, while no cluster empties (the count stays what it was)."""
    k = int(labels.max()) + 1
    for _ in range(passes):
        centroids = np.stack([embeddings[labels == c].sum(axis=0) for c in range(k)])
        moved = np.argmax(embeddings @ _unit(centroids).T, axis=1)
        if len(np.unique(moved)) < k:
            break
        labels = moved
    return labels


def _fold_small(embeddings: np.ndarray, labels: np.ndarray, min_share: float) -> np.ndarray:
    counts = np.bincount(labels)
    keep = np.flatnonzero(counts >= max(1.0, min_share * len(labels)))
    if len(keep) == 0 or len(keep) == len(counts):
        return labels
    centroids = _unit(np.stack([embeddings[labels == c].sum(axis=0) for c in keep]))
    return keep[np.argmax(embeddings @ centroids.T, axis=1)]


def cluster(embeddings: np.ndarray, count: int | None = None, *, min_share: float = MIN_SHARE) -> np.ndarray:
    """A speaker index per window (L2-normalised rows): exactly `count` speakers when given (fewer only
    if there are fewer windows), else as many as the similarities say."""
    n = len(embeddings)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    vectors, rows = embeddings, np.arange(n)
    while len(vectors) > MAX_DIRECT:
        vectors, piece = _reduce(vectors)
        rows = piece[rows]
    target = min(count, len(vectors)) if count is not None else len(vectors)
    threshold = np.inf if count is not None else MERGE_SIMILARITY
    labels = merge(vectors, target=target, threshold=threshold)[rows]
    del vectors
    labels = _refine(embeddings, labels)
    if count is None:
        labels = _fold_small(embeddings, labels, min_share)
    _, labels = np.unique(labels, return_inverse=True)
    return labels
