"""What one request did, gathered while it runs and handed on once when it has ended.

`ObservationMiddleware` gives every HTTP request an `Observation` (in the ASGI scope's state); the gate
notes the caller's key id, routes note the model once the catalog has accepted it and what they bill,
streams note each recognised chunk as they send it. When the response has been sent (or the client went
away mid-stream) the middleware hands the observation to `observe` inline (metrics and the log line:
microseconds) and to `persist` in a worker thread (the usage row), so neither delays a response.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated

import anyio
from fastapi import Depends, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from openasr.core.options import TokenCounter, count_audio_tokens, count_context_tokens
from openasr.jobs.usage import Usage

log = logging.getLogger("openasr.server")

SURFACES = {
    "DashScope": "dashscope",
    "DashScope async": "task",
    "DashScope uploads": "upload",
    "OpenAI-compatible": "openai",
    "ops": "ops",
}
"""Route tag → the `surface` label; a streamed request adds `-stream` (`Observation.streaming`)."""


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

    def bill(
        self,
        audio_s: float,
        *,
        context: str,
        text: str,
        channels: int = 1,
        count: TokenCounter = count_context_tokens,
    ) -> None:
        """Bill `audio_s` seconds of audio the way responses report it: whole seconds rounded up per
        channel, audio at 25 tokens/s plus the context as input tokens, the text as output tokens."""
        seconds = _ceil(audio_s) * channels
        self.audio_s = audio_s * channels
        self.usage = Usage(seconds, count_audio_tokens(seconds) + count(context), count(text))

    def delta_sent(self) -> None:
        if self.first_delta_s is None:
            self.first_delta_s = time.monotonic() - self.started


def _ceil(seconds: float) -> int:
    whole = int(seconds)
    return whole + (1 if seconds - whole > 1e-9 else 0) if seconds > 0 else 0


def observation(request: Request) -> Observation:
    obs = getattr(request.state, "observation", None)
    if obs is None:  # an app without the middleware (never in create_app): observe into the void
        obs = request.state.observation = Observation(str(getattr(request.state, "request_id", "")))
    return obs


Observed = Annotated[Observation, Depends(observation)]


class ObservationMiddleware:
    """Times each HTTP request, counts its body bytes and status, and hands its observation on at the end.

    Sits inside `RequestIdMiddleware` (it reads the request id that one set)."""

    def __init__(
        self,
        app: ASGIApp,
        observe: Callable[[Observation, int, float], None],
        persist: Callable[[Observation], None],
    ) -> None:
        self.app = app
        self._observe = observe
        self._persist = persist

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        obs = state["observation"] = Observation(str(state.get("request_id", "")))
        status = 500

        async def counting_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                obs.body_bytes += len(message.get("body", b""))
            return message

        async def status_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, counting_receive, status_send)
        finally:
            _name_route(obs, scope)
            with anyio.CancelScope(shield=True):  # a client that left must not cost the record
                await self._finish(obs, status)

    async def _finish(self, obs: Observation, status: int) -> None:
        try:
            self._observe(obs, status, time.monotonic() - obs.started)
        except Exception:
            log.exception("request %s: observing it failed", obs.request_id)
        if obs.usage is not None and (status < 400 or obs.streaming):
            try:
                await anyio.to_thread.run_sync(self._persist, obs)
            except Exception:
                log.exception("request %s: its usage could not be recorded", obs.request_id)


def _name_route(obs: Observation, scope: Scope) -> None:
    """The route template (never the raw path: ids and signatures would make every request a label)."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if path is None:
        return
    obs.route = str(path)
    tags = getattr(route, "tags", None) or ["ops"]
    surface = SURFACES.get(str(tags[0]), "other")
    obs.surface = f"{surface}-stream" if obs.streaming else surface
