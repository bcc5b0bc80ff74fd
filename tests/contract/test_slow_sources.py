"""Audio URLs whose server trickles: each request is cut by the download's minimum average rate with the
surface's own error, and while forty of them hold every thread of the server's pool, `/health` and other
routes still answer."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from static_server import TRICKLE, static_server

from live_server import KEY, file_task, live_server, server_settings

GENERATION = "/api/v1/services/aigc/multimodal-generation/generation"
POOL_THREADS = 40
"""AnyIO's default thread limiter: the threads Starlette runs blocking work on."""


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with live_server(server_settings(tmp_path_factory.mktemp("slow-sources"), max_wait_s=600)) as url:
        yield url


def sync_request(base: str, audio_url: str) -> tuple[requests.Response, float]:
    body = {
        "model": "qwen3-asr-flash",
        "input": {"messages": [{"role": "user", "content": [{"audio": audio_url}]}]},
    }
    started = time.monotonic()
    response = requests.post(f"{base}{GENERATION}", json=body, headers={"Authorization": f"Bearer {KEY}"}, timeout=90)
    return response, time.monotonic() - started


def test_trickling_sources_are_cut_and_hold_nothing_else_up(base: str, tmp_path: Path) -> None:
    with static_server(tmp_path) as source, ThreadPoolExecutor(POOL_THREADS) as pool:
        futures = [pool.submit(sync_request, base, f"{source}{TRICKLE}{i}.wav") for i in range(POOL_THREADS)]
        time.sleep(2.0)  # every request is downloading now, each on one of the pool's threads
        assert not any(f.done() for f in futures)
        started = time.monotonic()
        assert requests.get(f"{base}/health", timeout=5).status_code == 200
        models = requests.get(f"{base}/v1/models", headers={"Authorization": f"Bearer {KEY}"}, timeout=5)
        assert models.status_code == 200 and models.json()["data"]
        assert time.monotonic() - started < 5.0
        results = [f.result() for f in futures]
    for response, elapsed in results:
        assert response.status_code == 400, response.text
        error = response.json()
        assert error["code"] == "InvalidParameter" and "kB/s a download must average" in error["message"]
        assert elapsed < 30.0  # the 10 s grace, then the first byte under the rate


def test_a_task_whose_source_trickles_fails_instead_of_running_forever(base: str, tmp_path: Path) -> None:
    with static_server(tmp_path) as source:
        output = file_task(base, f"{source}{TRICKLE}long.wav", timeout_s=40)["output"]
    assert output["task_status"] == "FAILED" and output["code"] == "FILE_DOWNLOAD_FAILED", output
    assert "kB/s a download must average" in output["message"]
