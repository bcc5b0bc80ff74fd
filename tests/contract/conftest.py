"""Shared contract-test fixtures: one real openasr server for the whole session (see tests/live_server.py).

* `server_data_dir` — the session server's data directory (uploads, signing secret, task database).
* `server` — its base URL ``http://127.0.0.1:PORT``; settings from `live_server.server_settings`:
  ``api_keys=("sk-local-test",)``, ``allow_private_urls=True``, no rate limit, weights from
  ``$OPENASR_CACHE_DIR`` or ``~/.cache/openasr``. Started once, shut down at the end of the session.
* `dashscope_sdk` — points the global ``dashscope`` SDK at `server` with key ``sk-local-test`` for the
  test that asks for it (module fixtures elsewhere move these globals; this sets them per test) and
  returns the DashScope base ``{server}/api/v1``.

Tests that need other settings start their own server with `live_server.live_server(server_settings(...))`;
every server shares the one engine pool, so that costs a port, not another model.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dashscope
import pytest

from live_server import KEY, live_server, server_settings


@pytest.fixture(scope="session")
def server_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("server")


@pytest.fixture(scope="session")
def server(server_data_dir: Path) -> Iterator[str]:
    with live_server(server_settings(server_data_dir)) as url:
        yield url


@pytest.fixture
def dashscope_sdk(server: str) -> str:
    dashscope.base_http_api_url = f"{server}/api/v1"
    dashscope.api_key = KEY
    return dashscope.base_http_api_url
