"""What a request must pass before and while its body is read: the key, the key's rate, the body's size
and pace, and — once the body is in — the engine's queue.

FastAPI reads (and for JSON, buffers) a body before any dependency runs, so a check made in a route's
dependencies comes after the body has been received. This middleware decides what it can from the path
and headers alone: a missing or wrong key is 401 and an invocation over its key's rate is 429 before a
byte of the body is read; a `Content-Length` over the route's cap is 413 at once, and a body that grows
past the cap while it arrives (chunked, or a lying length) is cut off with 413, so no body is ever held
beyond its cap. A body that pauses too long or arrives too slowly is cut with 408 (`server.body`).

A sync invocation is admitted into the engine's queue (503/429 while the predicted wait is over its
bound) only when its body is complete: a client still sending holds no room there, so a few hundred
trickling clients cannot lock out everybody else.

The rate limit counts model invocations only (sync, stream, chat, transcription, translation, task submit), as the
service's RPM does (spec §11); polls, lists, usage and uploads are not counted.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from openasr.core.errors import AsrError, UploadTooLargeError
from openasr.core.keys import key_id
from openasr.runtime.admission import Admission
from openasr.server.auth import Gate
from openasr.server.body import BodyLimits, GuardedBody, too_large_message
from openasr.server.errors import CarriedError, error_response
from openasr.service import MB, OPENAI_FILE_LIMITS, SYNC_LIMITS

_BASE64_GROWTH = 4 / 3
_SMALL_BODY = 1 * MB
"""Task submissions, polls and everything else carry a little JSON."""


@dataclass(frozen=True)
class RouteRule:
    needs_key: bool
    max_body_bytes: int | None
    """None: the route caps its own body (E3 uploads, whose cap depends on the store)."""
    invocation: bool = False
    """Counted against the key's rate (a model invocation)."""
    sync: bool = False
    """Recognised while the client waits: admitted, once its body is in, only while the predicted wait
    is under its bound."""
    surface: str = "other"
    """The metrics' surface label, for a request refused before routing names it."""


_JSON_AUDIO = int(SYNC_LIMITS.max_bytes * _BASE64_GROWTH) + _SMALL_BODY
"""A data URI of the 10 MB sync limit, base64-encoded, plus the rest of the JSON."""
_FORM_AUDIO = OPENAI_FILE_LIMITS.max_bytes + _SMALL_BODY

_INVOCATIONS = {
    "/api/v1/services/aigc/multimodal-generation/generation": RouteRule(True, _JSON_AUDIO, True, True, "dashscope"),
    "/compatible-mode/v1/chat/completions": RouteRule(True, _JSON_AUDIO, True, True, "openai"),
    "/v1/chat/completions": RouteRule(True, _JSON_AUDIO, True, True, "openai"),
    "/v1/audio/transcriptions": RouteRule(True, _FORM_AUDIO, True, True, "openai"),
    "/compatible-mode/v1/audio/transcriptions": RouteRule(True, _FORM_AUDIO, True, True, "openai"),
    "/v1/audio/translations": RouteRule(True, _FORM_AUDIO, True, True, "openai"),
    "/compatible-mode/v1/audio/translations": RouteRule(True, _FORM_AUDIO, True, True, "openai"),
    "/api/v1/services/audio/asr/transcription": RouteRule(True, _SMALL_BODY, True, False, "task"),
}
_KEYED_PREFIXES = (
    "/api/v1/tasks",
    "/api/v1/usage",
    "/api/v1/uploads",
    "/api/v1/services/",
    "/compatible-mode/",
    "/v1/",
)
_OPEN = RouteRule(False, _SMALL_BODY)
_KEYED = RouteRule(True, _SMALL_BODY)


class BodyTooLargeError(UploadTooLargeError):
    """The request body is larger than its route allows."""

    code = "BadRequest.TooLarge"


def route_rule(method: str, path: str, upload_path: str) -> RouteRule:
    if method == "POST" and path in _INVOCATIONS:
        return _INVOCATIONS[path]
    if path == upload_path:  # E3 carries no key: its signed policy authorises it (jobs/uploads.py)
        return RouteRule(False, None, surface="upload")
    return _KEYED if path.startswith(_KEYED_PREFIXES) else _OPEN


class IntakeMiddleware:
    """Sits inside `ObservationMiddleware`, so every refusal here is counted and logged like any answer."""

    def __init__(
        self,
        app: ASGIApp,
        gate: Gate,
        admission: Admission,
        default_model: str,
        upload_path: str,
        body_limits: BodyLimits,
    ) -> None:
        self.app = app
        self._body_limits = body_limits
        self._gate = gate
        self._admission = admission
        self._model = default_model
        self._upload_path = upload_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rule = route_rule(scope["method"], scope["path"], self._upload_path)
        with ExitStack() as admitted:  # a sync request counts in the engine's queue until it is answered
            try:
                counted = self._check(scope, rule)
                if counted is not None:  # the shared limiter is a database round trip
                    await run_in_threadpool(self._gate.limiter.hit, counted)
            except AsrError as exc:
                await error_response(Request(scope), exc)(scope, _no_body, send)
                return
            on_complete = (lambda: self._enter_queue(admitted)) if rule.sync else None
            body = GuardedBody(receive, self._body_limits, rule.max_body_bytes, on_complete)
            await self.app(scope, body.receive, body.closing(send))

    def _enter_queue(self, admitted: ExitStack) -> None:
        """The body is in: count the request in its engine's queue until it is answered, or refuse it."""
        try:
            admitted.enter_context(self._admission.enter(self._model))
        except AsrError as exc:
            raise CarriedError(exc) from None

    def _check(self, scope: Scope, rule: RouteRule) -> str | None:
        """Key and size; returns the key id to count against its rate when the route is an
        invocation (counted last: a request refused as too large costs no rate slot)."""
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", ())}
        observation = scope.get("state", {}).get("observation")
        if observation is not None:
            observation.surface = rule.surface
        api_key = None
        if rule.needs_key:
            api_key = self._gate.keys.check(headers.get("authorization"))
            if observation is not None:
                observation.api_key_id = key_id(api_key)
        declared = headers.get("content-length", "").strip()
        if rule.max_body_bytes is not None and declared.isdigit() and int(declared) > rule.max_body_bytes:
            raise _too_large(rule.max_body_bytes)
        return key_id(api_key) if rule.invocation else None


def _too_large(cap: int) -> BodyTooLargeError:
    return BodyTooLargeError(too_large_message(cap))


async def _no_body() -> Message:
    return {"type": "http.disconnect"}
