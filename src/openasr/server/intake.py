"""What a request must pass before its body is read: the key, the key's rate, the queue, the body's size.

FastAPI reads (and for JSON, buffers) a body before any dependency runs, so a check made in a route's
dependencies comes after the body has been received. This middleware decides from the path and headers
alone: a missing or wrong key is 401, an invocation over its key's rate is 429 and a sync invocation
while the engine's queue is over its bound is 503/429 — all before a byte of the body is read; a
`Content-Length` over the route's cap is 413 at once, and a body that grows past the cap while it
arrives (chunked, or a lying length) is cut off with 413, so no body is ever held beyond its cap.

The rate limit counts model invocations only (sync, stream, chat, transcription, task submit), as the
service's RPM does (spec §11); polls, lists, usage and uploads are not counted.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass

import anyio
from fastapi import HTTPException
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from openasr.core.errors import AsrError, UploadTooLargeError
from openasr.core.keys import key_id
from openasr.runtime.admission import Admission
from openasr.server.auth import Gate
from openasr.server.errors import error_response
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
    """Recognised while the client waits: admitted only while the engine's queue is under its bound."""
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
        body_timeout_s: float,
    ) -> None:
        self.app = app
        self._body_timeout_s = body_timeout_s
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
                counted = self._admit(scope, rule, admitted)
                if counted is not None:  # the shared limiter is a database round trip
                    await run_in_threadpool(self._gate.limiter.hit, counted)
            except AsrError as exc:
                await error_response(Request(scope), exc)(scope, _no_body, send)
                return
            await self.app(scope, self._guarded(receive, rule.max_body_bytes), send)

    def _guarded(self, receive: Receive, cap: int | None) -> Receive:
        """The body with its running cap and a timeout between reads; once the body is complete, receive
        waits untimed (a streaming response listens on it for the client leaving)."""
        received = 0
        body_done = False

        async def guarded_receive() -> Message:
            nonlocal received, body_done
            if body_done:
                return await receive()
            try:
                with anyio.fail_after(self._body_timeout_s):
                    message = await receive()
            except TimeoutError:
                raise HTTPException(408, f"no body data arrived for {self._body_timeout_s:g} s") from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if cap is not None and received > cap:
                    raise _Overflow(cap)
                body_done = not message.get("more_body", False)
            return message

        return guarded_receive

    def _admit(self, scope: Scope, rule: RouteRule, admitted: ExitStack) -> str | None:
        """Key, size and queue; returns the key id to count against its rate when the route is an
        invocation (counted last: a request refused as too large or busy costs no rate slot)."""
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
        if rule.sync:
            admitted.enter_context(self._admission.enter(self._model))
        return key_id(api_key) if rule.invocation else None


class _Overflow(HTTPException):
    """The body grew past its cap while arriving. An `HTTPException`, because FastAPI turns anything
    else raised while it reads a body into a 400; the error handlers render it as 413."""

    def __init__(self, cap: int) -> None:
        super().__init__(413, _too_large_message(cap))


def _too_large(cap: int) -> BodyTooLargeError:
    return BodyTooLargeError(_too_large_message(cap))


def _too_large_message(cap: int) -> str:
    return f"the request body is larger than the {cap / MB:.0f} MB allowed here"


async def _no_body() -> Message:
    return {"type": "http.disconnect"}
