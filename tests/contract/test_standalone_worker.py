"""A standalone worker process (`python -m openasr.cli.worker`) is built from the same settings as the
server (`openasr.system`): beside a server with `OPENASR_SIGNING_SECRET`, on one data directory, the
result link the worker signs is one the server accepts, and the worker takes its source rules from the
environment as the server does."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from static_server import static_server

from live_server import KEY, cache_dir, live_server, server_settings
from openasr.jobs.secrets import SECRET_FILE
from speech_clips import clip

SUBMIT = "/api/v1/services/audio/asr/transcription"
SECRET = "5e" * 24
BECKETT = clip("beckett")


@pytest.fixture
def static(tmp_path: Path) -> Iterator[str]:
    root = tmp_path / "static"
    root.mkdir()
    (root / BECKETT.path.name).write_bytes(BECKETT.path.read_bytes())
    with static_server(root) as url:
        yield url


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """The worker with no options but its data directory: everything else comes from the environment."""
    env = dict(
        os.environ,
        OPENASR_SIGNING_SECRET=SECRET,
        OPENASR_ALLOW_PRIVATE_URLS="1",
        OPENASR_CACHE_DIR=str(cache_dir()),
        OPENASR_TASK_POLL_S="0.1",
    )
    log = (tmp_path / "worker.log").open("wb")
    command = [sys.executable, "-m", "openasr.cli.worker", "--data-dir", str(tmp_path / "data")]
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def test_a_worker_process_signs_result_links_the_server_accepts(
    tmp_path: Path, static: str, worker: subprocess.Popen[bytes]
) -> None:
    settings = server_settings(tmp_path / "data", workers=0, signing_secret=SECRET)
    auth = {"Authorization": f"Bearer {KEY}"}
    with live_server(settings) as base:
        body = {"model": "qwen3-asr-flash-filetrans", "input": {"file_url": f"{static}/{BECKETT.path.name}"}}
        submitted = requests.post(
            f"{base}{SUBMIT}", json=body, headers=auth | {"X-DashScope-Async": "enable"}, timeout=30
        )
        assert submitted.status_code == 200, submitted.text
        task_id = submitted.json()["output"]["task_id"]
        deadline = time.monotonic() + 300
        while True:
            output = requests.get(f"{base}/api/v1/tasks/{task_id}", headers=auth, timeout=30).json()["output"]
            if output["task_status"] not in ("PENDING", "RUNNING"):
                break
            assert worker.poll() is None, (tmp_path / "worker.log").read_text()
            assert time.monotonic() < deadline, "the worker never finished the task"
            time.sleep(0.2)
        assert output["task_status"] == "SUCCEEDED", (output, (tmp_path / "worker.log").read_text())
        assert not (tmp_path / "data" / SECRET_FILE).exists()  # nobody fell back to a data-directory secret
        link = requests.get(output["result"]["transcription_url"], timeout=30)
        assert link.status_code == 200, link.text
        text = link.json()["transcripts"][0]["text"]
        assert "fail better" in text.lower(), text
