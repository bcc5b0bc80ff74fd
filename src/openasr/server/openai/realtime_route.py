"""`GET /v1/realtime` (and `/compatible-mode/v1/realtime`): the OpenAI Realtime transcription WebSocket.

The gate has checked the key (header, or the browser's `openai-insecure-api-key.<key>` subprotocol), the
rate and the realtime session cap before this runs; `realtime.connection.serve` runs the connection
(subprotocol echo, frames, timeouts, billing, metrics) with an `OpenAIWire`. The session is a
transcription session whatever `intent` says: openasr has no responses to create. The beta event names
apply when the client says it speaks the beta (`OpenAI-Beta: realtime=v1` or its subprotocol).
"""

from __future__ import annotations

import secrets

from fastapi import APIRouter, WebSocket

from openasr.server.deps import Context
from openasr.server.observe import Observed
from openasr.server.openai.realtime import OpenAIWire
from openasr.server.realtime.connection import serve
from openasr.server.surface import Surface, gated

router = APIRouter(tags=["OpenAI realtime"])
REALTIME = Surface(OpenAIWire.surface, invocation=True, realtime=True)
BETA_SUBPROTOCOL = "openai-beta.realtime-v1"


@router.websocket("/v1/realtime")
@router.websocket("/compatible-mode/v1/realtime")
@gated(REALTIME)
async def realtime(websocket: WebSocket, ctx: Context, obs: Observed) -> None:
    """One transcription session until the client closes; billed for the audio it sent, however it ends."""
    offered = websocket.headers.get("sec-websocket-protocol", "")
    beta = "realtime=v1" in websocket.headers.get("openai-beta", "") or BETA_SUBPROTOCOL in offered
    await serve(websocket, OpenAIWire(f"sess_{secrets.token_hex(12)}", ctx.catalog, beta=beta), ctx, obs)
