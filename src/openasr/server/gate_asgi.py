"""The gate as ASGI middleware, for HTTP requests and WebSocket sessions alike.

FastAPI reads (and for JSON, buffers) a body before any dependency runs, so the gate sits in front of
the router and decides what it can from the path and headers alone: a missing or wrong key is 401 and an
invocation over its key's rate is 429 before a byte of the body is read; a `Content-Length` over the
route's cap is 413 at once, and a body that grows past the cap while it arrives (chunked, or a lying
length) is cut off with 413, so no body is ever held beyond its cap. A body that pauses too long or
arrives too slowly is cut with 408 (`server.body`). A sync HTTP call is admitted into the engine's queue
(503/429 while the predicted wait is over its bound) only when its body is complete: a client still
sending holds no room there, so a few hundred trickling clients cannot lock out everybody else.

A WebSocket session passes the same checks at its handshake: a refusal is the HTTP answer its clients
read (401, 429 or 503 with `Retry-After`, the error envelope of the path's surface), as the cloud fails a
realtime handshake. A sync session is admitted at the handshake and counted in the engine's queue until
it ends. Every answer, accepted handshakes included, carries `X-Request-Id`.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import ExitStack
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from openasr.core.errors import AsrError
from openasr.server.body import BodyLimits, GuardedBody
from openasr.server.errors import CarriedError, error_envelope, error_response
from openasr.server.gate import Gate
from openasr.server.observe import Observation, name_route
from openasr.server.surface import Surfaces

ACCEPTED = 101
"""A WebSocket session's status in metrics and the log: its handshake was answered 101."""


class GateMiddleware:
    """Sits outermost (added last): the request id and the observation exist before anything runs, and
    every refusal is counted and logged like any answer."""

    def __init__(self, app: ASGIApp, gate: Gate, body_limits: BodyLimits) -> None:
        self.app = app
        self._gate = gate
        self._body_limits = body_limits
        self._surfaces = Surfaces()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        obs = self._gate.open(scope)
        answer = _Answer(obs, send)
        try:
            with ExitStack() as admitted:  # a sync request counts in the engine's queue until it is answered
                surface = self._surfaces.of(scope)
                try:
                    await self._gate.check(obs, surface, _headers(scope))
                except AsrError as exc:
                    await error_response(Request(scope), exc)(scope, _no_body, answer.send)
                    return
                on_complete = (lambda: self._enter_queue(admitted)) if surface.sync else None
                body = GuardedBody(answer.counting(receive), self._body_limits, surface.max_body_bytes, on_complete)
                await self.app(scope, body.receive, body.closing(answer.send))
        finally:
            name_route(obs, scope)
            await self._gate.close(obs, answer.status)

    def _enter_queue(self, admitted: ExitStack) -> None:
        """The body is in: count the request in its engine's queue until it is answered, or refuse it."""
        try:
            admitted.enter_context(self._gate.admit())
        except AsrError as exc:
            raise CarriedError(exc) from None

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        obs = self._gate.open(scope)
        answer = _Answer(obs, send)
        try:
            with ExitStack() as admitted:  # a sync session counts in the engine's queue until it ends
                surface = self._surfaces.of(scope)
                try:
                    await self._gate.check(obs, surface, _websocket_headers(scope))
                    if surface.sync:
                        admitted.enter_context(self._gate.admit())
                    if surface.realtime:
                        admitted.enter_context(self._gate.sessions.hold())
                except AsrError as exc:
                    await _refuse_handshake(scope, answer, obs.request_id, exc)
                    return
                await self.app(scope, answer.counting(receive), answer.send)
        finally:
            name_route(obs, scope)
            await self._gate.close(obs, answer.status)


class _Answer:
    """The answer's status as sent, `X-Request-Id` on it, and the bytes received, for the record."""

    def __init__(self, obs: Observation, send: Send) -> None:
        self._obs = obs
        self._send = send
        self._id_header = (b"x-request-id", obs.request_id.encode())
        self.status = 500
        """500 until an answer starts: a call that ends without one failed."""

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind in ("http.response.start", "websocket.http.response.start"):
            self.status = int(message["status"])
            message.setdefault("headers", []).append(self._id_header)
        elif kind == "websocket.accept":
            self.status = ACCEPTED
            message["headers"] = [*message.get("headers", []), self._id_header]
        elif kind == "websocket.close" and self.status != ACCEPTED:
            self.status = 403  # a handshake closed before it was accepted is answered 403
        await self._send(message)

    def counting(self, receive: Receive) -> Receive:
        async def counting_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                self._obs.body_bytes += len(message.get("body", b""))
            elif message["type"] == "websocket.receive":
                self._obs.body_bytes += len(message.get("bytes") or b"") + len(message.get("text") or "")
            return message

        return counting_receive


async def _refuse_handshake(scope: Scope, answer: _Answer, rid: str, error: AsrError) -> None:
    """The refusal as the HTTP answer to the handshake, in the surface's envelope (uvicorn, every one of
    its WebSocket implementations, offers the ASGI `websocket.http.response` extension for it)."""
    response = error_envelope(scope["path"], rid, error)
    start = {"type": "websocket.http.response.start", "status": response.status_code}
    await answer.send({**start, "headers": list(response.raw_headers)})
    await answer.send({"type": "websocket.http.response.body", "body": response.body})


def _headers(scope: Scope) -> Mapping[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", ())}


INSECURE_KEY_PROTOCOL = "openai-insecure-api-key."
"""A browser cannot set `Authorization` on a WebSocket: it offers its key as a subprotocol instead."""


def _websocket_headers(scope: Scope) -> Mapping[str, str]:
    """The handshake's headers, with the key a browser could only send another way (an
    `openai-insecure-api-key.<key>` subprotocol, or `?api_key=`) as its `Authorization`."""
    headers = dict(_headers(scope))
    if "authorization" not in headers and (key := websocket_key(scope, headers)):
        headers["authorization"] = f"Bearer {key}"
    return headers


def websocket_key(scope: Scope, headers: Mapping[str, str]) -> str | None:
    for protocol in headers.get("sec-websocket-protocol", "").split(","):
        if protocol.strip().startswith(INSECURE_KEY_PROTOCOL):
            return protocol.strip()[len(INSECURE_KEY_PROTOCOL) :]
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    return query["api_key"][0] if query.get("api_key") else None


async def _no_body() -> Message:
    return {"type": "http.disconnect"}
