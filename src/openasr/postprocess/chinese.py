"""Traditional -> Simplified Chinese conversion.

Whisper often answers Mandarin in Traditional characters; the service promises Simplified for `zh`
(as the reference service does), so the pipeline converts recognised text with OpenCC's `t2s` table.
"""

from __future__ import annotations

import functools

from opencc import OpenCC


def to_simplified(text: str) -> str:
    """Convert Traditional Chinese characters in `text` to Simplified; other characters pass through."""
    if not text:
        return text
    return str(_converter().convert(text))


@functools.cache
def _converter() -> OpenCC:
    """Build the converter once, on first use: loading its dictionaries is the expensive part.

    `functools.cache` may build it twice if two threads race on the very first call; both results are
    equivalent and `convert` keeps no per-call state, so that is harmless.
    """
    return OpenCC("t2s")
