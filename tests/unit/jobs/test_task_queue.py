"""TaskQueue: the submit/get/cancel/list use-cases a router calls."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from openasr.core.errors import InvalidParameterError
from openasr.core.options import TranscribeOptions
from openasr.jobs.database import sqlite_url
from openasr.jobs.errors import TaskNotCancelableError, TaskNotFoundError
from openasr.jobs.records import TaskFilter, TaskStatus
from openasr.jobs.results import ResultStore
from openasr.jobs.store import TaskStore
from openasr.jobs.tasks import TaskQueue, TaskView
from openasr.storage import LocalBlobStore
from unit.jobs.clock import Clock

T0 = 1_767_261_600.0


@pytest.fixture
def queue(tmp_path: Path, clock: Clock) -> Iterator[TaskQueue]:
    store = TaskStore(sqlite_url(tmp_path), clock=clock)
    yield TaskQueue(store, ResultStore(LocalBlobStore(tmp_path / "results"), b"s" * 32), result_retention_s=86_400)
    store.close()


def _submit(
    queue: TaskQueue,
    url: str = "https://example.org/a.wav",
    key: str = "key-a",
    *,
    oss_resolve: bool = False,
    **options: object,
) -> TaskView:
    return queue.submit(
        url,
        TranscribeOptions(**{"model": "whisper-base", "channels": (0,), **options}),  # type: ignore[arg-type]
        model_name="qwen3-asr-flash-filetrans",
        oss_resolve=oss_resolve,
        api_key_id=key,
        request_id="req-1",
    )


def test_submit_queues_a_pending_task(queue: TaskQueue) -> None:
    view = _submit(queue, words=True, channels=(0, 1))
    assert view.status is TaskStatus.PENDING
    assert view.submit_time_ms == int(T0 * 1000)
    assert (view.progress, view.audio_seconds_done, view.audio_seconds_total) == (0.0, 0.0, None)
    assert (view.usage_seconds, view.result_key, view.result_expires_at_s) == (None, None, None)
    assert view.model_name == "qwen3-asr-flash-filetrans" and view.request_id == "req-1"
    record = queue.store.get(view.task_id)
    assert record is not None and record.options.channels == (0, 1) and record.options.words


@pytest.mark.parametrize(
    ("url", "params", "param", "match"),
    [
        ("", {}, "file_url", "required"),
        ("data:audio/wav;base64,UklGRg==", {}, "file_url", "data: URI"),
        ("oss://dashscope-instant/a.wav", {}, "file_url", "OssResourceResolve"),
        ("ftp://example.org/a.wav", {}, "file_url", "scheme"),
        ("https://example.org/a.wav", {"channels": ()}, "channel_id", "empty"),
        ("https://example.org/a.wav", {"channels": (-1,)}, "channel_id", "start at 0"),
        ("https://example.org/a.wav", {"channels": (0, 0)}, "channel_id", "repeats"),
        ("https://example.org/a.wav", {"language": "x"}, "language", "language"),
        ("https://example.org/a.wav", {"context": "word " * 10_001}, "context", "10000 tokens"),
    ],
)
def test_submit_rejects_bad_requests_naming_the_parameter(
    queue: TaskQueue, url: str, params: dict[str, object], param: str, match: str
) -> None:
    with pytest.raises(InvalidParameterError, match=match) as info:
        _submit(queue, url, **params)
    assert info.value.param == param and info.value.http_status == 400
    assert queue.store.list(TaskFilter())[0] == 0  # nothing queued


def test_oss_with_resolve_and_local_paths_are_queued(queue: TaskQueue) -> None:
    assert _submit(queue, "oss://dashscope-instant/k/a b.wav", oss_resolve=True).status is TaskStatus.PENDING
    assert _submit(queue, "/srv/audio/a.wav").status is TaskStatus.PENDING  # the worker enforces file roots


def test_other_keys_tasks_look_unknown(queue: TaskQueue) -> None:
    view = _submit(queue, key="key-a")
    assert queue.get(view.task_id, api_key_id="key-a") == view
    assert queue.get(view.task_id) == view  # unscoped (admin, CLI)
    assert queue.get(view.task_id, api_key_id="key-b") is None
    assert queue.get("nope") is None
    with pytest.raises(TaskNotFoundError):
        queue.cancel(view.task_id, api_key_id="key-b")
    assert queue.get(view.task_id).status is TaskStatus.PENDING  # type: ignore[union-attr]


def test_cancel(queue: TaskQueue) -> None:
    view = _submit(queue)
    canceled = queue.cancel(view.task_id, api_key_id="key-a")
    assert canceled.status is TaskStatus.CANCELED and canceled.end_time_ms is not None
    with pytest.raises(TaskNotCancelableError):
        queue.cancel(view.task_id)
    with pytest.raises(TaskNotFoundError):
        queue.cancel("nope")


def test_list_pages_and_validates(queue: TaskQueue, clock: Clock) -> None:
    for i in range(7):
        _submit(queue, key="key-a" if i < 5 else "key-b")
        clock.now_s += 1
    page = queue.list(TaskFilter(api_key_id="key-a"), page_no=2, page_size=2)
    assert (page.total, page.total_page, page.page_no, page.page_size, len(page.tasks)) == (5, 3, 2, 2, 2)
    assert queue.list(TaskFilter(api_key_id="nobody")).total_page == 0
    bad: list[tuple[dict[str, int], str]] = [
        ({"page_no": 0}, "page_no"),
        ({"page_size": 101}, "page_size"),
        ({"page_size": 0}, "page_size"),
    ]
    for kwargs, param in bad:
        with pytest.raises(InvalidParameterError) as info:
            queue.list(TaskFilter(), **kwargs)
        assert info.value.param == param
    with pytest.raises(InvalidParameterError):
        queue.list(TaskFilter(start_ms=2, end_ms=1))


def test_result_url_only_for_succeeded_tasks_and_valid_until_retention(queue: TaskQueue, clock: Clock) -> None:
    view = _submit(queue)
    assert queue.result_url(view, "http://h") is None
    claimed = queue.store.claim_next("w")
    assert claimed is not None and claimed.claimed_by is not None
    queue.store.heartbeat(view.task_id, claimed.claimed_by, audio_seconds=10.0, total_s=20.0, done_s=5.0)
    running = queue.get(view.task_id)
    assert running is not None and running.progress == 0.25 and running.audio_seconds_done == 5.0
    assert running.audio_seconds_total == 20.0 and running.audio_duration_s == 10.0
    clock.now_s += 40
    queue.results.write(view.task_id, {"transcripts": []})
    queue.store.finish(view.task_id, claimed.claimed_by, result_key=view.task_id, usage_seconds=20)
    done = queue.get(view.task_id)
    assert done is not None and done.progress == 1.0 and done.usage_seconds == 20
    assert done.result_expires_at_s == int(T0 + 40 + 86_400)
    url = queue.result_url(done, "http://127.0.0.1:8080/api/v1")
    assert url is not None
    split = urlsplit(url)
    assert split.path == f"/api/v1/results/{view.task_id}.json"
    query = parse_qs(split.query)
    expires, signature = query["Expires"][0], query["Signature"][0]
    assert queue.results.verify(view.task_id, expires, signature, now=T0 + 40 + 86_400)
    assert not queue.results.verify(view.task_id, expires, signature, now=T0 + 40 + 86_401)
