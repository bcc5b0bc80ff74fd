"""OpenAI Realtime transcription (`/v1/realtime?intent=transcription`, spec §3): client events to session
calls, session events to the wire.

One object per WebSocket: it answers `session.update` (GA) and `transcription_session.update` (beta) in
the shape of the update that was sent, feeds `input_audio_buffer.append` through a `FrameDecoder` to the
`RealtimeSession`, and renders the session's events. Deltas are append-only (§3.4): a delta is what the
session's confirmed text gained, and when the final starts with everything sent so far the rest goes
out as one last delta, so a client that concatenates deltas ends with the transcript. Nothing of an item
follows its `completed`. Every client mistake is one `error` event; the session goes on.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from openasr.core.errors import AsrError
from openasr.realtime.audio_in import FrameDecoder
from openasr.realtime.errors import INVALID_EVENT, INVALID_VALUE, SERVER_ERROR, RealtimeError
from openasr.realtime.events import Committed, Event, Failed, Final, Partial, SpeechStarted, SpeechStopped
from openasr.realtime.session import SessionConfig
from openasr.server.models import ModelCatalog
from openasr.server.openai.realtime_config import Transcription, apply_beta, apply_ga, beta_session, ga_session
from openasr.server.realtime.connection import Connection, WireEvent

REALTIME_MODELS = frozenset(
    {"gpt-4o-transcribe", "gpt-4o-mini-transcribe", "gpt-realtime-whisper", "gpt-live-transcribe"}
)
"""OpenAI's realtime transcription model names: the default engine serves them, as it serves whisper-1."""
TRANSCRIPTION = "conversation.item.input_audio_transcription"


