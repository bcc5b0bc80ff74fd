"""What routes and WebSocket handlers depend on, as `Annotated` aliases: the app's context, the caller's
key, the request id.

The dependencies are `async def` although none of them waits: FastAPI runs a plain `def` dependency in
the thread pool that sync recognitions fill, so with every thread busy (forty slow audio downloads)
even `/health` waited for one to come back."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends
from starlette.requests import HTTPConnection

from openasr.core.keys import key_id
from openasr.jobs.tasks import TaskQueue
from openasr.jobs.uploads import UploadStore
from openasr.jobs.worker import TaskWorker
from openasr.server.errors import request_id
from openasr.server.gate import Gate
from openasr.server.metrics import Metrics
from openasr.server.models import ModelCatalog
from openasr.server.observe import observation
from openasr.service import TranscriptionService
from openasr.settings import Settings
from openasr.storage import BlobStore
from openasr.system import System


@dataclass
class AppContext:
    settings: Settings
    service: TranscriptionService
    catalog: ModelCatalog
    """The public model names this server answers to."""
    gate: Gate
    system: System | None = None
    """Storage, stores, engines and workers' config, as `openasr.system` builds them for any process."""
    uploads: UploadStore | None = None
    tasks: TaskQueue | None = None
    workers: list[TaskWorker] = field(default_factory=list)
    metrics: Metrics | None = None
    blobs: BlobStore | None = None
    """The root blob store (`storage.open_store`): uploads/, results/ and work/ are scoped from it."""
    ready: bool = False
    """The lifespan has loaded the default model and started the workers."""
    stopping: bool = False
    """SIGTERM (or any shutdown) has begun: `/ready` says so, so a balancer stops sending work."""


def header_enabled(value: str | None) -> bool:
    """DashScope switches (`X-DashScope-SSE`, `-Async`, `-OssResourceResolve`) are on only when `enable`."""
    return (value or "").strip().lower() == "enable"


def get_context(connection: HTTPConnection) -> AppContext:
    ctx: AppContext = connection.app.state.ctx
    return ctx


async def _context(connection: HTTPConnection) -> AppContext:
    return get_context(connection)


async def authorized_key(connection: HTTPConnection) -> str | None:
    """The caller's key, for a route or a WebSocket handler (the gate has refused a wrong one already
    where the surface needs a key)."""
    api_key = get_context(connection).gate.key(connection.headers.get("authorization"))
    observation(connection).api_key_id = key_id(api_key)
    return api_key


async def _request_id(connection: HTTPConnection) -> str:
    return request_id(connection)


Context = Annotated[AppContext, Depends(_context)]
ApiKey = Annotated[str | None, Depends(authorized_key)]
RequestId = Annotated[str, Depends(_request_id)]
