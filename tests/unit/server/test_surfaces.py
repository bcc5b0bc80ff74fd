"""What each route declares to the gate, and how the gate finds the route the router will pick."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, WebSocket
from fastapi.dependencies.models import Dependant
from fastapi.routing import iter_route_contexts

from openasr.server.app import create_app
from openasr.server.dashscope.uploads import policy_key
from openasr.server.deps import authorized_key
from openasr.server.surface import OPEN, UNROUTED, Surface, Surfaces, declared, gated
from openasr.settings import Settings

GENERATION = "/api/v1/services/aigc/multimodal-generation/generation"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    root = tmp_path_factory.mktemp("surfaces")
    return create_app(Settings(data_dir=root / "data", cache_dir=root / "cache"))


def scope(app: FastAPI, method: str, path: str, kind: str = "http") -> dict[str, Any]:
    return {"type": kind, "method": method, "path": path, "root_path": "", "headers": [], "app": app}


def calls(dependant: Dependant) -> Iterator[object]:
    for dependency in dependant.dependencies:
        yield dependency.call
        yield from calls(dependency)


def test_every_route_that_reads_a_key_has_it_checked_before_its_body(app: FastAPI) -> None:
    keyed = [
        route
        for route in iter_route_contexts(app.router.routes)
        if getattr(route, "dependant", None) is not None and {authorized_key, policy_key} & set(calls(route.dependant))
    ]
    assert len(keyed) >= 10
    assert all(declared(route).needs_key for route in keyed), [route.path for route in keyed]


def test_the_gate_finds_the_route_the_router_picks(app: FastAPI) -> None:
    surfaces = Surfaces()
    sync = surfaces.of(scope(app, "POST", GENERATION))
    assert (sync.label, sync.needs_key, sync.invocation, sync.sync) == ("dashscope", True, True, True)
    assert surfaces.of(scope(app, "POST", "/v1/audio/transcriptions")).max_body_bytes == 25 * 2**20 + 2**20
    assert surfaces.of(scope(app, "GET", "/api/v1/tasks/some-id")) == Surface("task")
    assert surfaces.of(scope(app, "GET", "/health")) == OPEN
    assert surfaces.of(scope(app, "GET", "/no/such/path")) == UNROUTED
    other_method = surfaces.of(scope(app, "GET", GENERATION))  # 405: keyed, but no model is invoked
    assert other_method.needs_key and not other_method.invocation and not other_method.sync


def test_a_websocket_route_added_after_the_first_lookup_is_found(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path, cache_dir=tmp_path / "cache"))
    surfaces = Surfaces()
    assert surfaces.of(scope(app, "GET", "/api-ws/v1/added-later", kind="websocket")) == UNROUTED
    session = Surface("realtime", invocation=True)

    @app.websocket("/api-ws/v1/added-later")
    @gated(session)
    async def realtime(websocket: WebSocket) -> None:
        await websocket.close()

    assert surfaces.of(scope(app, "GET", "/api-ws/v1/added-later", kind="websocket")) == session
    assert surfaces.of(scope(app, "GET", "/api-ws/v1/added-later")) == UNROUTED  # an HTTP GET is no session
