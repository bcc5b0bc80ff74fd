"""What one request or session did, gathered while it runs and handed on once when it has ended.

The gate (`server.gate`) gives every HTTP request and WebSocket session an `Observation` (in the ASGI
scope's state) and notes the caller's key id; routes and handlers note the model once the catalog has
accepted it and what they bill, streams note each recognised chunk as they send it. When the answer has
ended (or the client went away mid-stream) the gate hands the observation to metrics, the access log and
the usage store, so none of them delays a response.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends
from starlette.requests import HTTPConnection
from starlette.types import Scope

from openasr.core.billing import charge
from openasr.core.options import TokenCounter, count_context_tokens
from openasr.jobs.usage import Usage
from openasr.server.surface import declared


@dataclass
class Observation:
    request_id: str
    started: float = field(default_factory=time.monotonic)
    route: str = "unmatched"
    surface: str = "other"
    model: str = ""
    api_key_id: str | None = None
    streaming: bool = False
    audio_s: float = 0.0
    """Seconds of audio recognised so far (all channels)."""
    usage: Usage | None = None
    """What the call is billed; None for calls that bill nothing (polls, uploads, errors)."""
    first_delta_s: float | None = None
    body_bytes: int = 0
    """Bytes received: an HTTP body, or a WebSocket session's frames."""

    def bill(
        self,
        audio_s: float,
        *,
        context: str,
        text: str,
        channels: int = 1,
        count: TokenCounter = count_context_tokens,
    ) -> None:
        """Bill `audio_s` seconds of audio the way responses report it (`core.billing.charge`)."""
        billed = charge(audio_s, context=context, text=text, count=count, channels=channels)
        self.audio_s = audio_s * channels
        self.usage = Usage(billed.seconds, billed.input_tokens, billed.output_tokens)

    def delta_sent(self) -> None:
        if self.first_delta_s is None:
            self.first_delta_s = time.monotonic() - self.started


def observation(connection: HTTPConnection) -> Observation:
    """The request's or session's observation (a route's or WebSocket handler's dependency)."""
    obs = getattr(connection.state, "observation", None)
    if obs is None:  # an app without the gate (never in create_app): observe into the void
        obs = connection.state.observation = Observation(str(getattr(connection.state, "request_id", "")))
    return obs


async def _observed(connection: HTTPConnection) -> Observation:
    return observation(connection)  # async: see `server.deps`


Observed = Annotated[Observation, Depends(_observed)]


def name_route(obs: Observation, scope: Scope) -> None:
    """Once the router has run: the route template (never the raw path: ids and signatures would make
    every request a label) and the surface it declared, `-stream` when it streamed its answer."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if route is None or path is None:
        return
    obs.route = str(path)
    surface = declared(route).label
    obs.surface = f"{surface}-stream" if obs.streaming else surface
