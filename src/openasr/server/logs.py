"""One structured log line per request or WebSocket session, and the server's log format (text, or JSON
for collectors).

The line names the request id, the key by its id (a hash prefix, never the key), surface, route
template, model, status, billed audio seconds and latency. Nothing else from the request goes in: no
audio, no keys, no query strings (result links carry signatures there), no raw paths.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from openasr.server.observe import Observation

access = logging.getLogger("openasr.access")

ACCESS_FIELDS = ("request_id", "key_id", "surface", "route", "model", "status", "audio_s", "latency_ms")


def log_request(obs: Observation, status: int, elapsed_s: float) -> None:
    fields: dict[str, Any] = {
        "request_id": obs.request_id,
        "key_id": obs.api_key_id or "",
        "surface": obs.surface,
        "route": obs.route,
        "model": obs.model,
        "status": status,
        "audio_s": round(obs.audio_s, 3),
        "latency_ms": round(elapsed_s * 1000, 1),
    }
    text = " ".join(f"{k}={v}" for k, v in fields.items() if v != "")
    access.info("request %s", text, extra={"fields": fields})


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and a request line's fields at the top."""

    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            body["event"] = "request"
            body.update(fields)
        else:
            body["message"] = record.getMessage()
        if record.exc_info:
            body["exception"] = self.formatException(record.exc_info)
        return json.dumps(body, ensure_ascii=False)


class RefusedHandshakes(logging.Filter):
    """Drops the error uvicorn's WebSocket protocol logs after every handshake the app answered with an
    HTTP response ("ASGI callable returned without completing handshake.", uvicorn 0.54): the gate refuses
    a bad key, a spent rate or a full session cap so (401, 429, 503, as the ASGI `websocket.http.response`
    extension allows), and a client retrying would fill the log with false errors. Each refusal keeps its
    access-log line."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("ASGI callable returned without completing handshake")


def configure_logging(log_format: str, level: str = "info") -> dict[str, Any]:
    """The `log_config` for uvicorn: openasr's and uvicorn's loggers on stderr, as text or JSON.
    Uvicorn's own access log stays off; `openasr.access` replaces it without query strings."""
    formatter: dict[str, Any] = (
        {"()": f"{__name__}.JsonFormatter"}
        if log_format == "json"
        else {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}
    )
    handler = {"class": "logging.StreamHandler", "formatter": "default", "stream": "ext://sys.stderr"}
    loggers = {
        name: {"handlers": ["default"], "level": level.upper(), "propagate": False}
        for name in ("openasr", "uvicorn", "uvicorn.error")
    }
    loggers["uvicorn.error"]["filters"] = ["refused_handshakes"]
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": formatter},
        "filters": {"refused_handshakes": {"()": f"{__name__}.RefusedHandshakes"}},
        "handlers": {"default": handler},
        "loggers": loggers,
    }
