"""``data:<mime>;base64,<payload>`` audio references, decoded chunk by chunk straight to a temp file.

Split from `openasr.audio.sources` because strict, streaming base64 with a size limit checked before
decoding is a job of its own; the dispatch there only picks it for ``data:`` references.
"""

from __future__ import annotations

import base64
import math
import mimetypes
import re
from pathlib import Path

from openasr.audio.spool import PARAM, Spooled, new_temp, safe_suffix, too_large
from openasr.core.errors import InvalidParameterError

_DATA_CHUNK_CHARS = 1 << 20
_B64_WHITESPACE = " \t\r\n\f\v"
_B64_STRIP = str.maketrans("", "", _B64_WHITESPACE)
_MAX_DATA_HEADER_CHARS = 1024
_B64_GROUPS = re.compile(r"[A-Za-z0-9+/]*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")
_RAW_PCM_MIMES = {"audio/pcm": ".pcm", "audio/l16": ".pcm", "audio/x-pcm": ".pcm", "audio/raw": ".pcm"}
"""Headerless PCM has no magic bytes; the MIME type is the only hint, and the decoder reads `.pcm` as raw."""


def decode_data_uri(ref: str, max_size_bytes: int, workdir: Path, temps: list[Path]) -> Spooled:
    """Decode ``data:<mime>;base64,<payload>`` to a temp file without copying the whole payload.

    Size rule: the limit applies to the *decoded* audio, so the same file is accepted whether it is sent
    by URL or inline. The real service counts the encoded size (spec §11), so we are more lenient by
    4/3; a lenient server breaks no client. The check happens before decoding: a payload with more
    base64 characters (whitespace not counted) than the longest encoding of `max_size_bytes` is refused
    outright; the exact decoded count is checked again while writing.
    """
    comma = ref.find(",", 5, 5 + _MAX_DATA_HEADER_CHARS)
    if comma < 0:
        raise InvalidParameterError("audio data URI must look like data:<mime>;base64,<data>", param=PARAM)
    params = ref[5:comma].split(";")
    if len(params) < 2 or params[-1].strip().lower() != "base64":
        raise InvalidParameterError("audio data URI must be base64-encoded (data:<mime>;base64,<data>)", param=PARAM)
    mime = params[0].strip().lower() or None
    start = comma + 1
    encoded_chars = (len(ref) - start) - sum(ref.count(ch, start) for ch in _B64_WHITESPACE)
    if encoded_chars == 0:
        raise InvalidParameterError("audio data URI has no data", param=PARAM)
    if encoded_chars > 4 * math.ceil(max_size_bytes / 3):
        raise too_large(max_size_bytes)

    suffix = _RAW_PCM_MIMES.get(mime.lower(), "") if mime else ""
    suffix = suffix or ((mimetypes.guess_extension(mime) or "") if mime else "")
    path, out = new_temp(workdir, safe_suffix(suffix), temps)
    size = 0
    carry = ""
    padded = False
    with out:
        for pos in range(start, len(ref), _DATA_CHUNK_CHARS):
            text = carry + ref[pos : pos + _DATA_CHUNK_CHARS].translate(_B64_STRIP)
            usable = len(text) - len(text) % 4
            piece, carry = text[:usable], text[usable:]
            if not piece:
                continue
            if padded:  # data after '=' padding
                raise _bad_base64()
            padded = piece.endswith("=")
            size += out.write(_b64decode(piece))
            if size > max_size_bytes:
                raise too_large(max_size_bytes)
        if carry:  # tolerate missing padding; one leftover character can never be valid
            if padded or len(carry) == 1:
                raise _bad_base64()
            size += out.write(_b64decode(carry + "=" * (-len(carry) % 4)))
            if size > max_size_bytes:
                raise too_large(max_size_bytes)
    return Spooled(path, size, mime)


def _b64decode(text: str) -> bytes:
    """Strict decode of whole 4-character groups: '=' only as the padding of the last group."""
    if not _B64_GROUPS.fullmatch(text):
        raise _bad_base64()
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except ValueError as exc:  # binascii.Error and UnicodeEncodeError are both ValueErrors
        raise _bad_base64() from exc


def _bad_base64() -> InvalidParameterError:
    return InvalidParameterError("audio data URI is not valid base64", param=PARAM)
