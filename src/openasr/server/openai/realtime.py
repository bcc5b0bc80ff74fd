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
from collections.abc import Awaitable, Callable
from typing import Any

from openasr.core.errors import AsrError
from openasr.realtime.audio_in import FrameDecoder
from openasr.realtime.errors import INVALID_EVENT, INVALID_VALUE, RealtimeError
from openasr.realtime.events import Committed, Event, Failed, Final, Partial, SpeechStarted, SpeechStopped
from openasr.realtime.session import RealtimeSession, SessionConfig
from openasr.server.models import ModelCatalog
from openasr.server.openai.realtime_config import Transcription, apply_beta, apply_ga, beta_session, ga_session

Send = Callable[[dict[str, Any]], Awaitable[None]]
SessionFactory = Callable[[SessionConfig, Callable[[Event], Awaitable[None]]], RealtimeSession]

REALTIME_MODELS = frozenset(
    {"gpt-4o-transcribe", "gpt-4o-mini-transcribe", "gpt-realtime-whisper", "gpt-live-transcribe"}
)
"""OpenAI's realtime transcription model names: the default engine serves them, as it serves whisper-1."""
TRANSCRIPTION = "conversation.item.input_audio_transcription"


class OpenAIRealtime:
    """The OpenAI transcription surface of one WebSocket session; `beta` picks the beta event names
    (`conversation.item.created`, no `conversation.item.done`) until a GA `session.update` says otherwise."""

    def __init__(
        self, session_id: str, catalog: ModelCatalog, new_session: SessionFactory, send: Send, *, beta: bool
    ) -> None:
        self.session_id = session_id
        self.beta = beta
        self._catalog = catalog
        self._send = send
        self._ids = itertools.count(1)
        self._settings = Transcription()
        self._decoder = FrameDecoder(self._settings.audio_format, self._settings.rate)
        self._session = new_session(self._session_config(self._settings), self._on_event)
        self._sent: dict[str, str] = {}
        """Per open item, the deltas sent so far, concatenated."""
        self.transcripts: list[str] = []
        """Every final so far (billing counts their tokens)."""
        self._previous: dict[str, str | None] = {}
        """Per committed item without its final yet, the item before it."""

    @property
    def audio_received_s(self) -> float:
        return self._session.audio_received_s

    @property
    def model(self) -> str:
        """The public model name the session was last configured with (for usage rows)."""
        return self._settings.model

    @property
    def prompt(self) -> str:
        return self._settings.prompt

    async def start(self) -> None:
        """Configure the session's engine, then `session.created` (GA shape, which both SDKs parse)."""
        await self._session.update(self._session_config(self._settings))
        await self._emit("session.created", session=ga_session(self.session_id, self._settings))

    async def receive(self, event: dict[str, Any]) -> None:
        """One client event; a mistake in it becomes an `error` event carrying its `event_id`."""
        try:
            await self._dispatch(event)
        except RealtimeError as exc:
            await self.error(exc.code, exc.message, exc.param, event.get("event_id"))

    async def error(self, code: str, message: str, param: str | None = None, event_id: Any = None) -> None:
        """An `error` event for a client mistake (`invalid_request_error`: the session continues)."""
        body = {"type": "invalid_request_error", "code": code, "message": message, "param": param, "event_id": event_id}
        await self._emit("error", error=body)

    async def close(self) -> None:
        """The client is gone (OpenAI has no finish): drop the open item, stop every decode."""
        await self._session.close()

    async def _dispatch(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "session.update":
            await self._update(apply_ga, event.get("session"), beta=False)
        elif kind == "transcription_session.update":
            await self._update(apply_beta, event.get("session"), beta=True)
        elif kind == "input_audio_buffer.append":
            audio = event.get("audio")
            if not isinstance(audio, str):
                raise RealtimeError(INVALID_VALUE, "audio must be a base64 string", "audio")
            await self._session.append(self._decoder.decode(audio))
        elif kind == "input_audio_buffer.commit":
            await self._session.commit()
        elif kind == "input_audio_buffer.clear":
            await self._session.clear()
            await self._emit("input_audio_buffer.cleared")
        else:
            raise RealtimeError(
                INVALID_EVENT, f"unknown or unsupported event type {kind!r} on a transcription session", "type"
            )

    async def _update(self, apply: Callable[[Transcription, Any], Transcription], session: Any, *, beta: bool) -> None:
        settings = apply(self._settings, session)
        await self._session.update(self._session_config(settings))
        if (settings.audio_format, settings.rate) != (self._settings.audio_format, self._settings.rate):
            self._decoder = FrameDecoder(settings.audio_format, settings.rate)
        self._settings = settings
        self.beta = beta
        if beta:
            await self._emit("transcription_session.updated", session=beta_session(self.session_id, settings))
        else:
            await self._emit("session.updated", session=ga_session(self.session_id, settings))

    def _session_config(self, settings: Transcription) -> SessionConfig:
        try:
            engine = (
                self._catalog.default_engine_model
                if settings.model in REALTIME_MODELS
                else self._catalog.engine_for_openai(settings.model)
            )
        except AsrError as exc:
            raise RealtimeError(INVALID_VALUE, exc.message, "session.audio.input.transcription.model") from None
        return SessionConfig(
            model=engine,
            language=settings.language,
            context=settings.prompt or None,
            turn_detection=settings.turn_detection,
        )

    async def _on_event(self, event: Event) -> None:
        """The session's events, in its order, as the OpenAI wire names them."""
        if isinstance(event, SpeechStarted):
            await self._emit(
                "input_audio_buffer.speech_started", audio_start_ms=event.audio_start_ms, item_id=event.item_id
            )
        elif isinstance(event, SpeechStopped):
            await self._emit(
                "input_audio_buffer.speech_stopped", audio_end_ms=event.audio_end_ms, item_id=event.item_id
            )
        elif isinstance(event, Committed):
            await self._committed(event)
        elif isinstance(event, Partial):
            await self._delta(event.item_id, event.confirmed)
        elif isinstance(event, Final):
            await self._final(event)
        elif isinstance(event, Failed):
            self._sent.pop(event.item_id, None)
            self._previous.pop(event.item_id, None)
            error = {"type": "server_error", "code": event.code, "message": event.message, "param": None}
            await self._emit(f"{TRANSCRIPTION}.failed", item_id=event.item_id, content_index=0, error=error)

    async def _committed(self, event: Committed) -> None:
        self._previous[event.item_id] = event.previous_item_id
        await self._emit("input_audio_buffer.committed", previous_item_id=event.previous_item_id, item_id=event.item_id)
        added = "conversation.item.created" if self.beta else "conversation.item.added"
        await self._emit(added, previous_item_id=event.previous_item_id, item=_item(event.item_id, None))

    async def _delta(self, item_id: str, confirmed: str) -> None:
        """Send what `confirmed` adds to the deltas already sent (append-only; nothing if it disagrees)."""
        sent = self._sent.get(item_id, "")
        if len(confirmed) > len(sent) and confirmed.startswith(sent):
            self._sent[item_id] = confirmed
            await self._emit(f"{TRANSCRIPTION}.delta", item_id=item_id, content_index=0, delta=confirmed[len(sent) :])

    async def _final(self, event: Final) -> None:
        self.transcripts.append(event.transcript)
        await self._delta(event.item_id, event.transcript)
        self._sent.pop(event.item_id, None)
        usage = {"type": "duration", "seconds": round(event.audio_s, 3)}
        await self._emit(
            f"{TRANSCRIPTION}.completed",
            item_id=event.item_id,
            content_index=0,
            transcript=event.transcript,
            usage=usage,
        )
        previous = self._previous.pop(event.item_id, None)
        if not self.beta:
            await self._emit(
                "conversation.item.done", previous_item_id=previous, item=_item(event.item_id, event.transcript)
            )

    async def _emit(self, kind: str, **fields: Any) -> None:
        await self._send({"event_id": f"event_{next(self._ids)}", "type": kind, **fields})


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
