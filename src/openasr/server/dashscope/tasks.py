"""DashScope async file transcription: submit (E4), poll (E5), cancel (E6), list (E7), result (E8)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Annotated

from fastapi import APIRouter, Header, HTTPException, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from openasr.core.errors import AccessDeniedError, InvalidParameterError
from openasr.core.keys import key_id
from openasr.jobs.errors import ResultNotFoundError
from openasr.jobs.tasks import TaskQueue
from openasr.server.dashscope.task_protocol import (
    CancelResponse,
    ResultDocument,
    SubmitOutput,
    SubmitResponse,
    TaskListResponse,
    TaskResponse,
    TaskUsage,
    TranscriptionRequest,
    dump,
    list_filter,
    list_item,
    task_output,
    to_options,
    unknown_output,
)
from openasr.server.deps import ApiKey, AppContext, Context, RequestId, header_enabled
from openasr.server.observe import Observed
from openasr.server.surface import Surface, gated

router = APIRouter(prefix="/api/v1", tags=["DashScope async"])
results_router = APIRouter(tags=["DashScope async"])
SUBMIT = Surface("task", invocation=True)
TASKS = Surface("task")
RESULTS = Surface("task", needs_key=False)
"""A result link carries its own signature (`jobs.results`)."""
REGION = "local"


def _queue(ctx: AppContext) -> TaskQueue:
    assert ctx.tasks is not None, "the app lifespan builds the task queue"
    return ctx.tasks


def base_url(ctx: AppContext, request: Request) -> str:
    return (ctx.settings.public_url or str(request.base_url)).rstrip("/")


@router.post("/services/audio/asr/transcription", response_model=SubmitResponse)
@gated(SUBMIT)
async def submit(
    body: TranscriptionRequest,
    ctx: Context,
    api_key: ApiKey,
    rid: RequestId,
    obs: Observed,
    x_dashscope_async: Annotated[str | None, Header()] = None,
    x_dashscope_ossresourceresolve: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    """Queue a file (≤ 2 GB / 12 h) for transcription; answers PENDING at once."""
    if not header_enabled(x_dashscope_async):
        raise InvalidParameterError(
            "current user api does not support synchronous calls: send X-DashScope-Async: enable",
            param="X-DashScope-Async",
        )
    engine_model = ctx.catalog.engine_for_async(body.model)
    obs.model = body.model
    view = await run_in_threadpool(
        _queue(ctx).submit,
        body.input.file_url,
        to_options(body, engine_model),
        model_name=body.model,
        oss_resolve=header_enabled(x_dashscope_ossresourceresolve),
        api_key_id=key_id(api_key),
        request_id=rid,
    )
    queued = SubmitResponse(request_id=rid, output=SubmitOutput(task_id=view.task_id, task_status="PENDING"))
    return JSONResponse(dump(queued))


@router.get("/tasks/{task_id}", response_model=TaskResponse)
@gated(TASKS)
async def fetch(task_id: str, ctx: Context, api_key: ApiKey, rid: RequestId, request: Request) -> JSONResponse:
    """Poll a task. Unknown ids, and other keys' tasks, answer 200 with task_status UNKNOWN (spec §7.2)."""
    queue = _queue(ctx)
    view = await run_in_threadpool(queue.get, task_id, api_key_id=key_id(api_key))
    if view is None:
        return JSONResponse(dump(TaskResponse(request_id=rid, output=unknown_output(task_id))))
    body = TaskResponse(request_id=rid, output=task_output(view, queue.result_url(view, base_url(ctx, request))))
    if view.usage_seconds is not None:
        body.usage = TaskUsage(seconds=view.usage_seconds)
    return JSONResponse(dump(body))


