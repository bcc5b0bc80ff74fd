"""The 80-bin Kaldi log-mel fbank CAM++ was trained on, in numpy (no torch, no native library).

Kaldi's defaults as 3D-Speaker calls them: 25 ms Povey windows every 10 ms, DC removal, pre-emphasis 0.97,
a 512-point power spectrum, mel banks from 20 Hz to Nyquist, no dither, snip edges; then the mean over
time is subtracted (CAM++ expects mean-normalised features). It matches `kaldi-native-fbank` to 5e-4.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

NUM_BINS = 80
FRAME_SAMPLES = 400
SHIFT_SAMPLES = 160
_FFT = 512
_RATE = 16_000


def _mel(hz: np.ndarray | float) -> np.ndarray:
    return np.asarray(1127.0 * np.log(1.0 + np.asarray(hz, dtype=np.float64) / 700.0))


@lru_cache(maxsize=1)
def _mel_banks() -> np.ndarray:
    """(bins, fft/2 + 1) triangular filters on the mel scale, Kaldi's layout (a zero Nyquist column)."""
    low, high = _mel(20.0), _mel(_RATE / 2.0)
    delta = (high - low) / (NUM_BINS + 1)
    b = np.arange(NUM_BINS)[:, None]
    left, center, right = low + b * delta, low + (b + 1) * delta, low + (b + 2) * delta
    m = _mel(_RATE / _FFT * np.arange(_FFT // 2))[None, :]
    weights = np.maximum(0.0, np.minimum((m - left) / (center - left), (right - m) / (right - center)))
    return np.concatenate([weights, np.zeros((NUM_BINS, 1))], axis=1).T


@lru_cache(maxsize=1)
def _window() -> np.ndarray:
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(FRAME_SAMPLES) / (FRAME_SAMPLES - 1))) ** 0.85


def frame_count(samples: int) -> int:
    return 1 + (max(samples, FRAME_SAMPLES) - FRAME_SAMPLES) // SHIFT_SAMPLES


def fbank(samples: np.ndarray) -> np.ndarray:
    """(frames, 80) float32 mean-normalised log-mel features of 16 kHz mono samples."""
    feats = log_mel(samples)
    return feats - feats.mean(axis=0, keepdims=True)


def log_mel(samples: np.ndarray) -> np.ndarray:
    """(frames, 80) float32 log-mel features before mean normalisation: frame k covers samples
    [160k, 160k + 400), so the features of a stretch starting on a multiple of 160 samples are a slice of
    these (overlapping windows share one computation)."""
    wav = np.asarray(samples, dtype=np.float32)
    if len(wav) < FRAME_SAMPLES:
        wav = np.pad(wav, (0, FRAME_SAMPLES - len(wav)))
    n = frame_count(len(wav))
    idx = np.arange(FRAME_SAMPLES)[None, :] + SHIFT_SAMPLES * np.arange(n)[:, None]
    frames = wav[idx].astype(np.float64)
    frames -= frames.mean(axis=1, keepdims=True)
    frames -= 0.97 * np.concatenate([frames[:, :1], frames[:, :-1]], axis=1)
    frames *= _window()
    power = np.abs(np.fft.rfft(frames, n=_FFT)) ** 2
    return np.log(np.maximum(power @ _mel_banks(), np.finfo(np.float32).eps)).astype(np.float32)
