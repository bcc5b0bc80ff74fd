"""One realtime WebSocket connection, whatever its wire format: the part every realtime surface shares.

The gate has already checked the handshake (key, rate, the realtime session cap) when `serve` runs.
`serve` accepts the upgrade (echoing a subprotocol when the client offered some, as browsers need),
reads client frames one at a time and hands each parsed JSON event to the surface's `Wire`, which calls
the session; what the session emits goes back through the `Wire`'s `render`, one text frame per wire
event. A frame that is not a JSON object, or is over the event limit, gets the surface's `error` event
and the session goes on. Silence from the client for `realtime_idle_timeout_s` gets an `idle_timeout`
error and a close; a session reaching `realtime_max_session_s` is finished (its open item decoded)
and closed. Pings are uvicorn's (`ws_ping_interval`/`ws_ping_timeout`, 20 s each).

However the session ends (finished, idle, expired, the client vanished) its decodes are stopped, and
the gate's observation gets the model, the seconds of audio received and the finals' text, so the
usage row and the access log line are written for every session. Metrics per item: time from the start
of speech to its first caption, and from its commit to its final.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from starlette.websockets import WebSocket, WebSocketDisconnect

from openasr.realtime.errors import (
    FRAME_TOO_LARGE,
    IDLE_TIMEOUT,
    INVALID_EVENT,
    SERVER_ERROR,
    SESSION_TOO_LONG,
    RealtimeError,
)
from openasr.realtime.events import Event, Final
from openasr.realtime.session import RealtimeSession, SessionConfig
from openasr.server.deps import AppContext
from openasr.server.gate_asgi import INSECURE_KEY_PROTOCOL
from openasr.server.observe import Observation
from openasr.server.realtime.latency import ItemLatencies

log = logging.getLogger("openasr.realtime")

MAX_EVENT_CHARS = 15 * 1024 * 1024 + 64 * 1024
"""One client event: 15 MiB of base64 audio (spec §1.3) and its JSON around it."""
FINISH_GRACE_S = 1.0
"""After the last event the client has this long to close; then the server closes (1000)."""
REALTIME_PROTOCOL = "realtime"

WireEvent = dict[str, Any]


class Wire(Protocol):
    """A surface's protocol: what it says first, what it does with each client event, how it renders
    the session's events and errors."""

    surface: str
    """The metrics label of the surface."""
    model: str
    """The public model name the session is billed and measured under."""
    context: str
    """The context text the session was configured with (billed as input tokens)."""

    async def start(self, conn: Connection) -> None:
        """Open the session (`conn.open`) and greet the client, or end the connection (`conn.close`)."""

    async def receive(self, conn: Connection, event: WireEvent) -> None:
        """Act on one client event; a `RealtimeError` is answered with `error` and the session goes on."""

    async def receive_bytes(self, conn: Connection, data: bytes) -> None:
        """A binary frame (raw audio in protocols that send it so)."""

    def render(self, event: Event) -> Sequence[WireEvent]:
        """The wire events of one session event."""

    def error(self, error: RealtimeError, event_id: str | None) -> WireEvent:
        """The wire's `error` event."""


class Connection:
    """A surface's handle on its WebSocket and its session."""

    def __init__(self, websocket: WebSocket, wire: Wire, ctx: AppContext, obs: Observation) -> None:
        self.websocket = websocket
        self.wire = wire
        self.ctx = ctx
        self.obs = obs
        self.session: RealtimeSession | None = None
        self.ended = False
        """No more client events are read (finished, closed or gone)."""
        self.grace_until: float | None = None
        self._send_lock = asyncio.Lock()
        self._sent_closed = False
        self._latencies = ItemLatencies(ctx.metrics, wire.surface, lambda: self.wire.model)
        self._finals: list[str] = []

    async def open(self, config: SessionConfig) -> RealtimeSession:
        """Start the session with `config` (checked against its model: `RealtimeError`)."""
        session = RealtimeSession(config, self.ctx.service.engines, self._emit)
        await session.update(config)
        self.session = session
        return session

    async def send(self, payload: WireEvent) -> None:
        """One text frame; a client that is gone makes this a no-op (its session is closed by `serve`)."""
        async with self._send_lock:
            if self._sent_closed:
                return
            try:
                await self.websocket.send_text(json.dumps(payload, ensure_ascii=False))
            except (WebSocketDisconnect, RuntimeError, OSError):
                self._sent_closed = True

    async def send_error(self, error: RealtimeError, event_id: str | None = None) -> None:
        await self.send(self.wire.error(error, event_id))

    def end_after_grace(self) -> None:
        """The last answer is out: stop reading events, and close unless the client does within a second."""
        self.ended = True
        self.grace_until = time.monotonic() + FINISH_GRACE_S

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.ended = True
        async with self._send_lock:
            if self._sent_closed:
                return
            self._sent_closed = True
            with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
                await self.websocket.close(code, reason)

    async def _emit(self, event: Event) -> None:
        self._measure(event)
        for payload in self.wire.render(event):
            await self.send(payload)

    def _measure(self, event: Event) -> None:
        """Per-item latencies for metrics, and the finals' text for the bill."""
        self._latencies.observe(event)
        if isinstance(event, Final):
            self._finals.append(event.transcript)

    def bill(self) -> None:
        """Note on the gate's observation what the session is billed: every second of audio received."""
        if self.session is None:
            return
        self.obs.model = self.wire.model
        count = self.session.count_tokens
        self.obs.bill(
            self.session.audio_received_s, context=self.wire.context, text=" ".join(self._finals), count=count
        )


