"""The one gate every surface passes, HTTP route or WebSocket session: request id, key, rate, admission,
and at the end one record (metrics, access log line, usage row).

`GateMiddleware` (`server.gate_asgi`) calls it for both kinds of ASGI scope, before the router, because
FastAPI reads a body before any dependency runs. What a route needs is declared on the route
(`server.surface`); what a handler learns while it runs (the model, what it bills, each delta) it notes
on the request's `Observation`, which the gate hands to metrics, the log and the usage store once the
answer has ended.

The rate limit counts model invocations only (sync, stream, chat, transcription, task submit, a realtime
session), as the service's RPM does (spec §11); polls, lists, usage and uploads are not counted.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager

import anyio
from starlette.concurrency import run_in_threadpool
from starlette.types import Scope

from openasr.core.errors import ServerBusyError, UploadTooLargeError
from openasr.core.keys import key_id
from openasr.jobs.store import TaskStore
from openasr.runtime.admission import Admission
from openasr.server.auth import KeyRing, Limiter
from openasr.server.body import too_large_message
from openasr.server.logs import log_request
from openasr.server.metrics import Metrics
from openasr.server.observe import Observation
from openasr.server.surface import Surface

log = logging.getLogger("openasr.server")


class BodyTooLargeError(UploadTooLargeError):
    """The request body is larger than its route allows."""

    code = "BadRequest.TooLarge"


REALTIME_RETRY_AFTER_S = 5
"""What a refused realtime handshake suggests: sessions last minutes, a slot frees when one ends."""


class SessionSlots:
    """The realtime sessions open now, against the server's cap (0: no cap). One event loop counts them,
    so no lock is needed."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open = 0

    @contextmanager
    def hold(self) -> Iterator[None]:
        """Hold a slot until the context ends, or refuse (`ServerBusyError`) when all are taken."""
        if self.limit and self.open >= self.limit:
            raise ServerBusyError(
                f"{self.open} realtime sessions are open, this server's limit; retry later",
                retry_after_s=REALTIME_RETRY_AFTER_S,
            )
        self.open += 1
        try:
            yield
        finally:
            self.open -= 1


class Gate:
    def __init__(
        self,
        keys: KeyRing,
        limiter: Limiter,
        admission: Admission,
        default_model: str,
        metrics: Metrics | None = None,
        usage: TaskStore | None = None,
        realtime_sessions: int = 0,
    ) -> None:
        self._keys = keys
        self._limiter = limiter
        self._admission = admission
        self._model = default_model
        self._metrics = metrics
        self._usage = usage
        self.sessions = SessionSlots(realtime_sessions)
        if metrics is not None:
            metrics.watch_sessions(lambda: self.sessions.open)

    def key(self, authorization: str | None) -> str | None:
        """The caller's key from its `Authorization` header (None: none, and none is needed); raises
        `InvalidApiKeyError`. Routes read their key through this (`deps.ApiKey`)."""
        return self._keys.check(authorization)

    def open(self, scope: Scope) -> Observation:
        """Give the request its id and its observation, both in the scope's state, before anything runs."""
        state = scope.setdefault("state", {})
        rid = state["request_id"] = str(uuid.uuid4())
        obs = state["observation"] = Observation(rid)
        return obs

    async def check(self, obs: Observation, surface: Surface, headers: Mapping[str, str]) -> None:
        """Key, then a declared body size over the cap, then the key's rate (an invocation's: counted
        last, so a request refused as too large costs no rate slot). Raises the refusal's `AsrError`."""
        obs.surface = surface.label
        api_key = None
        if surface.needs_key:
            api_key = self._keys.check(headers.get("authorization"))
            obs.api_key_id = key_id(api_key)
        declared = headers.get("content-length", "").strip()
        cap = surface.max_body_bytes
        if cap is not None and declared.isdigit() and int(declared) > cap:
            raise BodyTooLargeError(too_large_message(cap))
        if surface.invocation:  # the shared limiter is a database round trip
            await run_in_threadpool(self._limiter.hit, key_id(api_key))

    def admit(self, model: str | None = None) -> AbstractContextManager[None]:
        """Count a sync call in `model`'s queue (default: the server's model) until the context ends, or
        refuse it (`ServerBusyError`) while the predicted wait is over its bound."""
        return self._admission.enter(model or self._model)

    async def close(self, obs: Observation, status: int) -> None:
        """The call has ended (answered, refused, or the client left): metrics and the access log line
        inline (microseconds), the usage row in a worker thread. Shielded: a client that left must not
        cost the record."""
        with anyio.CancelScope(shield=True):
            try:
                self._observe(obs, status, time.monotonic() - obs.started)
            except Exception:
                log.exception("request %s: observing it failed", obs.request_id)
            if obs.usage is not None and (status < 400 or obs.streaming):
                try:
                    await anyio.to_thread.run_sync(self._persist, obs)
                except Exception:
                    log.exception("request %s: its usage could not be recorded", obs.request_id)

    def _observe(self, obs: Observation, status: int, elapsed_s: float) -> None:
        if self._metrics is not None:
            self._metrics.observe_request(obs, status, elapsed_s)
        log_request(obs, status, elapsed_s)

    def _persist(self, obs: Observation) -> None:
        """The usage row of a billable call (sync, stream, OpenAI, a session); tasks record theirs when
        they finish."""
        if self._usage is None or obs.usage is None:
            return
        self._usage.record_usage(
            api_key_id=obs.api_key_id or "anonymous",
            model=obs.model,
            surface=obs.surface,
            charge=obs.usage,
            request_id=obs.request_id,
        )
