"""Failures of the task API, in the core `AsrError` tree so every surface renders them without guessing.

`LeaseLostError` is different: it is not a user-facing failure but the signal that a worker no longer
owns the task it is running (another worker recovered it), so it must stop writing and walk away.
"""

from __future__ import annotations

from openasr.core.errors import AsrError, UnsupportedOperationError


class TaskNotFoundError(AsrError):
    """No task with this id (never existed, purged, or owned by another API key).

    E5 answers such ids with 200 and ``task_status: UNKNOWN`` (spec §7.2); E6 with this error.
    """

    code = "InvalidParameter"
    http_status = 400
    task_code = "TASK_NOT_FOUND"


class TaskNotCancelableError(UnsupportedOperationError):
    """Only PENDING tasks can be canceled (spec §7.4); the message names the task's status."""

    def __init__(self, message: str, *, status: str) -> None:
        super().__init__(message, param="task_id")
        self.status = status


class ResultNotFoundError(AsrError):
    """The result file does not exist (task not finished, or purged after its retention)."""

    code = "ResultNotFound"
    http_status = 404
    task_code = "RESULT_NOT_FOUND"


class LeaseLostError(Exception):
    """The task is no longer RUNNING under this worker's lease; nothing was written."""

    def __init__(self, task_id: str) -> None:
        super().__init__(f"task {task_id} is no longer held by this worker")
        self.task_id = task_id
