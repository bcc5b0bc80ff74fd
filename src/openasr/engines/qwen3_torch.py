"""Where Qwen3 models run: the device and dtype from settings, resolved once for torch.

"auto" picks CUDA when torch sees a GPU, else the CPU; bfloat16 on CUDA (what the checkpoints are
published in) and float32 on the CPU (bfloat16 matmuls are slow or missing on most CPUs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from openasr.core.errors import ModelUnavailableError


@dataclass(frozen=True)
class TorchPlacement:
    device: str
    dtype: Any
    """A `torch.dtype`; typed loosely so that importing this module never imports torch."""


def torch_placement(device: str = "auto", dtype: str = "auto") -> TorchPlacement:
    try:
        import torch
    except ImportError as exc:
        raise ModelUnavailableError('Qwen3-ASR needs torch and transformers: pip install "openasr[qwen3]"') from exc
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ModelUnavailableError(f"device {device!r} asked for, but torch sees no CUDA GPU")
    if dtype == "auto":
        dtype = "bfloat16" if device.startswith("cuda") else "float32"
    resolved = getattr(torch, dtype, None)
    if not isinstance(resolved, torch.dtype):
        raise ModelUnavailableError(f"unknown dtype {dtype!r}: use auto, float32, bfloat16 or float16")
    return TorchPlacement(device, resolved)
