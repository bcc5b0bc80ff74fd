"""Traditional -> Simplified Chinese conversion.

Whisper often answers Mandarin in Traditional characters; the service promises Simplified for `zh`
(as the reference service does), so the pipeline converts recognised text with OpenCC's `t2s` table.
"""

from __future__ import annotations

import functools
import re

from opencc import OpenCC

_CJK = r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]"
_SPACE_BETWEEN_CJK = re.compile(rf"(?<={_CJK})\s+(?={_CJK})")


def remove_cjk_spaces(text: str) -> str:
    """Drop the spaces Whisper's leading-space tokens leave between Chinese characters ("广州市 房地产");
    spaces next to Latin words ("用 Python 写") stay."""
    return _SPACE_BETWEEN_CJK.sub("", text)


def is_cjk(ch: str) -> bool:
    return bool(re.fullmatch(_CJK, ch))


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
