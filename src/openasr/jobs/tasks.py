"""What a router (or the service layer) calls for async tasks: submit, get, cancel, list (E4–E7).

No HTTP types: a task arrives as its `TranscribeOptions`, answers leave as plain `TaskView`/`TaskPage`
dataclasses with everything E5/E7 show; the router formats times and builds the signed
``transcription_url`` with `TaskQueue.result_url`. Scoping: when an `api_key_id` is given, tasks of
other keys behave as if they did not exist (E5 answers UNKNOWN for them, E6 an error).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from openasr.core.errors import InvalidParameterError
from openasr.core.options import TranscribeOptions, check_context_tokens, count_context_tokens, validate_options
from openasr.jobs.errors import TaskNotFoundError
from openasr.jobs.records import TaskFilter, TaskRecord, TaskStatus
from openasr.jobs.results import ResultStore
from openasr.jobs.store import TaskStore
from openasr.pipeline import check_engine
from openasr.runtime.engine_pool import EnginePool

MAX_PAGE_SIZE = 100
MAX_PAGE_NO = 10**9
"""Far past any real page, and small enough that its offset fits a 64-bit SQL integer."""
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")


@dataclass(frozen=True)
class TaskView:
    """One task as E5/E7 report it. Times are UTC epoch milliseconds (None until they happen)."""

    task_id: str
    status: TaskStatus
    model_name: str
    request_id: str
    api_key_id: str
    file_url: str
    submit_time_ms: int
    scheduled_time_ms: int | None
    end_time_ms: int | None
    code: str | None
    message: str | None
    progress: float
    """Share of the requested audio (all channels) recognised, 0–1."""
    audio_seconds_done: float
    """Seconds of audio recognised so far, summed over channels."""
    audio_seconds_total: float | None
    """Duration × channels, known once the worker has probed the file."""
    audio_duration_s: float | None
    usage_seconds: int | None
    """Billed seconds (``usage.seconds``): ceil(duration) × channels, on SUCCEEDED only."""
    result_key: str | None
    result_expires_at_s: int | None
    """Epoch seconds until which the result is kept; sign ``transcription_url`` up to here."""


@dataclass(frozen=True)
class TaskPage:
    """One E7 page."""

    total: int
    page_no: int
    page_size: int
    tasks: tuple[TaskView, ...]

    @property
    def total_page(self) -> int:
        return math.ceil(self.total / self.page_size) if self.total else 0


class TaskQueue:
    """Use-cases over a `TaskStore` and `ResultStore`.

    `engines`, when given, lets `submit` reject what the model cannot do (a language it lacks, word
    timestamps, a context over the limit in its tokenizer's count …) with a 400 before anything is
    queued; without them only the context's length is checked, by the tokenizer-free estimate.
    `result_retention_s` is how long results are kept after a task ends, hence how long its signed URL
    lasts.
    """

    def __init__(
        self,
        store: TaskStore,
        results: ResultStore,
        *,
        engines: EnginePool | None = None,
        result_retention_s: float = 24 * 3600.0,
    ) -> None:
        self.store = store
        self.results = results
        self.engines = engines
        self.result_retention_s = result_retention_s

    def submit(
        self,
        file_url: str,
        options: TranscribeOptions,
        *,
        model_name: str,
        api_key_id: str,
        oss_resolve: bool = False,
        request_id: str = "",
    ) -> TaskView:
        """Validate the request and queue it as PENDING. `InvalidParameterError` names a bad parameter.

        `options.model` is the engine model; `model_name` the public name the task is listed under;
        `oss_resolve` allows an ``oss://`` upload key as `file_url`."""
        _check_file_url(file_url, oss_resolve=oss_resolve)
        options = validate_options(options)
        if self.engines is not None:
            check_engine(self.engines.get(options.model), options)  # the context counted in the model's tokens
        else:
            check_context_tokens(options.context, count_context_tokens)  # no engine to ask: the estimate
        record = self.store.create(
            file_url=file_url,
            model_name=model_name,
            options=options,
            oss_resolve=oss_resolve,
            api_key_id=api_key_id,
            request_id=request_id,
        )
        return self._view(record)

    def get(self, task_id: str, *, api_key_id: str | None = None) -> TaskView | None:
        """The task, or None when it does not exist for this caller (E5 answers UNKNOWN)."""
        record = self.store.get(task_id)
        if record is None or (api_key_id is not None and record.api_key_id != api_key_id):
            return None
        return self._view(record)

    def cancel(self, task_id: str, *, api_key_id: str | None = None) -> TaskView:
        """PENDING → CANCELED; `TaskNotFoundError` / `TaskNotCancelableError` otherwise (spec §7.4)."""
        if self.get(task_id, api_key_id=api_key_id) is None:
            raise TaskNotFoundError(f"task {task_id} does not exist", param="task_id")
        return self._view(self.store.cancel(task_id))

    def list(self, filters: TaskFilter, *, page_no: int = 1, page_size: int = 10) -> TaskPage:
        """One page of tasks, newest first; the caller puts its own `api_key_id` into `filters`."""
        if not 1 <= page_no <= MAX_PAGE_NO:
            raise InvalidParameterError(f"page_no must be 1–{MAX_PAGE_NO}", param="page_no")
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise InvalidParameterError(f"page_size must be 1–{MAX_PAGE_SIZE}", param="page_size")
        if filters.start_ms is not None and filters.end_ms is not None and filters.start_ms > filters.end_ms:
            raise InvalidParameterError("start_time is after end_time", param="start_time")
        total, records = self.store.list(filters, page_no=page_no, page_size=page_size)
        return TaskPage(total, page_no, page_size, tuple(self._view(r) for r in records))

    def result_url(self, view: TaskView, base_url: str) -> str | None:
        """The signed ``transcription_url`` of a SUCCEEDED task (valid until the result is purged)."""
        if view.status is not TaskStatus.SUCCEEDED or view.result_key is None or view.result_expires_at_s is None:
            return None
        return self.results.signed_url(base_url, view.result_key, view.result_expires_at_s)

    def _view(self, r: TaskRecord) -> TaskView:
        expires = None
        if r.result_key is not None and r.end_time_ms is not None:
            expires = int(r.end_time_ms / 1000 + self.result_retention_s)
        total = r.total_s
        return TaskView(
            task_id=r.task_id,
            status=r.status,
            model_name=r.model_name,
            request_id=r.request_id,
            api_key_id=r.api_key_id,
            file_url=r.file_url,
            submit_time_ms=r.submit_time_ms,
            scheduled_time_ms=r.scheduled_time_ms,
            end_time_ms=r.end_time_ms,
            code=r.code,
            message=r.message,
            progress=r.progress,
            audio_seconds_done=min(r.done_s, total) if total is not None else r.done_s,
            audio_seconds_total=total,
            audio_duration_s=r.audio_seconds,
            usage_seconds=r.usage_seconds,
            result_key=r.result_key,
            result_expires_at_s=expires,
        )


def _check_file_url(file_url: str, *, oss_resolve: bool) -> None:
    """Cheap checks at submit time; fetching (and the SSRF guard) happens in the worker."""
    if not file_url or not file_url.strip():
        raise InvalidParameterError("input.file_url is required", param="file_url")
    if file_url[:5].lower() == "data:":
        raise InvalidParameterError(
            "file_url must be an http(s) URL or an oss:// upload, not a data: URI", param="file_url"
        )
    match = _SCHEME.match(file_url)
    if match is None:
        return  # a local path: allowed only under the server's file roots, which the worker enforces
    scheme = match.group(1).lower()
    if scheme == "oss" and not oss_resolve:
        raise InvalidParameterError(
            "oss:// audio requires the header 'X-DashScope-OssResourceResolve: enable'", param="file_url"
        )
    if scheme not in ("http", "https", "oss"):
        raise InvalidParameterError(
            f"unsupported file_url scheme {scheme!r}: use http(s):// or oss://", param="file_url"
        )
