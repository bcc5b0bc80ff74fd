"""`/api-ws/v1/inference`: DashScope's run-task WebSocket for streaming recognition (spec §2).

Text frames are directives (JSON), binary frames audio. The server closes the socket once the task has
finished or failed, as the cloud does; the session is billed for the audio it received however it ends.
Its directives carry no `type`, so this surface reads its own frames rather than through
`realtime.connection.serve`, whose parser requires one.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect

from openasr.realtime.session import RealtimeSession, SessionConfig
from openasr.server.dashscope.run_task import RunTask
from openasr.server.deps import get_context
from openasr.server.observe import Observed
from openasr.server.realtime_socket import accept, frames
from openasr.server.surface import Surface, gated

router = APIRouter()
RUN_TASK = Surface("dashscope-run-task", invocation=True, realtime=True)


@router.websocket("/api-ws/v1/inference")
@router.websocket("/api-ws/v1/inference/")
@gated(RUN_TASK)
async def inference(websocket: WebSocket, obs: Observed) -> None:
    """One run-task session: run-task, audio, finish-task; closed by the server when the task ends."""
    await accept(websocket)
    ctx = get_context(websocket)

    async def send(event: dict[str, Any]) -> None:
        await websocket.send_text(json.dumps(event, ensure_ascii=False))

    def new_session(config: SessionConfig, emit: Any) -> RealtimeSession:
        return RealtimeSession(config, ctx.service.engines, emit)

    task = RunTask(ctx.catalog.default_engine_model, new_session, send)
    try:
        async for frame in frames(websocket):
            if isinstance(frame, bytes):
                await task.receive_audio(frame)
            else:
                await task.receive_text(_parse(frame))
            if task.done:
                await websocket.close(1000)
                break
    except WebSocketDisconnect:
        pass
    finally:
        await task.close()
        obs.model = task.model
        obs.bill(task.audio_received_s, context="", text=" ".join(task.transcripts))


def _parse(frame: str) -> Any:
    try:
        return json.loads(frame)
    except ValueError:
        return None