@router.get("/tasks/{task_id}/audio", response_class=StreamingResponse, include_in_schema=False)
@gated(TASKS)
async def task_audio(task_id: str, ctx: Context, api_key: ApiKey) -> StreamingResponse:
    """The audio a task was submitted with, to the key that submitted it (an openasr extension).

    The page plays a task's audio beside its transcript; after a reload it has no copy of the file, so it
    asks for the upload back. Only ``oss://`` uploads are kept here (an http(s) source is the caller's to
    fetch); another key's task, and an upload past its retention, answer the same 404.
    """
    owner = key_id(api_key)
    view = await run_in_threadpool(_queue(ctx).get, task_id, api_key_id=owner)
    if view is None or not view.file_url.startswith("oss://") or ctx.uploads is None:
        raise HTTPException(404, f"task {task_id} has no uploaded audio on this server for this key")
    upload = await run_in_threadpool(ctx.uploads.lookup, view.file_url.removeprefix("oss://"), owner)
    stream = await run_in_threadpool(ctx.uploads.open_data, upload)
    headers = {"Content-Length": str(upload.size_bytes), "Cache-Control": "private, no-store"}
    media_type = upload.content_type or "application/octet-stream"
    return StreamingResponse(_blocks(stream), media_type=media_type, headers=headers)


@router.post("/tasks/{task_id}/cancel", response_model=CancelResponse)
@gated(TASKS)
async def cancel(task_id: str, ctx: Context, api_key: ApiKey, rid: RequestId) -> JSONResponse:
    """Cancel a PENDING task; any other state is 400 UnsupportedOperation."""
    await run_in_threadpool(_queue(ctx).cancel, task_id, api_key_id=key_id(api_key))
    return JSONResponse(dump(CancelResponse(request_id=rid)))


@router.get("/tasks", response_model=TaskListResponse)
@router.get("/tasks/", include_in_schema=False)
@gated(TASKS)
async def list_tasks(
    ctx: Context,
    api_key: ApiKey,
    rid: RequestId,
    page_no: Annotated[int, Query()] = 1,
    page_size: Annotated[int, Query()] = 10,
    start_time: Annotated[str | None, Query(description="YYYYMMDDhhmmss, UTC")] = None,
    end_time: Annotated[str | None, Query(description="YYYYMMDDhhmmss, UTC")] = None,
    model_name: Annotated[str | None, Query()] = None,
    status: Annotated[str | None, Query()] = None,
    api_key_id: Annotated[str | None, Query()] = None,
    region: Annotated[str | None, Query()] = None,
    task_id: Annotated[str | None, Query()] = None,
) -> JSONResponse:
    """The caller's own tasks, newest first; a filter on another key's id or region matches nothing."""
    own = key_id(api_key)
    filters = list_filter(
        api_key_id=own, status=status, model_name=model_name, task_id=task_id, start_time=start_time, end_time=end_time
    )
    page = await run_in_threadpool(_queue(ctx).list, filters, page_no=page_no, page_size=page_size)
    foreign = (api_key_id not in (None, "", own)) or (region not in (None, "", REGION))
    tasks = () if foreign else page.tasks
    total = 0 if foreign else page.total
    listing = TaskListResponse(
        request_id=rid,
        total=total,
        total_page=0 if foreign else page.total_page,
        page_no=page.page_no,
        page_size=page.page_size,
        data=[list_item(v, REGION) for v in tasks],
    )
    return JSONResponse(dump(listing))


@results_router.get("/results/{key}.json", responses={200: {"model": ResultDocument}})
@gated(RESULTS)
async def result_file(
    key: str,
    ctx: Context,
    expires: Annotated[str, Query(alias="Expires")] = "",
    signature: Annotated[str, Query(alias="Signature")] = "",
) -> StreamingResponse:
    """E8: the result JSON at a signed, expiring URL; no API key (spec §7.5). Streamed from the blob
    store, so any node serves any task's result."""
    results = _queue(ctx).results
    if not results.verify(key, expires, signature):
        raise AccessDeniedError("the result link is invalid or has expired")
    try:
        stream = await run_in_threadpool(results.open, key)
    except ResultNotFoundError:
        raise ResultNotFoundError("the result has been removed after its retention time") from None
    return StreamingResponse(_blocks(stream), media_type="application/json")


def _blocks(stream: IO[bytes]) -> Iterator[bytes]:
    """The blob in 64 KiB blocks (Starlette iterates a sync iterator in its thread pool)."""
    with stream:
        while block := stream.read(64 * 1024):
            yield block