class OpenAIWire:
    """The OpenAI transcription protocol of one connection (`realtime.connection.Wire`); `beta` picks the
    beta event names (`conversation.item.created`, no `conversation.item.done`) until an update of the
    other kind says otherwise."""

    surface = "openai-realtime"

    def __init__(self, session_id: str, catalog: ModelCatalog, *, beta: bool) -> None:
        self.session_id = session_id
        self.beta = beta
        self._catalog = catalog
        self._ids = itertools.count(1)
        self._settings = Transcription()
        self.model = self._settings.model
        """The public model name the session is configured with (usage rows, metrics)."""
        self.context = self._settings.prompt
        self._decoder = FrameDecoder(self._settings.audio_format, self._settings.rate)
        self._sent: dict[str, str] = {}
        """Per open item, the deltas sent so far, concatenated."""
        self._previous: dict[str, str | None] = {}
        """Per committed item without its final yet, the item before it."""

    async def start(self, conn: Connection) -> None:
        """Open the session with OpenAI's defaults, then `session.created` (GA shape; both SDKs parse it)."""
        await conn.open(self._session_config(self._settings))
        await conn.send(self._event("session.created", session=ga_session(self.session_id, self._settings)))

    async def receive(self, conn: Connection, event: WireEvent) -> None:
        kind = event["type"]
        session = conn.session
        assert session is not None
        if kind == "session.update":
            await self._update(conn, apply_ga, event.get("session"), beta=False)
        elif kind == "transcription_session.update":
            await self._update(conn, apply_beta, event.get("session"), beta=True)
        elif kind == "input_audio_buffer.append":
            audio = event.get("audio")
            if not isinstance(audio, str):
                raise RealtimeError(INVALID_VALUE, "audio must be a base64 string", "audio")
            await session.append(self._decoder.decode(audio))
        elif kind == "input_audio_buffer.commit":
            await session.commit()
        elif kind == "input_audio_buffer.clear":
            await session.clear()
            await conn.send(self._event("input_audio_buffer.cleared"))
        else:
            raise RealtimeError(INVALID_EVENT, f"unknown or unsupported event type {kind!r} here", "type")

    async def receive_bytes(self, conn: Connection, data: bytes) -> None:
        raise RealtimeError(
            INVALID_EVENT, "binary frames are not part of this protocol: send input_audio_buffer.append"
        )

    def error(self, error: RealtimeError, event_id: str | None) -> WireEvent:
        """An `error` event: a client mistake (`invalid_request_error`: the session continues) or a
        fault of the server's (`server_error`)."""
        kind = "server_error" if error.code == SERVER_ERROR else "invalid_request_error"
        body = {"type": kind, "code": error.code, "message": error.message}
        return self._event("error", error={**body, "param": error.param, "event_id": event_id})

    async def _update(self, conn: Connection, apply: Any, fields: Any, *, beta: bool) -> None:
        assert conn.session is not None
        settings: Transcription = apply(self._settings, fields)
        try:
            await conn.session.update(self._session_config(settings))
        except RealtimeError as error:  # the session names its options; the client knows the wire's fields
            where = "session.input_audio_transcription" if beta else "session.audio.input.transcription"
            wire = {"language": f"{where}.language", "context": f"{where}.prompt"}
            raise RealtimeError(error.code, error.message, wire.get(error.param or "", error.param)) from None
        if (settings.audio_format, settings.rate) != (self._settings.audio_format, self._settings.rate):
            self._decoder = FrameDecoder(settings.audio_format, settings.rate)
        self._settings, self.beta = settings, beta
        self.model, self.context = settings.model, settings.prompt
        if beta:
            await conn.send(
                self._event("transcription_session.updated", session=beta_session(self.session_id, settings))
            )
        else:
            await conn.send(self._event("session.updated", session=ga_session(self.session_id, settings)))

    def _session_config(self, settings: Transcription) -> SessionConfig:
        try:
            name = settings.model
            engine = (
                self._catalog.default_engine_model if name in REALTIME_MODELS else self._catalog.engine_for_openai(name)
            )
        except AsrError as exc:
            raise RealtimeError(INVALID_VALUE, exc.message, "session.audio.input.transcription.model") from None
        return SessionConfig(
            model=engine,
            language=settings.language,
            context=settings.prompt or None,
            turn_detection=settings.turn_detection,
        )

    def render(self, event: Event) -> Sequence[WireEvent]:
        """The session's events, in its order, as the OpenAI wire names them."""
        if isinstance(event, SpeechStarted):
            return [
                self._event(
                    "input_audio_buffer.speech_started", audio_start_ms=event.audio_start_ms, item_id=event.item_id
                )
            ]
        if isinstance(event, SpeechStopped):
            return [
                self._event("input_audio_buffer.speech_stopped", audio_end_ms=event.audio_end_ms, item_id=event.item_id)
            ]
        if isinstance(event, Committed):
            return self._committed(event)
        if isinstance(event, Partial):
            return self._delta(event.item_id, event.confirmed)
        if isinstance(event, Final):
            return self._final(event)
        if isinstance(event, Failed):
            self._sent.pop(event.item_id, None)
            self._previous.pop(event.item_id, None)
            error = {"type": "server_error", "code": event.code, "message": event.message, "param": None}
            return [self._event(f"{TRANSCRIPTION}.failed", item_id=event.item_id, content_index=0, error=error)]
        return []

    def _committed(self, event: Committed) -> list[WireEvent]:
        self._previous[event.item_id] = event.previous_item_id
        added = "conversation.item.created" if self.beta else "conversation.item.added"
        return [
            self._event("input_audio_buffer.committed", previous_item_id=event.previous_item_id, item_id=event.item_id),
            self._event(added, previous_item_id=event.previous_item_id, item=_item(event.item_id, None)),
        ]

    def _delta(self, item_id: str, confirmed: str) -> list[WireEvent]:
        """What `confirmed` adds to the deltas already sent (append-only; nothing if it disagrees)."""
        sent = self._sent.get(item_id, "")
        if len(confirmed) <= len(sent) or not confirmed.startswith(sent):
            return []
        self._sent[item_id] = confirmed
        return [self._event(f"{TRANSCRIPTION}.delta", item_id=item_id, content_index=0, delta=confirmed[len(sent) :])]

    def _final(self, event: Final) -> list[WireEvent]:
        out = self._delta(event.item_id, event.transcript)
        self._sent.pop(event.item_id, None)
        usage = {"type": "duration", "seconds": round(event.audio_s, 3)}
        fields = {"item_id": event.item_id, "content_index": 0, "transcript": event.transcript, "usage": usage}
        out.append(self._event(f"{TRANSCRIPTION}.completed", **fields))
        previous = self._previous.pop(event.item_id, None)
        if not self.beta:
            item = _item(event.item_id, event.transcript)
            out.append(self._event("conversation.item.done", previous_item_id=previous, item=item))
        return out

    def _event(self, kind: str, **fields: Any) -> WireEvent:
        return {"event_id": f"event_{next(self._ids)}", "type": kind, **fields}


def _item(item_id: str, transcript: str | None) -> dict[str, Any]:
    content = [{"type": "input_audio", "transcript": transcript}]
    return {
        "id": item_id,
        "object": "realtime.item",
        "type": "message",
        "status": "completed",
        "role": "user",
        "content": content,
    }
