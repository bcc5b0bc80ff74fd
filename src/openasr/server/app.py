"""`create_app(settings)`: the whole server, built from settings passed in (no global config).

The lifespan loads the default engine before `/health` answers 200, so a load balancer never sends
audio to a server that would first spend seconds loading weights; then it recovers interrupted tasks
and starts the async workers, and stops them (leaving their tasks resumable) on shutdown.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from openasr import __version__
from openasr.jobs.results import ResultStore
from openasr.jobs.secrets import load_or_create_secret
from openasr.jobs.store import TaskStore, sqlite_url
from openasr.jobs.tasks import TaskQueue
from openasr.jobs.uploads import UploadStore
from openasr.jobs.worker import TaskWorker, WorkerConfig, async_source_policy
from openasr.runtime.engine_pool import EngineConfig, EnginePool
from openasr.server.auth import Gate, KeyRing, RateLimiter
from openasr.server.dashscope.router import router as dashscope_router
from openasr.server.dashscope.tasks import results_router
from openasr.server.dashscope.tasks import router as tasks_router
from openasr.server.dashscope.uploads import router as uploads_router
from openasr.server.deps import AppContext
from openasr.server.errors import RequestIdMiddleware, install_error_handlers
from openasr.server.openai.router import router as openai_router
from openasr.server.web.router import router as web_router
from openasr.service import ModelCatalog, TranscriptionService, sync_policy
from openasr.settings import Settings

log = logging.getLogger("openasr.server")


def build_context(settings: Settings, engines: EnginePool | None = None) -> AppContext:
    engines = engines or EnginePool(settings.cache_dir, EngineConfig.from_settings(settings))
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    workdir = settings.data_dir / "tmp"
    workdir.mkdir(parents=True, exist_ok=True)
    secret = load_or_create_secret(settings.data_dir)
    uploads = UploadStore(  # E2/E3 upload flow and oss:// keys (spec §6)
        settings.data_dir / "uploads", secret, retention_s=settings.upload_retention_hours * 3600
    )
    service = TranscriptionService(
        engines,
        ModelCatalog(settings.default_model),
        sync_policy(settings.allow_private_urls, settings.file_roots),
        workdir,
        uploads=uploads,
    )
    tasks = TaskQueue(
        TaskStore(settings.database_url or sqlite_url(settings.data_dir)),
        ResultStore(settings.data_dir / "results", secret),
        engines=engines,
        result_retention_s=settings.result_retention_hours * 3600,
    )
    gate = Gate(KeyRing(settings.api_keys), RateLimiter(settings.rate_limit_per_minute, settings.rate_limit_window_s))
    return AppContext(settings=settings, service=service, gate=gate, uploads=uploads, tasks=tasks)


def start_workers(ctx: AppContext) -> None:
    """Recover tasks a dead process left RUNNING, then start `settings.workers` worker threads.

    With SQLite the database belongs to this one server, so every RUNNING task is an orphan and resumes
    at once; with a shared PostgreSQL only tasks whose heartbeat went stale are taken over.
    """
    assert ctx.tasks is not None and ctx.uploads is not None
    settings, store = ctx.settings, ctx.tasks.store
    config = WorkerConfig(
        data_dir=settings.data_dir,
        policy=async_source_policy(allow_private_urls=settings.allow_private_urls, file_roots=settings.file_roots),
        result_retention_s=settings.result_retention_hours * 3600,
        task_retention_s=settings.task_retention_hours * 3600,
    )
    recovery = store.recover_orphans(0.0 if store.dialect == "sqlite" else config.stale_after_s)
    if recovery.requeued or recovery.failed:
        log.info("recovered interrupted tasks: %s requeued, %s failed", recovery.requeued, recovery.failed)
    for _ in range(max(0, settings.workers)):
        worker = TaskWorker(store, ctx.tasks.results, ctx.service.engines, config, uploads=ctx.uploads)
        worker.start()
        ctx.workers.append(worker)


def stop_workers(ctx: AppContext) -> None:
    for worker in ctx.workers:
        worker.stop()
    ctx.workers.clear()


def create_app(settings: Settings | None = None, *, engines: EnginePool | None = None) -> FastAPI:
    settings = settings or Settings()
    owns_engines = engines is None
    ctx = build_context(settings, engines)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(ctx.service.engines.get, settings.default_model)
        await run_in_threadpool(start_workers, ctx)
        ctx.ready = True
        log.info("openasr %s ready with %s, %d worker(s)", __version__, settings.default_model, len(ctx.workers))
        try:
            yield
        finally:
            ctx.ready = False
            await run_in_threadpool(stop_workers, ctx)
            if owns_engines:
                await run_in_threadpool(ctx.service.engines.close)

    app = FastAPI(
        title="openasr",
        version=__version__,
        lifespan=lifespan,
        description="Self-hosted Qwen3-ASR (DashScope) and OpenAI-compatible speech recognition.",
    )
    app.state.ctx = ctx
    app.add_middleware(RequestIdMiddleware)
    install_error_handlers(app)
    for router in (dashscope_router, uploads_router, tasks_router, results_router, openai_router, web_router):
        app.include_router(router)

    @app.get("/health", tags=["ops"])
    async def health() -> JSONResponse:
        status = 200 if ctx.ready else 503
        body = {
            "status": "ok" if ctx.ready else "loading",
            "model": settings.default_model,
            "workers": len(ctx.workers),
        }
        return JSONResponse(body, status_code=status)

    return app
