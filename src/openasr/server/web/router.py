"""Serves the page (`/`) and its assets (`/web/…`) from files inside the package.

The page talks only to the public APIs an SDK user has (upload flow, DashScope sync SSE, async tasks,
task list, the OpenAI realtime WebSocket for Live mode), so it needs no endpoint of its own. Its
Content-Security-Policy allows nothing but this origin (plus `blob:` audio for the user's own file),
which keeps it working offline and keeps a stray CDN reference from ever loading.
"""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter, HTTPException
from fastapi.responses import Response

ASSETS = {
    "app.js": "text/javascript; charset=utf-8",
    "live.js": "text/javascript; charset=utf-8",
    "pcm-worklet.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}
"""The page's files besides index.html, with their media types; nothing else under /web/ is served."""

PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; media-src 'self' blob:; img-src 'self' data:; object-src 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}

router = APIRouter(include_in_schema=False)


def read_asset(name: str) -> bytes:
    return resources.files(__package__).joinpath(name).read_bytes()


@router.api_route("/", methods=["GET", "HEAD"])
async def page() -> Response:
    return Response(read_asset("index.html"), media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)


@router.api_route("/web/{name}", methods=["GET", "HEAD"])
async def asset(name: str) -> Response:
    media_type = ASSETS.get(name)
    if media_type is None:
        raise HTTPException(404, f"no web asset named {name!r}")
    return Response(read_asset(name), media_type=media_type, headers=PAGE_HEADERS)
