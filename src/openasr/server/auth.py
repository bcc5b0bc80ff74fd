"""API keys and per-key rate limits, which the gate (`server.gate`) applies to every surface.

With no keys configured any key (or none) is accepted — `openasr serve` then binds to loopback only.
`RateLimiter` is a sliding window per key in memory, for one server on its own database; with a
shared database (`OPENASR_DATABASE_URL`, several API nodes) the server uses
`jobs.rate_limits.SharedRateLimiter` instead, so a key's limit holds across nodes.
"""

from __future__ import annotations

import hmac
import math
import threading
import time
from collections import deque
from typing import Protocol

from openasr.core.errors import InvalidApiKeyError, ThrottledError


class KeyRing:
    def __init__(self, keys: tuple[str, ...]) -> None:
        self._keys = keys

    @property
    def open(self) -> bool:
        return not self._keys

    def check(self, authorization: str | None) -> str | None:
        """Return the presented key (None when absent and allowed); raise `InvalidApiKeyError` otherwise."""
        key = None
        if authorization:
            scheme, _, value = authorization.partition(" ")
            key = value.strip() if scheme.lower() == "bearer" else authorization.strip()
        if self.open:
            return key
        if key and any(hmac.compare_digest(key.encode(), known.encode()) for known in self._keys):
            return key
        raise InvalidApiKeyError("Invalid API-key provided.")


class Limiter(Protocol):
    def hit(self, key: str) -> None:
        """Count one request of `key`, or raise `ThrottledError`. May block on a database: call it off
        the event loop."""


class RateLimiter:
    """At most `limit` requests per `window_s` per key; 0 disables the limit."""

    def __init__(self, limit: int, window_s: float = 60.0) -> None:
        self._limit = limit
        self._window_s = window_s
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str) -> None:
        if self._limit <= 0:
            return
        now = time.monotonic()
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and now - hits[0] >= self._window_s:
                hits.popleft()
            if len(hits) >= self._limit:
                retry = max(1, math.ceil(self._window_s - (now - hits[0])))
                raise ThrottledError("Requests rate limit exceeded, please try again later.", retry_after_s=retry)
            hits.append(now)
