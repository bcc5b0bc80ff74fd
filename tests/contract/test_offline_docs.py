"""/docs and /redoc on a machine without internet: every URL the pages and their assets name is this
server's, and in Chromium, with every request to anywhere but loopback aborted, Swagger UI and ReDoc
still render every operation of /openapi.json (and no such request is even attempted)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
import requests
from playwright.sync_api import Browser, Page, Route, sync_playwright

from live_server import live_server, server_settings

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
URL_IN_HTML = re.compile(r"""(?:src|href|spec-url)\s*=\s*["']([^"']+)["']|\burl\s*:\s*["']([^"']+)["']""")
URL_IN_CSS = re.compile(r"""url\(\s*["']?([^"')]+)["']?\s*\)|@import\s+["']([^"']+)["']""")
ASSET_HOSTS = re.compile(r"//cdn\.|fonts\.googleapis|fonts\.gstatic|unpkg\.com|jsdelivr")
"""Hosts that serve scripts, styles, fonts and images to pages; bundles also hold links to specs and
licences that are never fetched, so the browser test below is what proves nothing else is loaded."""
WAIT_MS = 60_000


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with live_server(server_settings(tmp_path_factory.mktemp("docs"))) as url:
        yield url


def operations(site: str) -> set[tuple[str, str]]:
    schema = requests.get(f"{site}/openapi.json", timeout=30).json()
    return {(method.upper(), path) for path, methods in schema["paths"].items() for method in methods}


def local(site: str, url: str, base: str) -> str:
    """The absolute URL of a reference, asserting it stays on this server."""
    absolute = urljoin(base, url)
    assert absolute.startswith(site + "/") or url.startswith("data:"), f"{base} names {url}"
    return absolute


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_pages_and_their_assets_name_only_this_server(site: str, page: str) -> None:
    html = requests.get(f"{site}{page}", timeout=10).text
    references = [a or b for a, b in URL_IN_HTML.findall(html)]
    assert any(r.endswith(".js") for r in references) and "/openapi.json" in references, html
    for reference in references:
        asset = local(site, reference, f"{site}{page}")
        loaded = requests.get(asset, timeout=30)
        assert loaded.status_code == 200, asset
        if asset.endswith(".css"):
            for inner in (a or b for a, b in URL_IN_CSS.findall(loaded.text)):
                local(site, inner, asset)
        if asset.endswith((".js", ".css")):
            assert not ASSET_HOSTS.search(loaded.text), (asset, ASSET_HOSTS.search(loaded.text))


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.skip("needs Debian's chromium (apt-get install chromium); .ci/run installs it")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield chromium
        chromium.close()


def offline_page(browser: Browser, blocked: list[str]) -> Page:
    """A page whose requests leave only for loopback; any other is aborted and noted in `blocked`."""
    context = browser.new_context()

    def only_loopback(route: Route) -> None:
        if urlsplit(route.request.url).hostname in LOOPBACK or route.request.url.startswith("data:"):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort("internetdisconnected")

    context.route("**/*", only_loopback)
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    return page


def test_swagger_ui_renders_every_operation_offline(site: str, browser: Browser) -> None:
    blocked: list[str] = []
    page = offline_page(browser, blocked)
    page.goto(f"{site}/docs")
    page.wait_for_selector(".opblock")
    rendered = {
        (method.strip(), path.replace("\u200b", "").strip())
        for method, path in zip(
            page.locator(".opblock-summary-method").all_inner_texts(),
            page.locator(".opblock-summary-path").all_inner_texts(),
            strict=True,
        )
    }
    assert rendered == operations(site)
    assert page.locator(".errors-wrapper").count() == 0  # Swagger UI found no schema errors
    assert blocked == []
    page.context.close()


def test_redoc_renders_every_operation_offline(site: str, browser: Browser) -> None:
    blocked: list[str] = []
    page = offline_page(browser, blocked)
    page.goto(f"{site}/redoc")
    page.wait_for_selector("[data-section-id^='operation/']")
    assert page.locator("[data-section-id^='operation/']").count() == len(operations(site))
    assert blocked == []
    page.context.close()
