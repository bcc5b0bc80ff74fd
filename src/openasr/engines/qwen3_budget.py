"""How many tokens Qwen3-ASR may write for one chunk: scaled with the chunk's duration.

qwen-asr decodes with `max_new_tokens=512` for chunks of up to 30 s (QwenLM/Qwen3-ASR
`qwen_asr/inference/qwen3_asr.py`, line 153); fast speech (Hindi, Spanish) reaches about 15 text tokens
a second. The budget here is the header (`language X<asr_text>`) plus 17 tokens a second, 526 for 30 s,
so a short chunk that loops stops early and a long fast one is not cut. A chunk that still reaches its
budget is reported as cut (`Recognition.truncated`), never silently.
"""

from __future__ import annotations

import math

HEADER_TOKENS = 16
TOKENS_PER_SECOND = 17
MIN_TOKENS = 32


def max_new_tokens(duration_s: float, cap: int | None = None) -> int:
    """The budget of a chunk of `duration_s` seconds, at most `cap` where one is configured."""
    budget = max(MIN_TOKENS, HEADER_TOKENS + math.ceil(TOKENS_PER_SECOND * max(0.0, duration_s)))
    return min(budget, cap) if cap else budget
