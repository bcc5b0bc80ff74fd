"""Per-key rate limits kept in the shared database, so that several API nodes limit a key as one.

Design (why it is cheap at 100 nodes): the window of `window_s` is cut into `SLOTS_PER_WINDOW` slots,
and the table holds one row per key per slot, ``(key_id, slot_ms) → hits``. A request is counted with
two statements in one short transaction, whatever the traffic:

1. ``SELECT sum(hits)`` of the key's earlier slots still inside the window (a primary-key range read of
   at most `SLOTS_PER_WINDOW - 1` rows; those slots are closed, so no node changes them any more);
2. an atomic upsert of the current slot, ``INSERT … ON CONFLICT (key_id, slot_ms) DO UPDATE SET hits =
   hits + 1 WHERE hits + :earlier < :limit RETURNING hits``: PostgreSQL locks the one row for the
   update and re-checks the condition on its latest version, SQLite runs it under its write lock, so
   concurrent requests on any number of nodes can never both take the last free hit. No row back means
   refused, and a refused request is not counted (like the in-memory limiter's).

So the database sees one indexed read and one single-row write per counted request, rows live a window
(each node deletes the expired ones once a window: one more statement per node per window), and the
table holds at most keys × `SLOTS_PER_WINDOW` live rows. Requests of one key serialise on one row for
the few milliseconds of the upsert; different keys never contend. The price of slots is a window that
slides in steps of `window_s / SLOTS_PER_WINDOW`: a hit is forgotten between (n-1)/n and one window after
it was made, so a burst right after a slot boundary may see up to 1/n of a window more than the exact
sliding window of `server.auth.RateLimiter` would give.

When the database cannot be reached the request is admitted and the failure logged (at most once a
window): the limit protects capacity, and refusing everything while the counters are unreachable would
turn a database outage into an outage of sync recognition, which does not need the database.

Times are this node's wall clock (epoch ms), as everywhere in the task store; nodes are assumed to run
NTP, and a skew of a few milliseconds only moves a hit between neighbouring slots.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from openasr.core.errors import ThrottledError
from openasr.jobs.schema import rate_limits

log = logging.getLogger("openasr.rate_limits")

SLOTS_PER_WINDOW = 6
"""Slots per window: 10 s steps for the 60 s window of the spec's RPM."""

THROTTLED_MESSAGE = "Requests rate limit exceeded, please try again later."


class SharedRateLimiter:
    """At most `limit` requests per `window_s` per key across every process using `engine`'s database;
    0 disables the limit. `clock` returns epoch seconds (tests move time without sleeping)."""

    def __init__(
        self, engine: sa.Engine, limit: int, window_s: float = 60.0, *, clock: Callable[[], float] = time.time
    ) -> None:
        if engine.dialect.name not in ("postgresql", "sqlite"):
            raise ValueError(f"shared rate limits need PostgreSQL or SQLite, not {engine.dialect.name}")
        self._engine = engine
        self._limit = limit
        self._slot_ms = max(1, round(window_s * 1000 / SLOTS_PER_WINDOW))
        self._clock = clock
        self._next_purge_ms = 0
        self._next_complaint_ms = 0
        self._purge_lock = threading.Lock()

    def hit(self, key: str) -> None:
        """Count one request of `key`, or raise `ThrottledError` (with when a hit frees) if it is over."""
        if self._limit <= 0:
            return
        now_ms = round(self._clock() * 1000)
        try:
            self._hit(key, now_ms)
        except sa.exc.DBAPIError:
            if now_ms >= self._next_complaint_ms:
                self._next_complaint_ms = now_ms + SLOTS_PER_WINDOW * self._slot_ms
                log.exception("rate limits: the database failed; requests are admitted uncounted meanwhile")

    def _hit(self, key: str, now_ms: int) -> None:
        current = now_ms - now_ms % self._slot_ms
        first = current - (SLOTS_PER_WINDOW - 1) * self._slot_ms
        with self._engine.begin() as conn:
            earlier = conn.execute(
                sa.select(rate_limits.c.slot_ms, rate_limits.c.hits)
                .where(rate_limits.c.key_id == key, rate_limits.c.slot_ms >= first, rate_limits.c.slot_ms < current)
                .order_by(rate_limits.c.slot_ms)
            ).all()
            counted = sum(int(row.hits) for row in earlier)
            if counted >= self._limit or conn.execute(self._count(key, current, counted)).first() is None:
                oldest = int(earlier[0].slot_ms) if earlier else current
                raise ThrottledError(THROTTLED_MESSAGE, retry_after_s=self._retry_after_s(oldest, now_ms))
        self._purge(now_ms, first)

    def _count(self, key: str, slot_ms: int, earlier: int) -> sa.Insert:
        insert = (postgresql.insert if self._engine.dialect.name == "postgresql" else sqlite.insert)(rate_limits)
        return (
            insert.values(key_id=key, slot_ms=slot_ms, hits=1)
            .on_conflict_do_update(
                index_elements=[rate_limits.c.key_id, rate_limits.c.slot_ms],
                set_={"hits": rate_limits.c.hits + 1},
                where=rate_limits.c.hits + earlier < self._limit,
            )
            .returning(rate_limits.c.hits)
        )

    def _retry_after_s(self, oldest_slot_ms: int, now_ms: int) -> int:
        """Seconds until the oldest counted slot leaves the window."""
        frees_ms = oldest_slot_ms + SLOTS_PER_WINDOW * self._slot_ms
        return max(1, math.ceil((frees_ms - now_ms) / 1000))

    def _purge(self, now_ms: int, first_live_ms: int) -> None:
        """Delete the rows of slots that left the window, at most once a window per process."""
        with self._purge_lock:
            if now_ms < self._next_purge_ms:
                return
            self._next_purge_ms = now_ms + SLOTS_PER_WINDOW * self._slot_ms
        with self._engine.begin() as conn:
            conn.execute(rate_limits.delete().where(rate_limits.c.slot_ms < first_live_ms))
