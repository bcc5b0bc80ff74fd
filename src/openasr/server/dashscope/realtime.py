"""DashScope Qwen-ASR-Realtime: `GET /api-ws/v1/realtime?model=qwen3-asr-flash-realtime` (spec §1).

What the two real SDK clients need, and why it is done so:
* `session.created` (with `session.id`, which the legacy client reads) is the first frame; each
  `session.update` gets exactly one `session.updated` or one `error`, applied before the next frame is
  read (the legacy client appends audio without waiting for `session.updated`).
* `end_session()` fails on any `error` received after `session.finish`, so a commit that has nothing to
  commit (VAD mode with no speech, or an empty Manual buffer) is a quiet no-op, not an error.
* After `session.finish` the open item is committed and recognised, `session.finished` follows every
  final, and the server closes (1000) unless the client does within a second (the legacy client never
  closes its socket); anything the client sends after `session.finish` is ignored.
* Audio before the first `session.update` is refused with an `error` and dropped: the session's format
  and rate are not known yet. An unknown model gets an `error` and a close with 1008 after the upgrade.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from fastapi import APIRouter, WebSocket

from openasr.core.errors import AsrError
from openasr.realtime.audio_in import FrameDecoder
from openasr.realtime.errors import COMMIT_EMPTY, INVALID_EVENT, INVALID_VALUE, RealtimeError
from openasr.realtime.events import Event
from openasr.server.dashscope.realtime_protocol import (
    DashScopeSession,
    WireEvent,
    apply_update,
    error_event,
    named,
    new_id,
    render,
)
from openasr.server.deps import Context
from openasr.server.models import REALTIME_MODEL
from openasr.server.observe import Observed
from openasr.server.realtime.connection import Connection, serve
from openasr.server.surface import Surface, gated

router = APIRouter(tags=["DashScope realtime"])
REALTIME = Surface("dashscope-realtime", invocation=True, realtime=True)
NOT_CONFIGURED = "session_not_configured"


class DashScopeWire:
    """The DashScope realtime protocol over one connection."""

    surface = REALTIME.label

    def __init__(self, ctx: Context, model: str) -> None:
        self._ctx = ctx
        self.model = model
        self.context = ""
        self._session_id = new_id("sess")
        self._settings: DashScopeSession | None = None
        self._decoder: FrameDecoder | None = None
        self._configured = False

    async def start(self, conn: Connection) -> None:
        try:
            engine_model = self._ctx.catalog.engine_for_realtime(self.model)
            self._settings = DashScopeSession(self.model, engine_model)
            await conn.open(self._settings.config())
        except (AsrError, RealtimeError) as exc:
            await conn.send(self._stamped(error_event(RealtimeError(INVALID_VALUE, exc.message, "model"), None)))
            await conn.close(1008, "unknown model")
            return
        self._decoder = FrameDecoder(self._settings.input_audio_format, self._settings.sample_rate)
        await conn.send(self._stamped({"type": "session.created", "session": self._settings.wire(self._session_id)}))

    async def receive(self, conn: Connection, event: WireEvent) -> None:
        kind = event["type"]
        session = conn.session
        assert session is not None
        if kind == "session.update":
            await self._update(conn, event.get("session"))
        elif kind == "input_audio_buffer.append":
            await session.append(self._decode(event.get("audio")))
        elif kind == "input_audio_buffer.commit":
            await self._commit(conn)
        elif kind == "input_audio_buffer.clear":
            await session.clear()
            await conn.send(self._stamped({"type": "input_audio_buffer.cleared"}))
        elif kind == "session.finish":
            await session.finish()
            await conn.send(self._stamped({"type": "session.finished"}))
            conn.end_after_grace()
        else:
            raise RealtimeError(INVALID_EVENT, f"unknown event type {kind!r}", "type")

    async def receive_bytes(self, conn: Connection, data: bytes) -> None:
        raise RealtimeError(
            INVALID_EVENT, "binary frames are not part of this protocol: send input_audio_buffer.append"
        )

    def render(self, event: Event) -> Sequence[WireEvent]:
        return [self._stamped(payload) for payload in render(event)]

    def error(self, error: RealtimeError, event_id: str | None) -> WireEvent:
        return self._stamped(error_event(error, event_id))

    async def _update(self, conn: Connection, fields: object) -> None:
        assert self._settings is not None and self._decoder is not None and conn.session is not None
        settings = apply_update(self._settings, fields)
        try:
            await conn.session.update(settings.config())
        except RealtimeError as error:
            raise named(error) from None
        if (settings.input_audio_format, settings.sample_rate) != (self._decoder.format, self._decoder.sample_rate):
            self._decoder = FrameDecoder(settings.input_audio_format, settings.sample_rate)
        self._settings, self._configured, self.context = settings, True, settings.corpus
        await conn.send(self._stamped({"type": "session.updated", "session": settings.wire(self._session_id)}))

    def _decode(self, audio: object) -> np.ndarray:
        if not self._configured:
            raise RealtimeError(NOT_CONFIGURED, "send session.update before audio: its format is not known yet")
        if not isinstance(audio, str):
            raise RealtimeError(INVALID_VALUE, "`audio` must be a base64 string", "audio")
        assert self._decoder is not None
        return self._decoder.decode(audio)

    async def _commit(self, conn: Connection) -> None:
        assert conn.session is not None
        try:
            await conn.session.commit()
        except RealtimeError as error:
            if error.code != COMMIT_EMPTY:  # nothing to commit is a no-op here (see the module docstring)
                raise

    @staticmethod
    def _stamped(payload: WireEvent) -> WireEvent:
        return {"event_id": new_id("event"), **payload}


@router.websocket("/api-ws/v1/realtime")
@router.websocket("/api-ws/v1/realtime/")
@gated(REALTIME)
async def realtime(websocket: WebSocket, ctx: Context, obs: Observed, model: str = REALTIME_MODEL) -> None:
    """One realtime recognition session; the gate has checked the key and the session cap."""
    await serve(websocket, DashScopeWire(ctx, model), ctx, obs)
