"""Usage rows in the task store, on SQLite and a real PostgreSQL: recorded per call, summed per UTC day,
key and model; a finished task records its own usage exactly once; tasks are counted per state."""

from __future__ import annotations

import pytest

from openasr.core.options import TranscribeOptions
from openasr.jobs.errors import LeaseLostError
from openasr.jobs.records import TaskStatus
from openasr.jobs.store import TaskStore
from openasr.jobs.usage import Usage, UsageTotal
from unit.jobs.clock import Clock

T0 = 1_767_225_599.0  # 2025-12-31 23:59:59 UTC: one second before a UTC day ends


def test_usage_is_summed_per_utc_day_key_and_model(store: TaskStore, clock: Clock) -> None:
    store.record_usage(api_key_id="a", model="qwen3-asr-flash", surface="dashscope", charge=Usage(10, 250, 7))
    store.record_usage(api_key_id="a", model="qwen3-asr-flash", surface="dashscope-stream", charge=Usage(4, 100, 2))
    store.record_usage(api_key_id="b", model="whisper-1", surface="openai", charge=Usage(3, 75, 1))
    clock.now_s += 2  # 2026-01-01 00:00:01 UTC
    store.record_usage(api_key_id="a", model="qwen3-asr-flash", surface="dashscope", charge=Usage(1, 25, 0))

    assert store.usage_totals("2025-12-31", "2026-01-01") == [
        UsageTotal("2025-12-31", "a", "qwen3-asr-flash", 2, 14, 350, 9),
        UsageTotal("2025-12-31", "b", "whisper-1", 1, 3, 75, 1),
        UsageTotal("2026-01-01", "a", "qwen3-asr-flash", 1, 1, 25, 0),
    ]
    assert store.usage_totals("2026-01-01", "2026-01-01", api_key_id="b") == []
    assert [t.day for t in store.usage_totals("2025-12-31", "2025-12-31", api_key_id="a")] == ["2025-12-31"]


def test_a_finished_task_records_its_usage_once(store: TaskStore) -> None:
    task = store.create(
        file_url="https://example.org/a.wav",
        model_name="qwen3-asr-flash-filetrans",
        options=TranscribeOptions(model="whisper-base", channels=(0,)),
        api_key_id="key-t",
        request_id="req-1",
    )
    claimed = store.claim_next("w1")
    assert claimed is not None and claimed.claimed_by is not None
    store.finish(task.task_id, claimed.claimed_by, result_key="k", usage_seconds=61, tokens=(1525, 120))
    with pytest.raises(LeaseLostError):  # a second finish (a stale worker) changes nothing
        store.finish(task.task_id, claimed.claimed_by, result_key="k", usage_seconds=61, tokens=(1525, 120))
    assert store.usage_totals("2025-12-31", "2025-12-31") == [
        UsageTotal("2025-12-31", "key-t", "qwen3-asr-flash-filetrans", 1, 61, 1525, 120)
    ]


def test_tasks_are_counted_per_state(store: TaskStore) -> None:
    for _ in range(3):
        store.create(
            file_url="https://example.org/a.wav",
            model_name="qwen3-asr-flash-filetrans",
            options=TranscribeOptions(model="whisper-base", channels=(0,)),
            api_key_id="k",
        )
    store.claim_next("w1")
    counts = store.count_by_status()
    assert counts == {
        TaskStatus.PENDING: 2,
        TaskStatus.RUNNING: 1,
        TaskStatus.SUCCEEDED: 0,
        TaskStatus.FAILED: 0,
        TaskStatus.CANCELED: 0,
    }
    store.ping()
