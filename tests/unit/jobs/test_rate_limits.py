"""Rate limits in the shared database, on real SQLite and PostgreSQL: two limiters on one database (two
API nodes) limit a key as one, the window slides by slots, and concurrent hits never overshoot."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa

from openasr.core.errors import ThrottledError
from openasr.jobs.rate_limits import SLOTS_PER_WINDOW, SharedRateLimiter
from openasr.jobs.schema import rate_limits
from openasr.jobs.store import TaskStore
from unit.jobs.clock import Clock

T0 = 1_767_261_600.0  # on a slot boundary (a multiple of 10 s)
WINDOW_S = 60.0
SLOT_S = WINDOW_S / SLOTS_PER_WINDOW


def _hits(limiter: SharedRateLimiter, key: str, n: int) -> int:
    """How many of `n` hits were admitted."""
    admitted = 0
    for _ in range(n):
        try:
            limiter.hit(key)
            admitted += 1
        except ThrottledError:
            pass
    return admitted


def _rows(store: TaskStore) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(rate_limits)).scalar_one())


def test_two_nodes_on_one_database_share_the_limit(store: TaskStore, store_url: str, clock: Clock) -> None:
    other = TaskStore(store_url, clock=clock)  # a second node: its own connection pool
    try:
        node_a = SharedRateLimiter(store.engine, 5, WINDOW_S, clock=clock)
        node_b = SharedRateLimiter(other.engine, 5, WINDOW_S, clock=clock)
        for i in range(5):
            (node_a if i % 2 == 0 else node_b).hit("key-1")
        for node in (node_a, node_b):
            with pytest.raises(ThrottledError) as refused:
                node.hit("key-1")
            assert refused.value.code == "Throttling.RateQuota"
            assert refused.value.retry_after_s == WINDOW_S  # every hit is in the current slot
        node_b.hit("key-2")  # another key has its own window
    finally:
        other.close()


def test_the_window_slides_by_slots_and_refusals_are_not_counted(store: TaskStore, clock: Clock) -> None:
    limiter = SharedRateLimiter(store.engine, 4, WINDOW_S, clock=clock)
    assert _hits(limiter, "k", 2) == 2  # slot 0
    clock.advance(2 * SLOT_S)
    assert _hits(limiter, "k", 5) == 2  # slot 2: two more, then three refused (not counted)
    with pytest.raises(ThrottledError) as refused:
        limiter.hit("k")
    assert refused.value.retry_after_s == round(WINDOW_S - 2 * SLOT_S)  # when slot 0 leaves the window
    clock.advance(WINDOW_S - 2 * SLOT_S)  # slot 0 has left the window; slot 2 has not
    assert _hits(limiter, "k", 3) == 2
    clock.advance(2 * SLOT_S)  # slot 2 has left too
    assert _hits(limiter, "k", 4) == 2


def test_expired_slots_are_deleted_once_a_window(store: TaskStore, clock: Clock) -> None:
    limiter = SharedRateLimiter(store.engine, 100, WINDOW_S, clock=clock)
    for key in ("a", "b", "c"):
        limiter.hit(key)
    assert _rows(store) == 3
    clock.advance(WINDOW_S + SLOT_S)
    limiter.hit("a")
    assert _rows(store) == 1  # only the new slot of "a" is left


def test_a_zero_limit_counts_nothing(store: TaskStore, clock: Clock) -> None:
    limiter = SharedRateLimiter(store.engine, 0, WINDOW_S, clock=clock)
    assert _hits(limiter, "k", 20) == 20
    assert _rows(store) == 0


def test_concurrent_hits_from_many_threads_never_overshoot(store: TaskStore, store_url: str, clock: Clock) -> None:
    other = TaskStore(store_url, clock=clock)
    try:
        nodes = [SharedRateLimiter(s.engine, 10, WINDOW_S, clock=clock) for s in (store, other)]
        with ThreadPoolExecutor(max_workers=8) as pool:
            admitted = list(pool.map(lambda i: _hits(nodes[i % 2], "hot", 5), range(8)))
        assert sum(admitted) == 10
    finally:
        other.close()


def test_an_unreachable_database_admits_and_complains_once_a_window(
    tmp_path: Path, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    """The counters are protection, not a dependency of recognition: while they cannot be reached,
    requests pass (uncounted), and the log says so without a line per request."""
    pytest.importorskip("psycopg")
    gone = sa.create_engine(f"postgresql+psycopg://postgres@/openasr?host={tmp_path}&port=1")  # no server there
    limiter = SharedRateLimiter(gone, 1, WINDOW_S, clock=clock)
    with caplog.at_level(logging.ERROR, logger="openasr.rate_limits"):
        assert _hits(limiter, "k", 3) == 3
        clock.advance(WINDOW_S)
        assert _hits(limiter, "k", 2) == 2
    assert [r.getMessage() for r in caplog.records] == [
        "rate limits: the database failed; requests are admitted uncounted meanwhile"
    ] * 2
