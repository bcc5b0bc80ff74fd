"""`create_app(settings)`: the whole server, built from settings passed in (no global config).

The lifespan loads the default engine before `/health` answers 200, so a load balancer never sends
audio to a server that would first spend seconds loading weights.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from openasr import __version__
from openasr.jobs.secrets import load_or_create_secret
from openasr.jobs.uploads import UploadStore
from openasr.runtime.engine_pool import EnginePool
from openasr.server.auth import Gate, KeyRing, RateLimiter
from openasr.server.dashscope.router import router as dashscope_router
from openasr.server.dashscope.uploads import router as uploads_router
from openasr.server.deps import AppContext
from openasr.server.errors import RequestIdMiddleware, install_error_handlers
from openasr.server.openai.router import router as openai_router
from openasr.service import ModelCatalog, TranscriptionService, sync_policy
from openasr.settings import Settings

log = logging.getLogger("openasr.server")


def build_context(settings: Settings, engines: EnginePool | None = None) -> AppContext:
    engines = engines or EnginePool(
        settings.cache_dir, cpu_threads=settings.cpu_threads, workers=settings.engine_workers
    )
    workdir = settings.data_dir / "tmp"
    workdir.mkdir(parents=True, exist_ok=True)
    uploads = UploadStore(  # E2/E3 upload flow and oss:// keys (spec §6)
        settings.data_dir / "uploads",
        load_or_create_secret(settings.data_dir),
        retention_s=settings.upload_retention_hours * 3600,
    )
    service = TranscriptionService(
        engines,
        ModelCatalog(settings.default_model),
        sync_policy(settings.allow_private_urls, settings.file_roots),
        workdir,
        uploads=uploads,
    )
    gate = Gate(KeyRing(settings.api_keys), RateLimiter(settings.rate_limit_per_minute, settings.rate_limit_window_s))
    return AppContext(settings=settings, service=service, gate=gate, uploads=uploads)


def create_app(settings: Settings | None = None, *, engines: EnginePool | None = None) -> FastAPI:
    settings = settings or Settings()
    ctx = build_context(settings, engines)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(ctx.service.engines.get, settings.default_model)
        ctx.ready = True
        log.info("openasr %s ready with %s", __version__, settings.default_model)
        yield

    app = FastAPI(title="openasr", version=__version__, lifespan=lifespan,
                  description="Self-hosted Qwen3-ASR (DashScope) and OpenAI-compatible speech recognition.")
    app.state.ctx = ctx
    app.add_middleware(RequestIdMiddleware)
    install_error_handlers(app)
    app.include_router(dashscope_router)
    app.include_router(uploads_router)
    app.include_router(openai_router)

    @app.get("/health", tags=["ops"])
    async def health() -> JSONResponse:
        status = 200 if ctx.ready else 503
        return JSONResponse({"status": "ok" if ctx.ready else "loading", "model": settings.default_model},
                            status_code=status)

    return app
