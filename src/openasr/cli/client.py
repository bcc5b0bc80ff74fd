"""A small client for an openasr (or DashScope) server's async task API, used by `openasr task …`.

Requests are built, and answers read, with the server's own protocol models (`server/dashscope/
task_protocol.py`, `upload_protocol.py`, `server/usage.py`), so the CLI cannot drift from the wire
the server declares. Local files go through the same upload flow the dashscope SDK uses (E2 policy, E3
form upload, then an `oss://` key with `X-DashScope-OssResourceResolve: enable`), so the server never
needs file roots.
"""

from __future__ import annotations

import mimetypes
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx

from openasr.server.dashscope.task_protocol import (
    SubmitResponse,
    TaskResponse,
    TranscriptionInput,
    TranscriptionParameters,
    TranscriptionRequest,
)
from openasr.server.dashscope.upload_protocol import PolicyResponse
from openasr.server.docs import DashScopeError
from openasr.server.models import ASYNC_MODEL
from openasr.server.usage import UsageResponse

FINAL_STATES = frozenset({"SUCCEEDED", "FAILED", "CANCELED", "UNKNOWN"})
AnswerT = TypeVar("AnswerT")


class ServerError(Exception):
    """The server answered with an error envelope, or could not be reached."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class TaskClient:
    def __init__(self, server: str, api_key: str, *, timeout_s: float = 60.0) -> None:
        self._base = server.rstrip("/")
        self._http = httpx.Client(headers={"Authorization": f"Bearer {api_key}"}, timeout=timeout_s)

    def close(self) -> None:
        self._http.close()

    def submit(self, source: str, parameters: TranscriptionParameters) -> str:
        """Queue a URL or a local file; returns the task id."""
        headers = {"X-DashScope-Async": "enable"}
        file_url = source
        if not source.startswith(("http://", "https://", "oss://")):
            file_url = self.upload(Path(source))
        if file_url.startswith("oss://"):
            headers["X-DashScope-OssResourceResolve"] = "enable"
        request = TranscriptionRequest(
            model=ASYNC_MODEL, input=TranscriptionInput(file_url=file_url), parameters=parameters
        )
        body = request.model_dump(mode="json", exclude_none=True)
        path = "/api/v1/services/audio/asr/transcription"
        answer = self._call("POST", path, json=body, headers=headers)
        return _read(SubmitResponse.model_validate_json, answer, path).output.task_id

    def upload(self, path: Path) -> str:
        if not path.is_file():
            raise ServerError("FILE_404_NOT_FOUND", f"{path} does not exist")
        query = {"action": "getPolicy", "model": ASYNC_MODEL}
        answer = self._call("GET", "/api/v1/uploads", params=query)
        cert = _read(PolicyResponse.model_validate_json, answer, "/api/v1/uploads").data
        key = f"{cert.upload_dir}/{path.name}"
        fields = {  # the OSS form (spec §6.3): its field names are OSS's, not a JSON body's
            "OSSAccessKeyId": cert.oss_access_key_id,
            "Signature": cert.signature,
            "policy": cert.policy,
            "key": key,
            "x-oss-object-acl": cert.x_oss_object_acl,
            "x-oss-forbid-overwrite": cert.x_oss_forbid_overwrite,
            "success_action_status": "200",
            "x-oss-content-type": mimetypes.guess_type(path.name)[0] or "application/octet-stream",
        }
        with path.open("rb") as f:
            response = httpx.post(cert.upload_host, data=fields, files={"file": (path.name, f)}, timeout=3600)
        if response.status_code != 200:
            raise _error(response)
        return f"oss://{key}"

    def status(self, task_id: str) -> TaskResponse:
        path = f"/api/v1/tasks/{task_id}"
        return _read(TaskResponse.model_validate_json, self._call("GET", path), path)

    def wait(
        self,
        task_id: str,
        *,
        on_progress: Callable[[TaskResponse], None] | None = None,
        poll_s: float = 1.0,
        timeout_s: float | None = None,
    ) -> TaskResponse:
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            answer = self.status(task_id)
            if on_progress is not None:
                on_progress(answer)
            if answer.output.task_status in FINAL_STATES:
                return answer
            if deadline is not None and time.monotonic() > deadline:
                raise ServerError("WaitTaskTimeout", f"task {task_id} did not finish in {timeout_s:.0f} s")
            time.sleep(poll_s)

    def result(self, task_id: str) -> dict[str, Any]:
        """The result JSON of a SUCCEEDED task (read with `postprocess.formats.parse_json`)."""
        output = self.status(task_id).output
        if output.task_status != "SUCCEEDED" or output.result is None:
            code = output.code or output.task_status
            raise ServerError(code, output.message or f"task {task_id} is {output.task_status}")
        response = httpx.get(output.result.transcription_url, timeout=60)
        if response.status_code != 200:
            raise _error(response)
        document: dict[str, Any] = response.json()
        return document

    def usage(self, start: str | None = None, end: str | None = None) -> UsageResponse:
        """`GET /api/v1/usage`: totals by day, key and model (every key's for an admin key)."""
        params = {k: v for k, v in (("start", start), ("end", end)) if v}
        answer = self._call("GET", "/api/v1/usage", params=params)
        return _read(UsageResponse.model_validate_json, answer, "/api/v1/usage")

    def _call(self, method: str, path: str, **kwargs: Any) -> bytes:
        """The body of a 200 answer; `ServerError` for anything else."""
        try:
            response = self._http.request(method, self._base + path, **kwargs)
        except httpx.HTTPError as exc:
            raise ServerError("CONNECTION_FAILED", f"cannot reach {self._base}: {exc}") from exc
        if response.status_code != 200:
            raise _error(response)
        return response.content


def _read(parse: Callable[[bytes], AnswerT], body: bytes, path: str) -> AnswerT:
    """A 200 answer read with its protocol model (pydantic's errors are `ValueError`s)."""
    try:
        return parse(body)
    except ValueError as exc:
        raise ServerError("BAD_RESPONSE", f"{path} answered an unexpected body: {exc}") from exc


def _error(response: httpx.Response) -> ServerError:
    try:
        envelope = DashScopeError.model_validate_json(response.content)
    except ValueError:
        return ServerError(f"HTTP_{response.status_code}", response.text[:200])
    return ServerError(envelope.code, envelope.message)
