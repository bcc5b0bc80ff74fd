"""`GET /v1/realtime` (and `/compatible-mode/v1/realtime`): the OpenAI Realtime transcription WebSocket.

The gate has checked the key (header, or the browser's `openai-insecure-api-key.<key>` subprotocol) and
the rate before this runs. Here: accept, echoing `realtime` when the client offered subprotocols (Chromium
fails a handshake that offered some and got none back), then one `OpenAIRealtime` per connection fed with
the client's JSON frames. A frame that is not a JSON object is one `error` event; the session goes on.
The session is a transcription session whatever `intent` says: openasr has no responses to create.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect

from openasr.realtime.errors import INVALID_EVENT
from openasr.realtime.session import RealtimeSession, SessionConfig
from openasr.server.deps import get_context
from openasr.server.observe import Observed
from openasr.server.openai.realtime import OpenAIRealtime
from openasr.server.realtime_socket import accept, frames
from openasr.server.surface import Surface, gated

router = APIRouter()
REALTIME = Surface("realtime", invocation=True)
BETA_SUBPROTOCOL = "openai-beta.realtime-v1"


@router.websocket("/v1/realtime")
@router.websocket("/compatible-mode/v1/realtime")
@gated(REALTIME)
async def realtime(websocket: WebSocket, obs: Observed) -> None:
    """One transcription session until the client closes; billed for the audio it sent, however it ends."""
    offered = await accept(websocket)
    ctx = get_context(websocket)
    beta = "realtime=v1" in websocket.headers.get("openai-beta", "") or BETA_SUBPROTOCOL in offered

    async def send(event: dict[str, Any]) -> None:
        await websocket.send_text(json.dumps(event, ensure_ascii=False))

    def new_session(config: SessionConfig, emit: Any) -> RealtimeSession:
        return RealtimeSession(config, ctx.service.engines, emit)

    surface = OpenAIRealtime(f"sess_{secrets.token_hex(12)}", ctx.catalog, new_session, send, beta=beta)
    try:
        await surface.start()
        async for frame in frames(websocket):
            event = _parse(frame)
            if event is None:
                await surface.error(INVALID_EVENT, "every client event is a JSON object in a text frame")
            else:
                await surface.receive(event)
    except WebSocketDisconnect:
        pass
    finally:
        await surface.close()
        obs.model = surface.model
        obs.bill(surface.audio_received_s, context=surface.prompt, text=" ".join(surface.transcripts))


def _parse(frame: str | bytes) -> dict[str, Any] | None:
    if isinstance(frame, bytes):
        return None
    try:
        event = json.loads(frame)
    except ValueError:
        return None
    return event if isinstance(event, dict) else None
