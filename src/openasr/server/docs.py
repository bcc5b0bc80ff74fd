"""The API's own documentation: `/docs` and `/redoc` served offline, and an OpenAPI schema that tells
the truth about errors and capabilities.

The Swagger UI and ReDoc bundles come from the `fastapi-offline` package and are served by this server
(no CDN, no Google fonts, no Swagger validator badge), so the docs work on a machine without internet.
ReDoc's bundle hard-codes one CDN URL (its "API docs by Redocly" logo, fetched on every page view); this
server serves that bundle with the logo pointed at its own favicon instead.
Every route documents the error envelope of its surface, and the schema's description lists which
capabilities the loaded engine has (word timestamps, emotion …) and which are not active.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, Response
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


OFFLINE_ASSETS = "/static-offline-docs"
"""Where `fastapi-offline` mounts its bundled assets."""
REDOC_BUNDLE = "/docs-assets/redoc.standalone.js"
_REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


def offline_app(**kwargs: Any) -> FastAPI:
    """A FastAPI app whose /docs and /redoc load their assets from this package, never a CDN."""
    app = FastAPIOffline(redoc_url=None, swagger_ui_parameters={"validatorUrl": None}, **kwargs)

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{REDOC_BUNDLE}",
            redoc_favicon_url=f"{root}{OFFLINE_ASSETS}/favicon.png",
            with_google_fonts=False,
        )

    @app.get(REDOC_BUNDLE, include_in_schema=False)
    async def redoc_bundle(request: Request) -> Response:
        logo = f"{request.scope.get('root_path', '')}{OFFLINE_ASSETS}/favicon.png"
        return Response(_redoc_bundle(logo), media_type="text/javascript")

    return app


@functools.cache
def _redoc_bundle(logo_url: str) -> str:
    bundle = Path(fastapi_offline.__file__).with_name("static") / "redoc.standalone.js"
    return bundle.read_text(encoding="utf-8").replace(_REDOC_LOGO, logo_url)


DIARIZATION_NOTE = (
    " (async `parameters.diarization_enabled` + `speaker_count` → `sentences[].speaker_id`; OpenAI "
    "`model=gpt-4o-transcribe-diarize`, `response_format=diarized_json`, `known_speaker_names[]` + "
    "`known_speaker_references[]`; CLI `--diarize [--speakers N]`). CAM++ speaker embeddings on onnxruntime, "
    "shipped with the package: about 5–6 % of one core per second of audio (`bench/speaker_embedding_cost.py`), "
    "clustered once the last chunk is in; overlapping speech is not separated (each stretch gets one speaker)"
)


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
        "- translation to English (`POST /v1/audio/translations`): " + state(caps.translation, "translation"),
        f"- context biasing (system message, `prompt`): {state(caps.context_biasing)}"
        + (f", up to {caps.max_prompt_tokens} tokens" if caps.context_biasing else ""),
        f"- emotion: {state(caps.emotion)}"
        + (
            " (`annotations[].emotion`: the whole audio's, weighted by duration; per sentence in async results)"
            if caps.emotion
            else " (responses carry no `emotion` key: no classifier is configured; set OPENASR_EMOTION_MODEL to"
            " a transformers audio-classification checkpoint or emotion2vec+, see the README)"
        ),
        f"- speaker diarization: {state(caps.diarization, 'diarization')}"
        + (DIARIZATION_NOTE if caps.diarization else ""),
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
