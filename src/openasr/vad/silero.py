"""Silero VAD v6 (the ONNX file shipped inside faster-whisper), run incrementally.

faster-whisper's `get_speech_timestamps` needs the whole recording as one array; here the recurrent
state (h, c) and the 64-sample context are carried between calls, so a 12-hour file is scored block by
block with the same probabilities and flat memory.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

FRAME_SAMPLES = 512
"""Silero scores 32 ms frames at 16 kHz."""
_CONTEXT_SAMPLES = 64
_BATCH_FRAMES = 4096


def default_model_path() -> Path:
    import faster_whisper.utils

    return Path(faster_whisper.utils.get_assets_path()) / "silero_vad_v6.onnx"


class SileroVad:
    """Holds one ONNX session (thread-safe for `run`); hand each audio stream its own `SileroStream`."""

    def __init__(self, model_path: Path | None = None) -> None:
        import onnxruntime

        opts = onnxruntime.SessionOptions()
        opts.inter_op_num_threads = 1
        opts.intra_op_num_threads = 1
        opts.enable_cpu_mem_arena = False
        opts.log_severity_level = 4
        self._session = onnxruntime.InferenceSession(
            str(model_path or default_model_path()), providers=["CPUExecutionProvider"], sess_options=opts
        )

    def stream(self) -> SileroStream:
        return SileroStream(self._session)


class SileroStream:
    """Scores consecutive samples of one recording; `feed` returns one probability per full frame."""

    def __init__(self, session: object) -> None:
        self._session = session
        self._h = np.zeros((1, 1, 128), dtype=np.float32)
        self._c = np.zeros((1, 1, 128), dtype=np.float32)
        self._context = np.zeros(_CONTEXT_SAMPLES, dtype=np.float32)
        self._leftover = np.zeros(0, dtype=np.float32)

    def feed(self, samples: np.ndarray, *, final: bool = False) -> np.ndarray:
        data = np.concatenate([self._leftover, samples.astype(np.float32, copy=False)])
        if final and len(data) % FRAME_SAMPLES:
            data = np.pad(data, (0, FRAME_SAMPLES - len(data) % FRAME_SAMPLES))
        usable = len(data) - len(data) % FRAME_SAMPLES
        self._leftover = data[usable:]
        if usable == 0:
            return np.zeros(0, dtype=np.float32)
        frames = data[:usable].reshape(-1, FRAME_SAMPLES)
        contexts = np.vstack([self._context[None, :], frames[:-1, -_CONTEXT_SAMPLES:]])
        self._context = frames[-1, -_CONTEXT_SAMPLES:].copy()
        batch = np.concatenate([contexts, frames], axis=1)
        outputs = []
        for start in range(0, len(batch), _BATCH_FRAMES):
            out, self._h, self._c = self._session.run(  # type: ignore[attr-defined]
                None, {"input": batch[start : start + _BATCH_FRAMES], "h": self._h, "c": self._c}
            )
            outputs.append(np.asarray(out, dtype=np.float32).reshape(-1))
        return np.concatenate(outputs)


_shared: SileroVad | None = None
_shared_lock = threading.Lock()


def shared_vad() -> SileroVad:
    """The process-wide VAD session (loading it costs ~50 ms and 10 MB; one is enough)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = SileroVad()
        return _shared
