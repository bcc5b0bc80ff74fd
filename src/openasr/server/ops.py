"""Operations routes: `/health` (the process answers), `/ready` (it should get work), `/metrics`.

`/health` is liveness: 200 whenever the process can answer, so an orchestrator restarts only a hung
process. `/ready` is readiness: 503 with the failing checks named while the model is not loaded, the
task store cannot be reached, the engine queue is saturated, or the server is shutting down.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from openasr import __version__
from openasr.server.deps import AppContext, Context
from openasr.server.metrics import CONTENT_TYPE

router = APIRouter(tags=["ops"])


class Health(BaseModel):
    status: str = Field(description="always `ok`: the process answers")
    version: str
    model: str = Field(description="the default engine model (OPENASR_DEFAULT_MODEL)")
    workers: int = Field(description="async task workers running in this process")


class Check(BaseModel):
    ok: bool
    detail: str


class Readiness(BaseModel):
    ready: bool
    not_ready: list[str] = Field(description="names of the failing checks; empty when ready")
    checks: dict[str, Check] = Field(description="model, store, queue, accepting")


@router.get("/health")
async def health(ctx: Context) -> Health:
    """Liveness: the process is up and answering."""
    return Health(status="ok", version=__version__, model=ctx.settings.default_model, workers=len(ctx.workers))


@router.get("/ready", response_model=Readiness, responses={503: {"model": Readiness, "description": "not ready"}})
async def ready(ctx: Context) -> JSONResponse:
    """Readiness: model loaded, task store reachable, engine queue not saturated, not shutting down."""
    checks = {
        "model": _model(ctx),
        "store": await run_in_threadpool(_store, ctx),
        "queue": _queue(ctx),
        "accepting": Check(ok=not ctx.stopping, detail="shutting down" if ctx.stopping else "accepting work"),
    }
    failing = [name for name, check in checks.items() if not check.ok]
    body = Readiness(ready=not failing, not_ready=failing, checks=checks)
    return JSONResponse(body.model_dump(), status_code=503 if failing else 200)


_PROMETHEUS_TEXT: dict[int | str, dict[str, Any]] = {200: {"content": {CONTENT_TYPE: {"schema": {"type": "string"}}}}}


@router.get("/metrics", response_class=Response, responses=_PROMETHEUS_TEXT)
async def metrics(ctx: Context) -> Response:
    """Prometheus text exposition of this process's metrics (names start with `openasr_`)."""
    assert ctx.metrics is not None, "create_app builds the metrics"
    body = await run_in_threadpool(ctx.metrics.render)  # the task-state gauge queries the store
    return Response(body, media_type=CONTENT_TYPE)


def _model(ctx: AppContext) -> Check:
    model = ctx.settings.default_model
    if ctx.ready and model in ctx.service.engines.opened():  # unloaded while idle, it loads on the next request
        state = "loaded" if ctx.service.engines.is_loaded(model) else "unloaded while idle"
        return Check(ok=True, detail=f"{model} {state}")
    return Check(ok=False, detail=f"{model} not loaded yet")


def _store(ctx: AppContext) -> Check:
    if ctx.tasks is None:
        return Check(ok=False, detail="no task store")
    try:
        ctx.tasks.store.ping()
    except Exception as exc:
        return Check(ok=False, detail=f"task store unreachable: {type(exc).__name__}")
    return Check(ok=True, detail=f"{ctx.tasks.store.dialect} reachable")


def _queue(ctx: AppContext) -> Check:
    limit = ctx.settings.ready_max_queued_chunks
    queued = sum(sum(e.stats.queued.values()) for e in ctx.service.engines.opened().values())
    ok = queued <= limit
    return Check(ok=ok, detail=f"{queued} chunk(s) queued; limit {limit}")
