"""The WebSocket side every realtime surface shares: the handshake's answer and the client's frames.

The gate has already checked the key (header, `?api_key=` or the browser's subprotocol), the rate and
the session cap before a handler runs. A browser that offered subprotocols must get one back or it fails
the handshake, so `accept` echoes `realtime` whenever any was offered.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from starlette.websockets import WebSocket

SUBPROTOCOL = "realtime"


async def accept(websocket: WebSocket) -> list[str]:
    """Accept the session; returns the subprotocols the client offered."""
    offered: list[str] = list(websocket.scope.get("subprotocols") or [])
    await websocket.accept(subprotocol=SUBPROTOCOL if offered else None)
    return offered


async def frames(websocket: WebSocket, idle_s: float, max_s: float) -> AsyncIterator[str | bytes]:
    """The client's frames, text as `str` and binary as `bytes`, until it disconnects. Raises
    `TimeoutError` when no frame comes for `idle_s`, or the session has lasted `max_s`."""
    ends = time.monotonic() + max_s
    while True:
        message = await asyncio.wait_for(websocket.receive(), max(0.0, min(idle_s, ends - time.monotonic())))
        if message["type"] == "websocket.disconnect":
            return
        text = message.get("text")
        yield text if text is not None else (message.get("bytes") or b"")
