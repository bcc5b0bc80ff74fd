"""What a route is to the gate, declared where the route is declared.

The gate must decide from the path and headers alone, before a byte of the body is read, whether the
caller needs a key, whether the call counts against the key's rate, how large its body may be and whether
it waits in the engine's queue. Each route says so itself with `@gated(Surface(...))`; the gate finds the
route the router would pick (`surface_of`), so a new route, HTTP or WebSocket, brings its own rules and no
table of paths has to follow it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar, cast

from fastapi import routing
from starlette.routing import BaseRoute, Match
from starlette.types import Scope

from openasr.service import MB, OPENAI_FILE_LIMITS, SYNC_LIMITS

SMALL_BODY_BYTES = 1 * MB
"""Task submissions, polls and everything else carry a little JSON."""
JSON_AUDIO_BYTES = int(SYNC_LIMITS.max_bytes * 4 / 3) + SMALL_BODY_BYTES
"""A data URI of the 10 MB sync limit, base64-encoded, plus the rest of the JSON."""
FORM_AUDIO_BYTES = OPENAI_FILE_LIMITS.max_bytes + SMALL_BODY_BYTES
"""A multipart form with OpenAI's 25 MB file."""


@dataclass(frozen=True)
class Surface:
    label: str
    """The `surface` of metrics, access log and usage rows (`-stream` is added for a streamed answer)."""
    needs_key: bool = True
    """A missing or wrong key is refused (401) before the body or the handshake is taken further."""
    invocation: bool = False
    """A model invocation: counted against the key's rate (spec §11), even when it is refused later."""
    sync: bool = False
    """Recognised while the client waits: admitted into the engine's queue once its body is in (an HTTP
    call) or at the handshake (a WebSocket session), only while the predicted wait is under its bound."""
    max_body_bytes: int | None = SMALL_BODY_BYTES
    """An HTTP body's cap; None: the route caps its own body (E3 uploads, whose cap is the store's)."""
    realtime: bool = False
    """A realtime session: holds one of the server's realtime slots (`OPENASR_MAX_REALTIME_SESSIONS`)
    from its handshake to its end, or is refused at the handshake when none is free."""


OPEN = Surface("ops", needs_key=False)
"""A route that declares nothing: health, metrics, docs, the web page."""
UNROUTED = Surface("other", needs_key=False)
"""A path no route serves: answered 404 by the router."""

_ATTRIBUTE = "__openasr_surface__"
Endpoint = TypeVar("Endpoint", bound=Callable[..., object])


def gated(surface: Surface) -> Callable[[Endpoint], Endpoint]:
    """Declare an endpoint's surface; put it under the router's decorator(s)."""

    def declare(endpoint: Endpoint) -> Endpoint:
        setattr(endpoint, _ATTRIBUTE, surface)
        return endpoint

    return declare


def declared(route: BaseRoute) -> Surface:
    surface = getattr(getattr(route, "endpoint", None), _ATTRIBUTE, OPEN)
    assert isinstance(surface, Surface)
    return surface


class Surfaces:
    """The surfaces of one app's routes, found the way its router matches a scope (HTTP or WebSocket).

    The routes are listed once, and again only when the app's own list has changed (a route added after
    the first request)."""

    def __init__(self) -> None:
        self._listed: tuple[int, list[BaseRoute]] = (-1, [])

    def of(self, scope: Scope) -> Surface:
        """The surface of the route the router will pick for `scope`. A path served only for other methods
        (405) keeps its key but is no invocation, as its call never reaches a model."""
        partial: BaseRoute | None = None
        for route in self._routes(scope["app"].router.routes):
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return declared(route)
            if match is Match.PARTIAL and partial is None:
                partial = route
        if partial is None:
            return UNROUTED
        return dataclasses.replace(
            declared(partial), invocation=False, sync=False, max_body_bytes=SMALL_BODY_BYTES, realtime=False
        )

    def _routes(self, routes: list[BaseRoute]) -> list[BaseRoute]:
        """Every route with its full path: FastAPI keeps an included router as one route of the app and
        walks into it (`iter_route_contexts`); before that, it copied the router's routes into the app."""
        if self._listed[0] != len(routes):
            flatten = getattr(routing, "iter_route_contexts", None)
            listed = routes if flatten is None else cast(Iterable[BaseRoute], flatten(routes))
            self._listed = (len(routes), list(listed))
        return self._listed[1]
