"""`create_app(settings)`: the whole server, built from settings passed in (no global config).

The lifespan loads the default engine before `/ready` answers 200, so a load balancer never sends
audio to a server that would first spend seconds loading weights; then it recovers interrupted tasks
and starts the async workers. On shutdown (SIGTERM: uvicorn first stops accepting and lets open
requests finish within `shutdown_timeout_s`) `/ready` turns 503, and every worker finishes its current
chunk, checkpoints it and releases its task's lease, within `shutdown_timeout_s` again; a task still
running after that is taken over by the next start (SQLite) or by another server (stale heartbeat).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from openasr import __version__
from openasr.engines.base import EngineCapabilities
from openasr.jobs.rate_limits import SharedRateLimiter
from openasr.jobs.store import TaskStore
from openasr.jobs.tasks import TaskQueue
from openasr.pipeline.stages import configured_stages, with_stages
from openasr.runtime.admission import Admission
from openasr.runtime.engine_pool import EnginePool
from openasr.runtime.memory import release_free_memory
from openasr.server.auth import KeyRing, Limiter, RateLimiter
from openasr.server.body import BodyLimits
from openasr.server.dashscope.realtime import router as realtime_router
from openasr.server.dashscope.router import router as dashscope_router
from openasr.server.dashscope.run_task_route import router as run_task_router
from openasr.server.dashscope.tasks import results_router
from openasr.server.dashscope.tasks import router as tasks_router
from openasr.server.dashscope.uploads import router as uploads_router
from openasr.server.deps import AppContext
from openasr.server.docs import DashScopeError, OpenAIError, error_responses, install_openapi, offline_app
from openasr.server.errors import install_error_handlers
from openasr.server.gate import Gate
from openasr.server.gate_asgi import GateMiddleware
from openasr.server.metrics import Metrics
from openasr.server.models import ModelCatalog
from openasr.server.openai.realtime_route import router as openai_realtime_router
from openasr.server.openai.router import router as openai_router
from openasr.server.ops import router as ops_router
from openasr.server.usage import router as usage_router
from openasr.server.web.router import router as web_router
from openasr.service import TranscriptionService, sync_policy
from openasr.settings import Settings
from openasr.system import build_system

log = logging.getLogger("openasr.server")


def build_context(settings: Settings, engines: EnginePool | None = None) -> AppContext:
    system = build_system(settings, engines)
    workdir = settings.data_dir / "tmp"
    workdir.mkdir(parents=True, exist_ok=True)
    # An upload another node is receiving in a shared directory writes at least once per body timeout.
    if removed := system.uploads.remove_partials(idle_for_s=2 * settings.request_body_timeout_s):
        log.info("removed %d file(s) of interrupted uploads", removed)
    service = TranscriptionService(
        system.engines,
        sync_policy(settings.allow_private_urls, settings.file_roots),
        workdir,
        uploads=system.uploads,
        admission=Admission(settings.max_wait_s, on_idle=release_free_memory),
    )
    tasks = TaskQueue(
        system.store,
        system.results,
        engines=system.engines,
        result_retention_s=settings.result_retention_hours * 3600,
    )
    keys = (*settings.api_keys, *settings.admin_keys) if settings.api_keys else ()  # open stays open
    metrics = Metrics(system.engines, tasks.store)
    limiter = rate_limiter(settings, tasks.store)
    gate = Gate(
        KeyRing(keys),
        limiter,
        service.admission,
        settings.default_model,
        metrics,
        usage=tasks.store,
        realtime_sessions=settings.max_realtime_sessions,
    )
    return AppContext(
        settings=settings,
        service=service,
        catalog=ModelCatalog(settings.default_model),
        gate=gate,
        system=system,
        uploads=system.uploads,
        tasks=tasks,
        metrics=metrics,
        blobs=system.blobs,
    )


def rate_limiter(settings: Settings, store: TaskStore) -> Limiter:
    """In the shared database when one is configured (several API nodes limit a key as one), else in
    memory: the default SQLite database belongs to this one server."""
    limit, window_s = settings.rate_limit_per_minute, settings.rate_limit_window_s
    if settings.database_url:
        return SharedRateLimiter(store.engine, limit, window_s)
    return RateLimiter(limit, window_s)


def start_workers(ctx: AppContext) -> None:
    """Recover tasks a dead process left RUNNING, then start `settings.workers` worker threads.

    With SQLite the database belongs to this one server, so every RUNNING task is an orphan and resumes
    at once; with a shared PostgreSQL only tasks whose heartbeat went stale are taken over.
    """
    assert ctx.system is not None
    settings, store = ctx.settings, ctx.system.store
    recovery = store.recover_orphans(0.0 if store.dialect == "sqlite" else settings.task_stale_after_s)
    if recovery.requeued or recovery.failed:
        log.info("recovered interrupted tasks: %s requeued, %s failed", recovery.requeued, recovery.failed)
    on_finished = ctx.metrics.observe_task if ctx.metrics is not None else None
    ctx.workers.extend(ctx.system.start_workers(settings.workers, on_finished))


def stop_workers(ctx: AppContext) -> None:
    """Stop every worker in parallel within `shutdown_timeout_s`: each releases its task (PENDING,
    checkpoints kept) after the chunk it is on. One that overruns is left to recovery."""
    for worker in ctx.workers:
        worker.request_stop()
    deadline = time.monotonic() + ctx.settings.shutdown_timeout_s
    for worker in ctx.workers:
        if not worker.stop(max(0.0, deadline - time.monotonic())):
            log.warning("worker %s still running at shutdown; its task resumes on the next start", worker.worker_id)
    ctx.workers.clear()


def loaded_capabilities(ctx: AppContext) -> tuple[str, EngineCapabilities] | None:
    model = ctx.settings.default_model
    engines = ctx.service.engines
    engine = engines.opened().get(model)
    return (model, with_stages(engine.capabilities, configured_stages(engines))) if engine is not None else None


def create_app(settings: Settings | None = None, *, engines: EnginePool | None = None) -> FastAPI:
    settings = settings or Settings()
    owns_engines = engines is None
    ctx = build_context(settings, engines)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(ctx.service.engines.get, settings.default_model)
        await run_in_threadpool(ctx.service.engines.emotion)  # a bad OPENASR_EMOTION_MODEL fails the start
        await run_in_threadpool(start_workers, ctx)
        ctx.ready, ctx.stopping = True, False
        log.info("openasr %s ready with %s, %d worker(s)", __version__, settings.default_model, len(ctx.workers))
        try:
            yield
        finally:
            ctx.stopping = True
            await run_in_threadpool(stop_workers, ctx)
            ctx.ready = False
            if owns_engines:
                await run_in_threadpool(ctx.service.engines.close)

    app = offline_app(
        title="openasr",
        version=__version__,
        lifespan=lifespan,
        description="Self-hosted Qwen3-ASR (DashScope) and OpenAI-compatible speech recognition.",
    )
    app.state.ctx = ctx
    body_limits = BodyLimits(
        settings.request_body_timeout_s, settings.request_body_min_rate, settings.request_body_rate_grace_s
    )
    app.add_middleware(GateMiddleware, gate=ctx.gate, body_limits=body_limits)  # the only middleware
    install_error_handlers(app)
    dashscope_errors = error_responses(DashScopeError)
    for router in (dashscope_router, uploads_router, tasks_router, results_router, usage_router):
        app.include_router(router, responses=dashscope_errors)
    app.include_router(openai_router, responses=error_responses(OpenAIError))
    app.include_router(openai_realtime_router)
    app.include_router(run_task_router)
    app.include_router(ops_router, responses={"5XX": dashscope_errors["5XX"]})
    app.include_router(realtime_router)
    app.include_router(web_router)
    install_openapi(app, lambda: loaded_capabilities(ctx))
    return app
