"""DashScope run-task streaming recognition (`/api-ws/v1/inference`, spec §2): what
`dashscope.audio.asr.Recognition` and v2 `client.audio.asr.recognize` speak.

The client's `run-task` names the model and the audio (format, sample rate, language hints, sentence
silence); binary frames carry raw audio; `finish-task` ends it. The session runs server VAD, each turn
being one sentence: live captions go out as `result-generated` with `end_time: null` (the SDKs' test for
"not final"), each final as the sentence with its `end_time`, `sentence_end: true` and the seconds it
bills. `task-finished` follows the last final; any fault is one `task-failed`, after which the surface
is done (the SDK treats it as the end of the task).
"""

from __future__ import annotations

import base64
import math
from collections.abc import Awaitable, Callable
from typing import Any

from openasr.realtime.audio_in import FrameDecoder
from openasr.realtime.errors import RealtimeError
from openasr.realtime.events import Event, Failed, Final, Partial, SpeechStarted, SpeechStopped
from openasr.realtime.session import RealtimeSession, SessionConfig, TurnDetection

Send = Callable[[dict[str, Any]], Awaitable[None]]
SessionFactory = Callable[[SessionConfig, Callable[[Event], Awaitable[None]]], RealtimeSession]

RUN_TASK_MODELS = frozenset(
    {
        "paraformer-realtime-v2",
        "paraformer-realtime-v1",
        "paraformer-realtime-8k-v2",
        "paraformer-realtime-8k-v1",
        "fun-asr-realtime",
        "fun-asr-realtime-2025-11-07",
        "qwen-audio-3.0-asr-flash-streaming",
        "qwen-audio-3.1-asr-flash-streaming",
        "qwen3-asr-flash-realtime",
        "qwen3-asr-flash-realtime-2025-10-27",
        "qwen3-asr-flash-realtime-2026-02-10",
    }
)
"""The streaming recognition models of the run-task protocol (spec §2) and the Qwen realtime names; the
server's default engine serves them all."""
FORMATS = frozenset({"pcm", "wav", "opus"})
"""Raw s16le, WAV, or Ogg-Opus (`realtime.ogg_opus`): what the realtime session decodes."""
DEFAULT_SILENCE_MS = 800
SILENCE_RANGE_MS = (200, 6000)


