"""Give freed heap memory back to the operating system once a burst of work is over.

Sync requests run on many threads (the server's thread pool); glibc gives each busy thread its own
malloc arena, and memory freed in an arena stays mapped to the process for reuse. After a burst of
concurrent requests (decoded audio, base64 bodies, VAD buffers, results) the process therefore kept
about a third of its peak growth although nothing referenced it any more (bench/load.py, 25 clients,
2 shared cores: 362 MB idle, 823 MB peak, 539 MB five seconds later). `malloc_trim(0)` returns those
free pages (same run with it: 287 MB idle, 777 MB peak, 399 MB after; what stays is mostly CTranslate2's
own buffer cache, sized by the largest batch seen). It runs only when no sync work is left, so it never
competes with a request.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from collections.abc import Callable

log = logging.getLogger("openasr.runtime")


def _load_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim: Callable[[int], int] = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS): their allocators return memory themselves
        return None
    return trim


_TRIM = _load_trim()


def release_free_memory() -> None:
    """Return free heap pages of every arena to the OS; a no-op where the C library has no `malloc_trim`."""
    if _TRIM is not None:
        _TRIM(0)
