"""A real openasr server on a free loopback port, in a background thread, for contract tests.

Servers started here share one `EnginePool` per cache directory, so each configuration costs a socket,
not another copy of the model.
"""

from __future__ import annotations

import functools
import os
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
import uvicorn
from fastapi import APIRouter

from openasr.runtime.engine_pool import EnginePool
from openasr.server.app import create_app
from openasr.server.http_limits import uvicorn_options
from openasr.settings import Settings

KEY = "sk-local-test"


def cache_dir() -> Path:
    return Path(os.environ.get("OPENASR_CACHE_DIR", Path.home() / ".cache" / "openasr")).expanduser()


@functools.cache
def shared_engines(cache: Path) -> EnginePool:
    return EnginePool(cache)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def live_server(
    settings: Settings,
    engines: EnginePool | None = None,
    port: int | None = None,
    routers: Sequence[APIRouter] = (),
    tls: tuple[Path, Path] | None = None,
) -> Iterator[str]:
    """Yield the base URL (http://127.0.0.1:PORT) once GET /health answers 200; `engines` replaces the
    shared pool (a server whose engines need other settings: a Qwen3 aligner, an emotion classifier); `port` restarts a
    server where it was; `routers` adds a test's own routes to the app `create_app` built; `tls` (certificate,
    key) serves https (for clients that only speak wss://)."""
    port = port or free_port()
    app = create_app(settings, engines=engines or shared_engines(settings.cache_dir))
    for router in routers:
        app.include_router(router)
    ssl = {"ssl_certfile": str(tls[0]), "ssl_keyfile": str(tls[1])} if tls else {}
    options = uvicorn_options(settings)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", **options, **ssl)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            verify: str | bool = str(tls[0]) if tls else True
            if requests.get(f"{base}/health", timeout=2, verify=verify).status_code == 200:
                break
        except requests.ConnectionError:
            pass
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("openasr server did not become healthy")
        time.sleep(0.1)
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def server_settings(tmp: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "cache_dir": cache_dir(),
        "data_dir": tmp,
        "api_keys": (KEY,),
        "allow_private_urls": True,
        "rate_limit_per_minute": 0,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def file_task(base: str, url: str, key: str = KEY, timeout_s: float = 120.0) -> dict[str, Any]:
    """A file-transcription task of the audio at `url`, submitted over plain HTTP and polled until it
    ends: the task's last `GET /api/v1/tasks/{id}` body."""
    auth = {"Authorization": f"Bearer {key}"}
    submitted = requests.post(
        f"{base}/api/v1/services/audio/asr/transcription",
        json={"model": "qwen3-asr-flash-filetrans", "input": {"file_url": url}, "parameters": {}},
        headers={**auth, "X-DashScope-Async": "enable"},
        timeout=30,
    )
    assert submitted.status_code == 200, submitted.text
    task_id = submitted.json()["output"]["task_id"]
    deadline = time.monotonic() + timeout_s
    while True:
        body: dict[str, Any] = requests.get(f"{base}/api/v1/tasks/{task_id}", headers=auth, timeout=30).json()
        if body["output"]["task_status"] not in ("PENDING", "RUNNING"):
            return body
        assert time.monotonic() < deadline, f"task {task_id} still {body['output']['task_status']} after {timeout_s} s"
        time.sleep(0.2)
