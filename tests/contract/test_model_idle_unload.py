"""`OPENASR_MODEL_IDLE_S`: a real `openasr serve` process frees its model's memory once it has been
unused that long, says so in `/metrics` and `openasr models --server`, and loads it again for the next
request, which answers as the first did. Memory is read from /proc, as an operator would."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from live_server import KEY, cache_dir, free_port
from openasr.cli.models import server_models
from speech_clips import clip

IDLE_S = 3
WEIGHTS_KB = 50_000
"""whisper-base's weights in int8, as the issue sizes them: the least the server must give back."""
BECKETT = clip("beckett")
_LOADED = re.compile(r'^openasr_engine_loaded\{model="whisper-base"\} (\S+)$', re.MULTILINE)


class Server:
    def __init__(self, tmp: Path) -> None:
        self.log = tmp / "server.log"
        port = free_port()
        env = dict(
            os.environ,
            OPENASR_DATA_DIR=str(tmp / "data"),
            OPENASR_CACHE_DIR=str(cache_dir()),
            OPENASR_API_KEYS=KEY,
            OPENASR_MODEL_IDLE_S=str(IDLE_S),
            OPENASR_RATE_LIMIT_PER_MINUTE="0",
        )
        command = [sys.executable, "-m", "openasr.cli.main", "serve", "--port", str(port), "--log-level", "warning"]
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{port}"

    def wait_ready(self, timeout_s: float = 120.0) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            assert self.proc.poll() is None, self.log.read_text()
            try:
                if requests.get(f"{self.url}/ready", timeout=2).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, self.log.read_text()
            time.sleep(0.2)

    def rss_kb(self) -> int:
        line = next(x for x in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines() if x.startswith("VmRSS:"))
        return int(line.split()[1])

    def loaded(self) -> bool:
        match = _LOADED.search(requests.get(f"{self.url}/metrics", timeout=10).text)
        assert match is not None
        return float(match.group(1)) == 1.0

    def transcribe(self) -> str:
        with BECKETT.path.open("rb") as f:
            r = requests.post(
                f"{self.url}/v1/audio/transcriptions",
                headers={"Authorization": f"Bearer {KEY}"},
                files={"file": (BECKETT.path.name, f, "audio/wav")},
                data={"model": "whisper-1"},
                timeout=120,
            )
        assert r.status_code == 200, r.text
        return str(r.json()["text"])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    if not Path("/proc/self/status").exists():
        pytest.skip("reads memory from /proc (Linux)")
    server = Server(tmp_path)
    try:
        server.wait_ready()
        yield server
    finally:
        server.proc.terminate()
        server.proc.wait(timeout=60)


def models_column(server: Server) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "openasr.cli.main", "models", "--server", server.url],
        capture_output=True,
        text=True,
        env=dict(os.environ, COLUMNS="400", OPENASR_CACHE_DIR=str(cache_dir())),
        timeout=120,
        check=True,
    )
    row = next(line for line in done.stdout.splitlines() if "whisper-base" in line)
    return row.split("│")[-2].strip()


def test_an_idle_model_is_unloaded_its_memory_freed_and_loaded_again_on_the_next_request(server: Server) -> None:
    first = server.transcribe()
    last_request = time.monotonic()
    after_request_kb = server.rss_kb()
    assert server.loaded()

    loaded_kb = after_request_kb
    while True:  # the last reading while loaded (metric read after memory), then the first once unloaded
        rss_kb = server.rss_kb()
        if not server.loaded():
            break
        loaded_kb = rss_kb
        assert time.monotonic() - last_request < 10, "the model was still loaded 10 s after the last request"
        time.sleep(0.2)
    unloaded_kb = server.rss_kb()
    while loaded_kb - unloaded_kb < WEIGHTS_KB and time.monotonic() - last_request < 10:
        time.sleep(0.2)  # the freed heap goes back to the system just after the unload
        unloaded_kb = min(unloaded_kb, server.rss_kb())
    print(f"RSS after the request {after_request_kb} kB, last loaded {loaded_kb} kB, unloaded {unloaded_kb} kB")
    assert after_request_kb - unloaded_kb >= WEIGHTS_KB  # the target, within 10 s of the last request
    assert loaded_kb - unloaded_kb >= WEIGHTS_KB  # and it is the unload that gave it back
    assert models_column(server) == "no (unloaded while idle)"
    assert requests.get(f"{server.url}/ready", timeout=10).status_code == 200  # still takes traffic

    assert server.transcribe() == first
    assert server_models(server.url) == {"whisper-base": True}  # what `openasr models --server` shows as "yes"
