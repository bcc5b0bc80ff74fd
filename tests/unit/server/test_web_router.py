"""The page's files as the router serves them: from the package, nothing from another origin."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from openasr.server.errors import install_error_handlers
from openasr.server.web.router import ASSETS, router

REMOTE = re.compile(r"""(?:src|href|url|import)\s*[=(]\s*["']?(?:https?:)?//""", re.IGNORECASE)
"""A reference that would make the browser fetch from another origin (a CDN script, style or font)."""


@pytest.fixture(scope="module")
def client() -> TestClient:
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(router)
    return TestClient(app)


def test_the_page_and_its_assets_come_from_the_package_only(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["content-security-policy"].startswith("default-src 'self';")
    for name in ("/web/app.js", "/web/style.css"):
        assert f'"{name}"' in page.text
    for name, media_type in ASSETS.items():
        asset = client.get(f"/web/{name}")
        assert asset.status_code == 200 and asset.headers["content-type"] == media_type
        assert not REMOTE.search(asset.text), name
    assert not REMOTE.search(page.text)


def test_hooks_for_automation_are_in_the_page(client: TestClient) -> None:
    page = client.get("/").text
    hooks = ("file-input", "transcript", "progress", "download-txt", "download-srt", "download-vtt", "download-json")
    for hook in hooks:
        assert f'data-testid="{hook}"' in page
    assert 'name="api_key"' in page


def test_only_the_page_files_are_served(client: TestClient) -> None:
    r = client.get("/web/router.py")
    assert r.status_code == 404 and r.json()["code"] == "NotFound"
