"""A request body as it arrives: its cap, its pace, and the moment it is complete.

Production servers bound a body twice: a pause between two reads (`timeout_s`) and an average rate
(`min_rate`, bytes per second, once `grace_s` has passed since the body began: nginx's and Apache
mod_reqtimeout's `MinRate`). The pause alone lets a client that sends one byte every few seconds hold
its connection for hours; the rate cuts it with 408 soon after the grace. `on_complete` runs once the
last byte is in: the moment a sync request is admitted into the engine's queue, so a body still
trickling holds no room there.

Whatever is raised here is raised inside FastAPI's reading of the body, which turns anything but an
`HTTPException` into a 400: each refusal is one, and the error handlers answer it in the surface's format.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import anyio
from fastapi import HTTPException
from starlette.types import Message, Receive, Send

from openasr.service import MB


@dataclass(frozen=True)
class BodyLimits:
    timeout_s: float = 30.0
    """The longest pause between two reads."""
    min_rate: float = 240.0
    """Bytes per second the body must average after `grace_s`; 0: no rate check."""
    grace_s: float = 5.0


class Overflow(HTTPException):
    """The body grew past its cap while arriving; the error handlers render it as 413."""

    def __init__(self, cap: int) -> None:
        super().__init__(413, too_large_message(cap))


def too_large_message(cap: int) -> str:
    return f"the request body is larger than the {cap / MB:.0f} MB allowed here"


class GuardedBody:
    """A request's `receive` with the body's cap, pause and rate checks, calling `on_complete` once the
    body is in; after that, receive waits untimed (a streaming response listens on it for the client
    leaving). `send` closes the connection after a response that starts before the body is complete
    (a refusal mid-body): the rest of that body is never read, so the connection cannot carry another
    request, and a client still trickling would otherwise keep it open."""

    def __init__(
        self, receive: Receive, limits: BodyLimits, cap: int | None, on_complete: Callable[[], None] | None = None
    ) -> None:
        self._receive, self._limits, self._cap, self._on_complete = receive, limits, cap, on_complete
        self.received = 0
        self.complete = False
        self._started: float | None = None

    async def receive(self) -> Message:
        if self.complete:
            return await self._receive()
        now = time.monotonic()
        self._started = now if self._started is None else self._started
        message = await _next(self._receive, self._limits, self.received, now - self._started)
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self._cap is not None and self.received > self._cap:
                raise Overflow(self._cap)
            self.complete = not message.get("more_body", False)
            if self.complete and self._on_complete is not None:
                self._on_complete()
        return message

    def closing(self, send: Send) -> Send:
        """`send` that adds `Connection: close` to a response started before the body is complete."""

        async def closing_send(message: Message) -> None:
            if message["type"] == "http.response.start" and not self.complete:
                message.setdefault("headers", []).append((b"connection", b"close"))
            await send(message)

        return closing_send


async def _next(receive: Receive, limits: BodyLimits, received: int, elapsed_s: float) -> Message:
    """The next message within the pause limit and before the average rate falls under its minimum."""
    wait_s, cause = limits.timeout_s, f"no body data arrived for {limits.timeout_s:g} s"
    if limits.min_rate > 0:
        rate_left_s = max(limits.grace_s, received / limits.min_rate) - elapsed_s
        if rate_left_s < wait_s:
            wait_s = rate_left_s
            cause = f"the body arrived at less than {limits.min_rate:g} bytes/s"
    try:
        with anyio.fail_after(max(0.0, wait_s)):
            return await receive()
    except TimeoutError:
        raise HTTPException(408, cause) from None
