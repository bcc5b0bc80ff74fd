"""`/api-ws/v1/inference`: DashScope's run-task WebSocket for streaming recognition (spec §2).

Text frames are directives (JSON), binary frames audio. The server closes the socket once the task has
finished or failed, as the cloud does, and fails a task that sends nothing for
`OPENASR_REALTIME_IDLE_TIMEOUT_S` or outlives `OPENASR_REALTIME_MAX_SESSION_S`; the session is billed for
the audio it received however it ends.
Its directives carry no `type`, so this surface reads its own frames rather than through
`realtime.connection.serve`, whose parser requires one.
"""

from __future__ import annotations

import contextlib
import json
import logging
from typing import Any

from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect

from openasr.realtime.events import Event
from openasr.realtime.session import Emit, RealtimeSession, SessionConfig
from openasr.server.dashscope.run_task import RunTask
from openasr.server.deps import get_context
from openasr.server.observe import Observed
from openasr.server.realtime.latency import ItemLatencies
from openasr.server.realtime_socket import accept, frames
from openasr.server.surface import Surface, gated

log = logging.getLogger("openasr.realtime")
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
        with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):  # the client is gone: nobody to tell
            await websocket.send_text(json.dumps(event, ensure_ascii=False))

    latencies = ItemLatencies(ctx.metrics, RUN_TASK.label, lambda: task.model)

    def new_session(config: SessionConfig, emit: Emit) -> RealtimeSession:
        async def measured(event: Event) -> None:
            latencies.observe(event)
            await emit(event)

        return RealtimeSession(config, ctx.service.engines, measured)

    task = RunTask(ctx.catalog.default_engine_model, new_session, send)
    settings = ctx.settings
    try:
        async for frame in frames(websocket, settings.realtime_idle_timeout_s, settings.realtime_max_session_s):
            if isinstance(frame, bytes):
                await task.receive_audio(frame)
            else:
                await task.receive_text(_parse(frame))
            if task.done:
                break
    except TimeoutError:
        await task.fail("RequestTimeOut", "no audio or directive within the idle limit, or the session's maximum age")
    except WebSocketDisconnect:
        pass
    except Exception:  # a fault of ours, not the client's: said and logged, and the task ends cleanly
        log.exception("run-task session failed")
        await task.fail("InternalError", "the server failed on this task")
    finally:
        await task.close()
        obs.model = task.model
        obs.bill(task.audio_received_s, context="", text=" ".join(task.transcripts))
        with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
            await websocket.close(1000)


def _parse(frame: str) -> Any:
    try:
        return json.loads(frame)
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser goes
        return None
