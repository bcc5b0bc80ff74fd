"""TaskStore on real databases: a SQLite file in tmp_path and (when available) a throwaway PostgreSQL."""

from __future__ import annotations

import sqlite3
import threading
from collections import Counter
from pathlib import Path

import pytest

from openasr.core.options import TranscribeOptions
from openasr.core.types import DecoderStats, Sentence, Word
from openasr.jobs.database import sqlite_url
from openasr.jobs.errors import LeaseLostError, TaskNotCancelableError, TaskNotFoundError
from openasr.jobs.records import INTERRUPTED_MESSAGE, TaskFilter, TaskRecord, TaskStatus
from openasr.jobs.store import TaskStore
from openasr.pipeline import ChunkResult
from unit.jobs.clock import Clock

T0 = 1_767_261_600.0  # 2026-01-01 10:00:00 UTC


def _submit(store: TaskStore, n: int = 1, **kw: object) -> list[TaskRecord]:
    values: dict[str, object] = {
        "file_url": "https://example.org/a.wav",
        "model_name": "qwen3-asr-flash-filetrans",
        "options": TranscribeOptions(model="whisper-base", channels=(0,)),
        "api_key_id": "key-a",
    }
    values.update(kw)
    return [store.create(**values) for _ in range(n)]  # type: ignore[arg-type]


def _submit_spaced(store: TaskStore, clock: Clock, n: int) -> list[TaskRecord]:
    """Tasks one second apart, so claim order (oldest first, by the millisecond) is known."""
    created = []
    for _ in range(n):
        created += _submit(store)
        clock.advance(1)
    return created


DECODER = DecoderStats((50364, 2425, 1002, 13, 50414), 0.0, -0.2345678901234, 1.0416666666666667, 0.0123456789)


def _chunk(channel: int, start_s: float, end_s: float, first_id: int) -> ChunkResult:
    words = (
        Word(round(start_s * 1000), round(start_s * 1000) + 400, "Hello ", "", 0.9312345678901234),
        Word(round(start_s * 1000) + 400, round(end_s * 1000), "world", ".", None),
    )
    sentences = (
        Sentence(first_id, words[0].begin_ms, words[-1].end_ms, "Hello world.", "en", words, None, DECODER),
        Sentence(first_id + 1, round(end_s * 1000) - 10, round(end_s * 1000), "你好。", "zh", (), "happy"),
    )
    stages = {  # every stage's kept data is JSON: emotion's estimates, and any other stage's
        "emotion": [
            {
                "begin_ms": sentences[0].begin_ms,
                "end_ms": sentences[-1].end_ms,
                "label": "happy",
                "probabilities": {"happy": 0.7000000000000001, "neutral": 0.29999999999999993, "sad": 1e-300},
            }
        ],
        "another": {"embedding": [0.125, -1e-07, 3.141592653589793], "n": channel},
    }
    return ChunkResult(channel, start_s, end_s, "en", 0.987654321, sentences, stages)


# ------------------------------------------------------------------------------------------ basics


def test_create_and_get_round_trip(store: TaskStore, clock: Clock) -> None:
    options = TranscribeOptions(
        model="whisper-base", language="en", itn=True, words=True, context="Dashwood", channels=(1, 0)
    )
    created = store.create(
        file_url="oss://dashscope-instant/k/a b.wav",
        model_name="qwen3-asr-flash-filetrans",
        options=options,
        oss_resolve=True,
        api_key_id="abc123",
        request_id="req-1",
    )
    got = store.get(created.task_id)
    assert got == created
    assert got.status is TaskStatus.PENDING
    assert got.options == options and got.oss_resolve
    assert got.submit_time_ms == int(T0 * 1000)
    assert (got.scheduled_time_ms, got.end_time_ms, got.claimed_by, got.attempts) == (None, None, None, 0)
    assert got.progress == 0.0
    assert store.get("no-such-task") is None


