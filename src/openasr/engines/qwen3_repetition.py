"""Qwen3-ASR's clean-up of a looping output, applied to the raw answer before it is parsed.

Over noise or music the model can loop ("好的好的好的…" until the token budget runs out). Both references
collapse such loops before parsing: qwen-asr's `detect_and_fix_repetitions(text, threshold=20)`
(QwenLM/Qwen3-ASR `qwen_asr/inference/utils.py`, lines 335-400, called from `parse_asr_output`, line 432)
and vLLM's serving of the same model through that package. This is our own implementation of the same
two rules, so that the in-process engine and the remote one keep the same text:

1. a character repeated more than `threshold` times in a row is kept once;
2. then, scanning left to right, the first substring of 1-20 characters that repeats at least
   `threshold` times back to back is kept once, and the scan goes on after the last repetition.
"""

from __future__ import annotations

import re

REPETITION_THRESHOLD = 20
_MAX_PATTERN_CHARS = 20


def fix_repetitions(text: str, threshold: int = REPETITION_THRESHOLD) -> str:
    """`text` with its loops collapsed (both rules above); text without loops comes back unchanged."""
    runs = re.compile(r"(.)\1{" + str(threshold) + ",}", re.DOTALL)
    return _collapse_patterns(runs.sub(r"\1", text), threshold)


def _collapse_patterns(text: str, threshold: int) -> str:
    out: list[str] = []
    i = 0
    n = len(text)
    while i <= n - 2 * threshold:
        k = _repeat_length(text, i, threshold)
        if not k:
            out.append(text[i])
            i += 1
            continue
        out.append(text[i : i + k])
        i = _run_end(text, i, k)
    out.append(text[i:])
    return "".join(out)


def _repeat_length(text: str, i: int, threshold: int) -> int:
    """The shortest pattern at `i` that repeats `threshold` times back to back (0 where none does)."""
    for k in range(1, _MAX_PATTERN_CHARS + 1):
        if i + k * threshold > len(text):
            return 0
        if text[i : i + k * threshold] == text[i : i + k] * threshold:
            return k
    return 0


def _run_end(text: str, i: int, k: int) -> int:
    """Where the repetitions of the `k` characters at `i` stop."""
    end = i + k
    while text[end : end + k] == text[i : i + k]:
        end += k
    return end