class RunTaskError(Exception):
    """A fault that ends the task: rendered as `task-failed` with a DashScope error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class RunTask:
    """One WebSocket's task; `done` turns True once `task-finished` or `task-failed` has been sent."""

    def __init__(self, engine_model: str, new_session: SessionFactory, send: Send) -> None:
        self._engine_model = engine_model
        self._new_session = new_session
        self._send = send
        self.task_id = ""
        self.model = ""
        self.done = False
        self.transcripts: list[str] = []
        self._session: RealtimeSession | None = None
        self._decoder: FrameDecoder | None = None
        self._spans: dict[str, list[int | None]] = {}
        """Per open sentence (item): its begin and end in ms of audio received."""
        self._begun: set[str] = set()

    @property
    def audio_received_s(self) -> float:
        return self._session.audio_received_s if self._session is not None else 0.0

    async def receive_text(self, message: Any) -> None:
        """A JSON directive: run-task, finish-task, or continue-task (accepted and ignored)."""
        try:
            await self._directive(message)
        except RunTaskError as exc:
            await self.fail(exc.code, exc.message)
        except RealtimeError as exc:
            await self.fail("InvalidParameter", exc.message)

    async def receive_audio(self, data: bytes) -> None:
        """Raw audio in the task's format; before run-task it is a fault."""
        if self._session is None or self._decoder is None:
            await self.fail("InvalidParameter", "send run-task before any audio")
            return
        try:
            await self._session.append(self._decoder.decode(base64.b64encode(data).decode()))
        except RealtimeError as exc:
            await self.fail("InvalidParameter", exc.message)

    async def fail(self, code: str, message: str) -> None:
        """`task-failed`, once; the session's pending work is dropped."""
        if self.done:
            return
        self.done = True
        await self._header_only("task-failed", error_code=code, error_message=message)
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def _directive(self, message: Any) -> None:
        header = message.get("header") if isinstance(message, dict) else None
        if not isinstance(header, dict):
            raise RunTaskError("InvalidParameter", "every directive is a JSON object with a header")
        action = header.get("action")
        if action == "run-task":
            if self._session is not None:
                raise RunTaskError("InvalidParameter", "the task is already running")
            self.task_id = str(header.get("task_id") or "")
            await self._start(message.get("payload"))
        elif action == "finish-task" and self._session is not None:
            await self._session.finish()
            if not self.done:
                self.done = True
                await self._header_only("task-finished", payload={"output": {}, "usage": None})
        elif action != "continue-task":
            raise RunTaskError("InvalidParameter", f"unexpected action {action!r}: send run-task, then finish-task")

    async def _start(self, payload: Any) -> None:
        if not isinstance(payload, dict):
            raise RunTaskError("InvalidParameter", "run-task needs a payload")
        self.model = str(payload.get("model") or "")
        if self.model not in RUN_TASK_MODELS:
            raise RunTaskError(
                "ModelNotFound", f"model {self.model!r} does not exist; use one of {sorted(RUN_TASK_MODELS)}"
            )
        parameters = payload.get("parameters") or {}
        if not isinstance(parameters, dict):
            raise RunTaskError("InvalidParameter", "payload.parameters must be an object")
        fmt = str(parameters.get("format", "pcm")).lower()
        if fmt not in FORMATS:
            raise RunTaskError("InvalidParameter", f"format {fmt!r} is not supported; use one of {sorted(FORMATS)}")
        self._decoder = FrameDecoder(fmt, _int(parameters.get("sample_rate", 16000), "sample_rate"))
        config = SessionConfig(
            model=self._engine_model, language=_language(parameters), turn_detection=_turns(parameters)
        )
        session = self._new_session(config, self._on_event)
        await session.update(config)
        self._session = session
        await self._header_only("task-started")

    async def _on_event(self, event: Event) -> None:
        if self.done:
            return
        if isinstance(event, SpeechStarted):
            self._spans[event.item_id] = [event.audio_start_ms, None]
        elif isinstance(event, SpeechStopped):
            self._spans.setdefault(event.item_id, [0, None])[1] = event.audio_end_ms
        elif isinstance(event, Partial):
            await self._sentence(event.item_id, event.confirmed + event.stash, final=False)
        elif isinstance(event, Final):
            self.transcripts.append(event.transcript)
            usage = {"duration": math.ceil(event.audio_s)}
            await self._sentence(event.item_id, event.transcript, final=True, usage=usage)
        elif isinstance(event, Failed):
            await self.fail(event.code, event.message)

    async def _sentence(self, item_id: str, text: str, *, final: bool, usage: dict[str, Any] | None = None) -> None:
        begin, end = self._spans.get(item_id, [0, None])
        if final:
            self._spans.pop(item_id, None)
            if not text:
                return  # a turn with no words is no sentence
        first = item_id not in self._begun
        self._begun.add(item_id)
        sentence: dict[str, Any] = {
            "sentence_id": int(item_id.rsplit("_", 1)[-1]),
            "begin_time": begin,
            "end_time": end if final else None,
            "text": text,
            "words": [],
            "sentence_begin": first,
            "sentence_end": final,
            "heartbeat": False,
        }
        await self._header_only("result-generated", payload={"output": {"sentence": sentence}, "usage": usage})

    async def _header_only(self, event: str, payload: dict[str, Any] | None = None, **header: Any) -> None:
        head = {"task_id": self.task_id, "event": event, **header, "attributes": {}}
        await self._send({"header": head, "payload": payload if payload is not None else {}})


def _language(parameters: dict[str, Any]) -> str | None:
    hints = parameters.get("language_hints")
    if hints is None:
        return None
    if not isinstance(hints, list) or not all(isinstance(h, str) for h in hints):
        raise RunTaskError("InvalidParameter", "language_hints must be a list of language codes")
    return hints[0] if hints and hints[0] != "auto" else None


def _turns(parameters: dict[str, Any]) -> TurnDetection:
    silence = _int(parameters.get("max_sentence_silence", DEFAULT_SILENCE_MS), "max_sentence_silence")
    low, high = SILENCE_RANGE_MS
    if not low <= silence <= high:
        raise RunTaskError("InvalidParameter", f"max_sentence_silence must be within {low}-{high} ms, not {silence}")
    return TurnDetection(silence_ms=silence)


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise RunTaskError("InvalidParameter", f"{name} must be an integer, not {value!r}")
    return value