def test_claim_takes_oldest_first_under_a_fresh_lease(store: TaskStore, clock: Clock) -> None:
    ids = []
    for _ in range(3):
        ids.append(_submit(store)[0].task_id)
        clock.advance(1)
    claimed = [store.claim_next("w1") for _ in range(3)]
    assert [c.task_id for c in claimed if c] == ids
    first = claimed[0]
    assert first is not None
    assert first.status is TaskStatus.RUNNING
    assert first.attempts == 1
    assert first.scheduled_time_ms == int(clock.now_s * 1000)
    assert first.claimed_by is not None and first.claimed_by.startswith("w1/")
    assert len({c.claimed_by for c in claimed if c}) == 3  # every claim its own lease
    assert store.claim_next("w1") is None


def test_claim_is_atomic_across_threads_and_store_instances(store_url: str, clock: Clock) -> None:
    stores = [TaskStore(store_url, clock=clock), TaskStore(store_url, clock=clock)]
    total = 120
    _submit(stores[0], total)
    claims: list[tuple[str, str, str]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def claimer(n: int) -> None:
        store = stores[n % 2]
        worker = f"w{n}"
        start.wait()
        try:
            while (task := store.claim_next(worker)) is not None:
                assert task.claimed_by is not None
                with lock:
                    claims.append((task.task_id, worker, task.claimed_by))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=claimer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    counts = Counter(task_id for task_id, _, _ in claims)
    assert len(counts) == total and max(counts.values()) == 1  # every task claimed, none twice
    assert len({w for _, w, _ in claims}) > 1  # the claimers really competed
    for task_id, _, lease in claims:
        record = stores[1].get(task_id)
        assert record is not None and record.status is TaskStatus.RUNNING and record.claimed_by == lease
    for s in stores:
        s.close()


# -------------------------------------------------------------------------------------- cancelling


def test_cancel_only_pending_tasks(store: TaskStore, clock: Clock) -> None:
    pending, running, done = _submit_spaced(store, clock, 3)
    clock.advance(5)
    canceled = store.cancel(pending.task_id)
    assert canceled.status is TaskStatus.CANCELED
    assert canceled.end_time_ms == int(clock.now_s * 1000)

    first = store.claim_next("w")  # oldest pending is `running` now
    assert first is not None and first.task_id == running.task_id
    with pytest.raises(TaskNotCancelableError) as info:
        store.cancel(running.task_id)
    assert info.value.status == "RUNNING"
    assert info.value.http_status == 400 and info.value.code == "UnsupportedOperation"

    second = store.claim_next("w")
    assert second is not None and second.claimed_by is not None
    store.finish(second.task_id, second.claimed_by, result_key="r", usage_seconds=1)
    with pytest.raises(TaskNotCancelableError, match="SUCCEEDED"):
        store.cancel(done.task_id)
    with pytest.raises(TaskNotCancelableError, match="CANCELED"):
        store.cancel(pending.task_id)
    with pytest.raises(TaskNotFoundError):
        store.cancel("00000000-0000-0000-0000-000000000000")
    assert store.claim_next("w") is None  # the canceled task is never claimed


def test_cancel_racing_claims_never_both_win(store_url: str, clock: Clock) -> None:
    claim_store, cancel_store = TaskStore(store_url, clock=clock), TaskStore(store_url, clock=clock)
    tasks = _submit(claim_store, 60)
    claimed: list[str] = []
    canceled: list[str] = []
    refused: list[str] = []

    def claim() -> None:
        while (task := claim_store.claim_next("w")) is not None:
            claimed.append(task.task_id)

    def cancel() -> None:
        for task in reversed(tasks):
            try:
                cancel_store.cancel(task.task_id)
                canceled.append(task.task_id)
            except TaskNotCancelableError:
                refused.append(task.task_id)

    threads = [threading.Thread(target=claim), threading.Thread(target=claim), threading.Thread(target=cancel)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(claimed).isdisjoint(canceled)
    assert sorted(claimed + canceled) == sorted(t.task_id for t in tasks)
    assert set(refused) <= set(claimed)
    for task in tasks:
        record = cancel_store.get(task.task_id)
        assert record is not None
        expected = TaskStatus.CANCELED if task.task_id in canceled else TaskStatus.RUNNING
        assert record.status is expected
    claim_store.close()
    cancel_store.close()


# ------------------------------------------------------------------------------------- checkpoints


def test_checkpoints_round_trip_with_progress(store: TaskStore, clock: Clock) -> None:
    (task,) = _submit(store)
    running = store.claim_next("w")
    assert running is not None and running.claimed_by is not None
    lease = running.claimed_by
    store.heartbeat(task.task_id, lease, audio_seconds=30.0, total_s=60.0)
    chunks = [_chunk(0, 0.25, 7.5, 0), _chunk(0, 9.0, 20.125, 2), _chunk(1, 1.0, 3.0, 0)]
    clock.advance(3)
    store.add_checkpoint(task.task_id, lease, 0, chunks[0], done_s=7.5)
    store.add_checkpoint(task.task_id, lease, 1, chunks[1], done_s=20.125)
    store.add_checkpoint(task.task_id, lease, 0, chunks[2], done_s=33.0)
    loaded = store.load_checkpoints(task.task_id)
    assert [(c.chunk.channel_id, c.chunk_index) for c in loaded] == [(0, 0), (0, 1), (1, 0)]
    assert [c.chunk for c in loaded] == chunks  # floats, words, emotions, decoder numbers, stage data, CJK text
    record = store.get(task.task_id)
    assert record is not None
    assert record.done_s == 33.0 and record.total_s == 60.0 and record.audio_seconds == 30.0
    assert record.progress == pytest.approx(0.55)
    assert record.heartbeat_ms == int(clock.now_s * 1000)

    done = store.finish(task.task_id, lease, result_key=task.task_id, usage_seconds=60)
    assert done.status is TaskStatus.SUCCEEDED and done.progress == 1.0 and done.done_s == 60.0
    assert done.usage_seconds == 60 and done.result_key == task.task_id
    assert done.end_time_ms == int(clock.now_s * 1000)
    assert store.load_checkpoints(task.task_id) == []  # the result file replaces them


def test_writes_under_a_lost_lease_are_refused_and_rolled_back(store: TaskStore, clock: Clock) -> None:
    (task,) = _submit(store)
    old = store.claim_next("w-old")
    assert old is not None and old.claimed_by is not None
    store.add_checkpoint(task.task_id, old.claimed_by, 0, _chunk(0, 0.0, 5.0, 0), done_s=5.0)
    clock.advance(120)
    assert store.recover_orphans(60).requeued == (task.task_id,)
    new = store.claim_next("w-new")
    assert new is not None and new.claimed_by is not None and new.attempts == 2
    assert [c.chunk_index for c in store.load_checkpoints(task.task_id)] == [0]  # kept for the resume

    with pytest.raises(LeaseLostError):
        store.add_checkpoint(task.task_id, old.claimed_by, 1, _chunk(0, 6.0, 9.0, 2), done_s=9.0)
    with pytest.raises(LeaseLostError):
        store.heartbeat(task.task_id, old.claimed_by)
    with pytest.raises(LeaseLostError):
        store.finish(task.task_id, old.claimed_by, result_key="x", usage_seconds=1)
    with pytest.raises(LeaseLostError):
        store.release(task.task_id, old.claimed_by)
    assert store.fail(task.task_id, "INTERNAL_ERROR", "x", lease=old.claimed_by) is None
    assert len(store.load_checkpoints(task.task_id)) == 1  # the refused checkpoint left no row
    current = store.get(task.task_id)
    assert current is not None and current.done_s == 5.0 and current.status is TaskStatus.RUNNING

    store.add_checkpoint(task.task_id, new.claimed_by, 1, _chunk(0, 6.0, 9.0, 2), done_s=9.0)
    assert store.finish(task.task_id, new.claimed_by, result_key="k", usage_seconds=9).status is TaskStatus.SUCCEEDED


def test_fail_is_guarded(store: TaskStore, clock: Clock) -> None:
    first, second = _submit_spaced(store, clock, 2)
    claimed = store.claim_next("w")
    assert claimed is not None and claimed.task_id == first.task_id and claimed.claimed_by is not None
    failed = store.fail(first.task_id, "FILE_403_FORBIDDEN", "forbidden", lease=claimed.claimed_by)
    assert failed is not None and failed.code == "FILE_403_FORBIDDEN" and failed.end_time_ms is not None
    assert store.fail(first.task_id, "X", "again") is None  # already finished: nothing changes
    still = store.get(first.task_id)
    assert still is not None and still.code == "FILE_403_FORBIDDEN"
    assert store.fail(second.task_id, "DECODE_ERROR", "bad") is not None  # PENDING → FAILED without a lease
    assert store.fail("missing", "X", "y") is None


def test_release_puts_the_task_back_without_counting_the_attempt(store: TaskStore) -> None:
    (task,) = _submit(store)
    claimed = store.claim_next("w")
    assert claimed is not None and claimed.claimed_by is not None
    store.add_checkpoint(task.task_id, claimed.claimed_by, 0, _chunk(0, 0.0, 5.0, 0), done_s=5.0)
    store.release(task.task_id, claimed.claimed_by)
    released = store.get(task.task_id)
    assert released is not None
    assert (released.status, released.attempts, released.claimed_by) == (TaskStatus.PENDING, 0, None)
    assert released.scheduled_time_ms == claimed.scheduled_time_ms
    again = store.claim_next("w")
    assert again is not None and again.attempts == 1
    assert again.scheduled_time_ms == claimed.scheduled_time_ms  # first scheduling time is what E5 shows
    assert len(store.load_checkpoints(task.task_id)) == 1


# --------------------------------------------------------------------------------------- recovery


def test_recover_orphans_takes_only_stale_tasks(store: TaskStore, clock: Clock) -> None:
    stale, fresh = _submit_spaced(store, clock, 2)
    a = store.claim_next("dead")
    b = store.claim_next("alive")
    assert a is not None and b is not None and b.claimed_by is not None
    clock.advance(50)
    store.heartbeat(fresh.task_id, b.claimed_by)
    clock.advance(20)
    recovery = store.recover_orphans(60)
    assert recovery.requeued == (stale.task_id,) and recovery.failed == ()
    assert store.get(stale.task_id).status is TaskStatus.PENDING  # type: ignore[union-attr]
    assert store.get(fresh.task_id).status is TaskStatus.RUNNING  # type: ignore[union-attr]
    assert store.recover_orphans(0).requeued == (fresh.task_id,)  # startup of a lone server: all of them


def test_a_task_that_keeps_dying_fails_after_max_attempts(store: TaskStore, clock: Clock) -> None:
    (task,) = _submit(store)
    for attempt in (1, 2, 3):
        claimed = store.claim_next("w")
        assert claimed is not None and claimed.attempts == attempt
        clock.advance(100)
        recovery = store.recover_orphans(60, max_attempts=3)
    assert recovery.failed == (task.task_id,) and recovery.requeued == ()
    failed = store.get(task.task_id)
    assert failed is not None and failed.status is TaskStatus.FAILED
    assert (failed.code, failed.message) == ("INTERNAL_ERROR", INTERRUPTED_MESSAGE)


# ----------------------------------------------------------------------------------- list and purge


def test_list_filters_and_pages(store: TaskStore, clock: Clock) -> None:
    created: list[TaskRecord] = []
    for i in range(25):
        created += _submit(
            store,
            model_name="qwen3-asr-flash-filetrans" if i % 2 == 0 else "other-model",
            api_key_id="key-a" if i % 3 else "key-b",
        )
        clock.advance(60)
    # finish a few so statuses differ
    for _ in range(4):
        t = store.claim_next("w")
        assert t is not None and t.claimed_by is not None
        store.finish(t.task_id, t.claimed_by, result_key=t.task_id, usage_seconds=1)
    store.cancel(created[-1].task_id)

    total, rows = store.list(TaskFilter(), page_no=1, page_size=10)
    assert total == 25 and len(rows) == 10
    assert [r.task_id for r in rows] == [t.task_id for t in reversed(created)][:10]  # newest first
    total, last = store.list(TaskFilter(), page_no=3, page_size=10)
    assert total == 25 and [r.task_id for r in last] == [t.task_id for t in reversed(created)][20:]
    assert store.list(TaskFilter(), page_no=4, page_size=10) == (25, [])

    def ids(f: TaskFilter) -> set[str]:
        total, rows = store.list(f, page_size=100)
        assert total == len(rows)
        return {r.task_id for r in rows}

    assert ids(TaskFilter(status=TaskStatus.SUCCEEDED)) == {t.task_id for t in created[:4]}
    assert ids(TaskFilter(status=TaskStatus.CANCELED)) == {created[-1].task_id}
    assert ids(TaskFilter(model_name="other-model")) == {t.task_id for i, t in enumerate(created) if i % 2}
    assert ids(TaskFilter(api_key_id="key-b")) == {t.task_id for i, t in enumerate(created) if i % 3 == 0}
    assert ids(TaskFilter(task_id=created[7].task_id)) == {created[7].task_id}
    window = TaskFilter(start_ms=created[5].submit_time_ms, end_ms=created[9].submit_time_ms)
    assert ids(window) == {t.task_id for t in created[5:10]}  # both ends inclusive
    both = TaskFilter(status=TaskStatus.PENDING, api_key_id="key-b", model_name="qwen3-asr-flash-filetrans")
    assert ids(both) == {t.task_id for i, t in enumerate(created[4:24], start=4) if i % 2 == 0 and i % 3 == 0}
    assert ids(TaskFilter(model_name="nope")) == set()
    with pytest.raises(ValueError):
        store.list(TaskFilter(), page_no=0)


def test_purge_removes_only_old_finished_tasks(store: TaskStore, clock: Clock) -> None:
    old_done, old_failed, old_running, old_pending, new_done = _submit_spaced(store, clock, 5)
    for task in (old_done, old_failed, old_running):
        claimed = store.claim_next("w")
        assert claimed is not None and claimed.task_id == task.task_id and claimed.claimed_by is not None
        if task is old_done:
            store.finish(task.task_id, claimed.claimed_by, result_key="k", usage_seconds=1)
        elif task is old_failed:
            store.fail(task.task_id, "DECODE_ERROR", "bad", lease=claimed.claimed_by)
        else:
            store.add_checkpoint(task.task_id, claimed.claimed_by, 0, _chunk(0, 0, 1, 0), done_s=1)
    clock.advance(25 * 3600)
    store.cancel(new_done.task_id)  # ends now: recent
    removed = store.purge(clock.now_s - 24 * 3600)
    assert removed == 2
    assert store.get(old_done.task_id) is None and store.get(old_failed.task_id) is None
    for task in (old_pending, old_running, new_done):
        assert store.get(task.task_id) is not None
    assert len(store.load_checkpoints(old_running.task_id)) == 1


# ---------------------------------------------------------------------------------- sqlite specifics


def test_sqlite_file_is_in_the_data_dir_in_wal_mode(tmp_path: Path) -> None:
    data_dir = tmp_path / "data" / "nested"
    store = TaskStore(sqlite_url(data_dir))
    _submit(store)
    store.close()
    db = data_dir / "openasr.db"
    assert db.is_file()
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")} >= {
            "tasks",
            "checkpoints",
        }


def test_api_key_is_never_stored(tmp_path: Path) -> None:
    from openasr.core.keys import key_id

    secret_key = "sk-very-secret-0123456789"
    store = TaskStore(sqlite_url(tmp_path))
    _submit(store, api_key_id=key_id(secret_key))
    store.close()
    assert secret_key.encode() not in (tmp_path / "openasr.db").read_bytes()
    wal = tmp_path / "openasr.db-wal"
    assert not wal.exists() or secret_key.encode() not in wal.read_bytes()