def offered_subprotocol(websocket: WebSocket) -> str | None:
    """The subprotocol to answer with: `realtime` when offered, else the first one that is not a key."""
    offered = [p.strip() for p in websocket.headers.get("sec-websocket-protocol", "").split(",") if p.strip()]
    if REALTIME_PROTOCOL in offered:
        return REALTIME_PROTOCOL
    plain = [p for p in offered if not p.startswith(INSECURE_KEY_PROTOCOL)]
    return plain[0] if plain else (offered[0] if offered else None)


async def serve(websocket: WebSocket, wire: Wire, ctx: AppContext, obs: Observation) -> None:
    """Run one realtime connection from the upgrade to its end (see the module docstring)."""
    await websocket.accept(subprotocol=offered_subprotocol(websocket))
    conn = Connection(websocket, wire, ctx, obs)
    try:
        await wire.start(conn)
        await _read(conn)
    finally:
        if conn.session is not None:
            await conn.session.close()
        conn.bill()
        await conn.close()


async def _read(conn: Connection) -> None:
    """Read client frames until the session ends, the client goes, or a timeout ends it."""
    settings = conn.ctx.settings
    expires = time.monotonic() + settings.realtime_max_session_s
    while not conn.ended or conn.grace_until is not None:
        now = time.monotonic()
        limit = (
            conn.grace_until if conn.grace_until is not None else min(now + settings.realtime_idle_timeout_s, expires)
        )
        try:
            message = await asyncio.wait_for(conn.websocket.receive(), max(limit - now, 0.0))
        except TimeoutError:
            if conn.grace_until is None:
                await _time_out(conn, expired=time.monotonic() >= expires)
            return
        if message["type"] == "websocket.disconnect":
            return
        if not conn.ended:
            await _dispatch(conn, message)


async def _time_out(conn: Connection, *, expired: bool) -> None:
    """Idle: an `idle_timeout` error. Expired: the open item's final first, then `session_expired`."""
    if expired and conn.session is not None:
        await conn.session.finish()
        error = RealtimeError(SESSION_TOO_LONG, "the session reached its maximum duration")
    else:
        limit = conn.ctx.settings.realtime_idle_timeout_s
        error = RealtimeError(IDLE_TIMEOUT, f"no event received for {limit:g} s; closing the session")
    await conn.send_error(error)


async def _dispatch(conn: Connection, message: Mapping[str, Any]) -> None:
    """One client frame: parsed, size-checked, handed to the wire; its mistakes answered as `error`."""
    event_id = None
    try:
        if message.get("bytes") is not None:
            await conn.wire.receive_bytes(conn, message["bytes"])
            return
        text = message.get("text") or ""
        if len(text) > MAX_EVENT_CHARS:
            raise RealtimeError(FRAME_TOO_LARGE, f"event of {len(text)} characters; the limit is {MAX_EVENT_CHARS}")
        event = _parse(text)
        event_id = event.get("event_id") if isinstance(event.get("event_id"), str) else None
        await conn.wire.receive(conn, event)
    except RealtimeError as error:
        await conn.send_error(error, event_id)
    except Exception:  # a fault of ours, not the client's: said and logged, and the session ends cleanly
        log.exception("%s session: an event failed", conn.wire.surface)
        failure = RealtimeError(SERVER_ERROR, "the server failed on this event; the session ends")
        await conn.send_error(failure, event_id)
        conn.end_after_grace()


def _parse(text: str) -> WireEvent:
    try:
        event = json.loads(text)
    except (ValueError, RecursionError) as exc:  # RecursionError: nesting deeper than the parser goes
        raise RealtimeError(INVALID_EVENT, f"the event is not valid JSON: {exc}") from None
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        raise RealtimeError(INVALID_EVENT, "an event must be a JSON object with a string `type`", "type")
    return event
