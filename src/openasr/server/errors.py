"""`AsrError` -> each surface's error envelope; anything else -> a logged 500 with the request id.

Which envelope a path gets is decided by its prefix: the OpenAI surfaces answer
`{"error": {message, type, param, code}, "request_id"}`, DashScope answers `{request_id, code, message}`
(spec §10). Request-validation failures are the client's fault and become 400 `InvalidParameter`.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import HTTPConnection

from openasr.core.errors import AsrError, InternalError, InvalidParameterError, ServerBusyError, ThrottledError

log = logging.getLogger("openasr.server")

OPENAI_PREFIXES = ("/compatible-mode/", "/v1/")

_OPENAI_CODES = {
    "InvalidApiKey": "invalid_api_key",
    "InvalidParameter": "invalid_parameter_error",
    "ModelNotFound": "model_not_found",
    "InternalError": "internal_error",
    "ModelUnavailable": "model_unavailable",
    "BadRequest.TooLarge": "request_too_large",
    "Throttling": "server_busy",
}


_HTTP_CODES = {404: "NotFound", 405: "InvalidParameter", 408: "RequestTimeOut", 413: "BadRequest.TooLarge"}
"""Starlette's own refusals, in DashScope's codes (spec §10)."""


def request_id(connection: HTTPConnection) -> str:
    """The id the gate gave this request or session (`server.gate`); a new one in an app without it."""
    rid = getattr(connection.state, "request_id", None)
    if rid is None:
        rid = connection.state.request_id = str(uuid.uuid4())
    return str(rid)


class CarriedError(StarletteHTTPException):
    """An `AsrError` raised while FastAPI reads a body (admission once the body is in): FastAPI turns
    anything but an `HTTPException` raised there into a 400, so the error travels inside one and is
    answered as itself."""

    def __init__(self, error: AsrError) -> None:
        super().__init__(error.http_status, error.message)
        self.error = error


def is_openai_path(path: str) -> bool:
    return path.startswith(OPENAI_PREFIXES)


def dashscope_body(error: AsrError, rid: str) -> dict[str, Any]:
    return {"request_id": rid, "code": error.code, "message": error.message}


def openai_body(error: AsrError, rid: str, path: str = "") -> dict[str, Any]:
    """OpenAI's envelope with DashScope's compatible-mode codes (observed there, spec §10.2); on OpenAI's
    own `/v1/` paths a rate refusal is OpenAI's own `rate_limit_exceeded` of type `requests`."""
    kind = "invalid_request_error" if error.http_status < 500 else "server_error"
    code = _OPENAI_CODES.get(error.code, error.code)
    if error.code == "Throttling.RateQuota" and path.startswith("/v1/"):
        kind, code = "requests", "rate_limit_exceeded"
    return {
        "error": {"message": error.message, "type": kind, "param": error.param, "code": code},
        "request_id": rid,
    }


def error_response(request: Request, error: AsrError) -> JSONResponse:
    return error_envelope(request.url.path, request_id(request), error)


def error_envelope(path: str, rid: str, error: AsrError) -> JSONResponse:
    """The answer to `error` on `path`, in its surface's envelope; also a refused WebSocket handshake's."""
    openai = is_openai_path(path)
    body = openai_body(error, rid, path) if openai else dashscope_body(error, rid)
    headers = {}
    status = error.http_status
    if isinstance(error, ThrottledError):
        headers["Retry-After"] = str(error.retry_after_s)
    if openai and isinstance(error, ServerBusyError):
        status = 429  # what OpenAI answers when overloaded; its SDKs wait Retry-After and retry
    elif openai and status >= 500:
        headers["x-should-retry"] = "false"
    return JSONResponse(body, status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AsrError)
    async def _asr(request: Request, exc: AsrError) -> JSONResponse:
        if exc.http_status >= 500 and not isinstance(exc, ServerBusyError):  # busy is load, not a failure
            log.error("request %s failed: %s: %s", request_id(request), exc.code, exc.message)
        return error_response(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(request, validation_error(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if isinstance(exc, CarriedError):
            return error_response(request, exc.error)
        error = InvalidParameterError(str(exc.detail))
        error.http_status = exc.status_code
        error.code = _HTTP_CODES.get(exc.status_code, "InvalidParameter")
        return error_response(request, error)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        rid = request_id(request)
        log.exception("request %s failed unexpectedly", rid)
        return error_response(request, InternalError(f"internal error; request id {rid}"))


def validation_error(exc: RequestValidationError) -> InvalidParameterError:
    first = exc.errors()[0] if exc.errors() else {}
    if first.get("type") == "json_invalid":  # its location is a character offset, not a field
        position = first.get("loc", ("body", "?"))[-1]
        return InvalidParameterError(f"the body is not valid JSON (at character {position})")
    location = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body", "query"))
    message = f"{location}: {first.get('msg', 'invalid request')}" if location else str(first.get("msg", "invalid"))
    return InvalidParameterError(message, param=location or None)
