"""The API's own documentation: `/docs` and `/redoc` served offline, and an OpenAPI schema that tells
the truth about errors and capabilities.

The Swagger UI and ReDoc bundles come from the `fastapi-offline` package and are served by this server
(no CDN, no Google fonts, no Swagger validator badge), so the docs work on a machine without internet.
Every route documents the error envelope of its surface, and the schema's description lists which
capabilities the loaded engine has (word timestamps, emotion …) and which are not active.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel

from openasr.engines.base import EngineCapabilities


class DashScopeError(BaseModel):
    """DashScope surfaces (spec §10)."""

    request_id: str
    code: str
    message: str


class OpenAIErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None
    code: str


class OpenAIError(BaseModel):
    """OpenAI-compatible surfaces."""

    error: OpenAIErrorDetail
    request_id: str


def error_responses(model: type[BaseModel]) -> dict[int | str, dict[str, Any]]:
    """The `responses` of a router: every failure comes in its surface's envelope."""
    return {
        "4XX": {"model": model, "description": "bad input, key, model or rate (code names the problem)"},
        "5XX": {"model": model, "description": "InternalError, logged with the request id"},
    }


def offline_app(**kwargs: Any) -> FastAPI:
    """A FastAPI app whose /docs and /redoc load their assets from this package, never a CDN."""
    return FastAPIOffline(swagger_ui_parameters={"validatorUrl": None}, **kwargs)


def capability_lines(model: str, caps: EngineCapabilities) -> list[str]:
    def state(active: bool, name: str = "") -> str:
        why = caps.why_not.get(name)
        return "active" if active else "**not active**" + (f" ({why})" if why else "")

    return [
        f"Capabilities of the loaded model `{model}`:",
        "",
        "- word timestamps (`enable_words`, `timestamp_granularities[]=word`): "
        + state(caps.word_timestamps, "word_timestamps"),
        f"- language identification: {state(caps.language_id)}",
        f"- context biasing (system message, `prompt`): {state(caps.context_biasing)}"
        + (f", up to {caps.max_prompt_tokens} tokens" if caps.context_biasing else ""),
        f"- emotion: {state(caps.emotion)}"
        + (
            " (`annotations[].emotion`: the whole audio's, weighted by duration; per sentence in async results)"
            if caps.emotion
            else " (responses carry no `emotion` key: no classifier is configured; set OPENASR_EMOTION_MODEL to"
            " a transformers audio-classification checkpoint or emotion2vec+, see the README)"
        ),
        *(f"- note: {note}" for note in caps.notes),
    ]


def install_openapi(app: FastAPI, capabilities: Callable[[], tuple[str, EngineCapabilities] | None]) -> None:
    """Build the schema on first request, once the default model is loaded (its capabilities go in the
    description); before that the schema is built but not cached."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        loaded = capabilities()
        lines = [app.description, ""]
        lines += capability_lines(*loaded) if loaded else ["Capabilities: the model is still loading."]
        schema = get_openapi(title=app.title, version=app.version, description="\n".join(lines), routes=app.routes)
        schema["info"]["x-capabilities"] = (
            {k: v for k, v in vars(loaded[1]).items() if isinstance(v, bool)} if loaded else {}
        )
        if loaded:
            app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
