"""Connection-level limits that uvicorn lacks: a header timeout, 431 for oversized headers, a connection cap.

uvicorn's h11 protocol waits forever for the first request of a connection (3,000 idle connections are
all kept), answers oversized headers with a 400 it closes over before the client has finished sending
(the client sees a reset, not a status), and caps only concurrent requests. `GuardedH11Protocol` adds:

* a header timeout: a connection must complete its request line and headers within
  `request_header_timeout_s` of opening (or of its previous response plus the keep-alive time); a
  connection that sent part of a request then gets 408, an idle one is closed (RFC 9110 §15.5.9);
* 431 for headers over `MAX_HEADER_BYTES` however they arrive, after which the connection reads and
  discards for a moment before closing, so the client receives the status instead of a reset;
* a connection cap: beyond `max_connections` open connections a new one is answered 503 and closed.

The body read timeout and the body caps live in the gate (`server.gate_asgi`, `server.body`: they need the
route).
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from openasr.settings import Settings

MAX_HEADER_BYTES = 64 * 1024
"""The request line and headers together; far above any real client's (a few KB)."""
_LINGER_S = 1.0
"""How long a connection refused mid-request keeps reading (and discarding) before it is closed."""


def _raw_response(status: int, reason: str, extra: str = "") -> bytes:
    return f"HTTP/1.1 {status} {reason}\r\ncontent-length: 0\r\nconnection: close\r\n{extra}\r\n".encode("ascii")


def _header_overflows(buffered: bytes | bytearray, data: bytes) -> bool:
    """Whether a request's line and headers, `buffered` so far and continued by `data`, run past
    `MAX_HEADER_BYTES`. Checked before h11 parses them: h11's own bound applies only to a head still
    incomplete, so a larger one that arrives in a single read would be taken whole."""
    head = bytes(buffered) + data[: MAX_HEADER_BYTES + 4]
    end = head.find(b"\r\n\r\n")
    return end > MAX_HEADER_BYTES if end >= 0 else len(head) > MAX_HEADER_BYTES


class GuardedH11Protocol(H11Protocol):
    header_timeout_s: float = 10.0
    max_connections: int = 1000

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._header_timer: asyncio.TimerHandle | None = None
        self._discarding = False
        if len(self.connections) > self.max_connections:
            self._refuse(_raw_response(503, "Service Unavailable", "retry-after: 1\r\n"))
            return
        self._arm_header_timer(self.header_timeout_s)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._discarding:
            return
        if self.conn.their_state is h11.IDLE and _header_overflows(self.conn.trailing_data[0], data):
            self._refuse(_raw_response(431, "Request Header Fields Too Large"))
            return
        cycle = self.cycle
        super().data_received(data)
        if self.cycle is not cycle and self.cycle is not None:  # a request's headers are complete
            self._cancel_header_timer()

    def handle_websocket_upgrade(self, event: Any) -> None:
        """The connection becomes a WebSocket: the header timer must not close it later (its idle and
        ping timeouts are the realtime session's own)."""
        self._cancel_header_timer()
        super().handle_websocket_upgrade(event)

    def on_response_complete(self) -> None:
        super().on_response_complete()  # may already start a pipelined request
        idle = self.cycle is None or self.cycle.response_complete
        if idle and not self.transport.is_closing():  # the next request: idle time plus the header time
            self._arm_header_timer(self.timeout_keep_alive + self.header_timeout_s)

    def _header_timeout(self) -> None:
        self._header_timer = None
        if self.transport.is_closing():
            return
        if self.conn.trailing_data[0]:  # part of a request arrived, the rest never did
            self._refuse(_raw_response(408, "Request Timeout"))
        else:
            self.transport.close()

    def _refuse(self, response: bytes) -> None:
        self._cancel_header_timer()
        self._discarding = True
        self.transport.write(response)
        self.loop.call_later(_LINGER_S, self.transport.close)

    def _arm_header_timer(self, delay_s: float) -> None:
        self._cancel_header_timer()
        self._header_timer = self.loop.call_later(delay_s, self._header_timeout)

    def _cancel_header_timer(self) -> None:
        timer = getattr(self, "_header_timer", None)
        if timer is not None:
            timer.cancel()
            self._header_timer = None


WS_MAX_FRAME_BYTES = 32 * 1024 * 1024


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """The uvicorn `Config` arguments that apply the settings' connection limits."""
    protocol = type(
        "ConfiguredH11Protocol",
        (GuardedH11Protocol,),
        {"header_timeout_s": settings.request_header_timeout_s, "max_connections": settings.max_connections},
    )
    return {
        "http": protocol,
        "timeout_keep_alive": settings.keep_alive_timeout_s,
        "h11_max_incomplete_event_size": MAX_HEADER_BYTES,
        # Realtime frames up to twice the 15 MiB event limit reach the session, which answers an oversized
        # one with an `error` event; beyond that uvicorn closes with 1009 before buffering more.
        "ws_max_size": WS_MAX_FRAME_BYTES,
    }
