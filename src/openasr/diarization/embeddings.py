"""CAM++ speaker embeddings on onnxruntime: one session per process, batched windows, bounded threads.

The ONNX file ships in the package (`models/`, built by `scripts/export_campplus.py`) and is checked
against its sha256 when first loaded, so a damaged install fails with a clear message instead of
producing wrong speakers. The session is made on first use only: a process that never diarizes never
loads it. onnxruntime's `run` is thread-safe, so every recognition shares it; its own threads are
bounded (`THREADS`) so diarization never takes more cores than it was given.
"""

from __future__ import annotations

import hashlib
import threading
from importlib import resources
from pathlib import Path

import numpy as np

from openasr.core.errors import ModelUnavailableError
from openasr.core.types import SAMPLE_RATE_HZ
from openasr.diarization.fbank import SHIFT_SAMPLES, fbank, frame_count, log_mel

MODEL_FILE = "campplus_cn_en_common.onnx"
MODEL_SHA256 = "7482952ce8262b2271c110e07a4104636e549aedba14350997ae41c5e7b6f6a3"
DIMENSIONS = 192
THREADS = 1
"""onnxruntime threads: one, so embedding windows beside the engine takes one core, not all of them."""
BATCH = 4
"""Windows per model call. CAM++'s activations grow with the batch: one process's peak RSS grew by 264 MB
embedding 32 windows a call, by 83 MB at 4 (session included), at the same 31 ms a window on one thread."""
MIN_CLIP_S = 2.0
MAX_CLIP_S = 10.0
"""A reference clip's allowed length (`embed_clip`), as OpenAI bounds `known_speaker_references`."""

_lock = threading.Lock()
_session = None


def model_path() -> Path:
    return Path(str(resources.files("openasr.diarization") / "models" / MODEL_FILE))


def _load():
    """The shared session, made on first use after the file's sha256 is checked."""
    global _session
    with _lock:
        if _session is None:
            import onnxruntime as ort

            path = model_path()
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            if digest != MODEL_SHA256:
                raise ModelUnavailableError(f"speaker model {path} is damaged (sha256 {digest}); reinstall openasr")
            options = ort.SessionOptions()
            options.intra_op_num_threads = THREADS
            options.inter_op_num_threads = 1
            _session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        return _session


def _normalise(vectors: np.ndarray) -> np.ndarray:
    return (vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-9)).astype(np.float32)


def _window_features(samples: np.ndarray, windows: np.ndarray) -> list[np.ndarray]:
    """Each window's mean-normalised fbank; windows starting on the 10 ms frame grid (as
    `diarization.windows` places them) are slices of one pass over the samples."""
    if np.all(windows[:, 0] % SHIFT_SAMPLES == 0):
        feats = log_mel(samples)
        out = []
        for a, b in windows:
            part = feats[a // SHIFT_SAMPLES : a // SHIFT_SAMPLES + frame_count(b - a)]
            out.append(part - part.mean(axis=0, keepdims=True))
        return out
    return [fbank(samples[a:b]) for a, b in windows]


def embed_windows(samples: np.ndarray, windows: np.ndarray) -> np.ndarray:
    """(n, 192) L2-normalised embeddings of windows of `samples` ((n, 2) sample offsets [start, end));
    windows of one length go to the model together, `BATCH` at a time."""
    out = np.zeros((len(windows), DIMENSIONS), dtype=np.float32)
    if len(windows) == 0:
        return out
    session = _load()
    features = _window_features(samples, windows)
    lengths = windows[:, 1] - windows[:, 0]
    for length in np.unique(lengths):
        rows = np.flatnonzero(lengths == length)
        for i in range(0, len(rows), BATCH):
            batch = rows[i : i + BATCH]
            out[batch] = session.run(None, {"feats": np.stack([features[r] for r in batch])})[0]
    return _normalise(out)


def embed_clip(samples16k: np.ndarray) -> np.ndarray:
    """The 192-d, L2-normalised embedding of a whole 2–10 s reference clip (16 kHz mono float32)."""
    seconds = len(samples16k) / SAMPLE_RATE_HZ
    if not MIN_CLIP_S <= seconds <= MAX_CLIP_S:
        raise ValueError(f"a reference clip must last {MIN_CLIP_S:g}–{MAX_CLIP_S:g} s, not {seconds:.2f} s")
    feats = fbank(np.asarray(samples16k, dtype=np.float32))[None]
    return _normalise(_load().run(None, {"feats": feats})[0])[0]
