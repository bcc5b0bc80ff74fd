"""A cluster on loopback for the multi-node tests: `openasr serve` processes sharing one PostgreSQL
database and one data directory, as several API nodes behind a load balancer would.

`ClusterEnv.node_env` is the one place a node's environment is built: the shared stores (today the
database URL and the data directory; an S3 storage URL with its AWS variables, or a Ray address, go into
`extra`) and the test timings (heartbeats every 0.5 s, a task taken over after 5 s of silence, instead
of 5 s and 60 s; a 5 s shutdown), so every node of a test runs with exactly the same configuration.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from live_server import cache_dir, free_port

MODEL = "qwen3-asr-flash-filetrans"
SUBMIT = "/api/v1/services/audio/asr/transcription"
TERMINAL = frozenset({"SUCCEEDED", "FAILED", "CANCELED", "UNKNOWN"})


@dataclass
class ClusterEnv:
    """What every node shares, and the settings they all run with."""

    database_url: str
    data_dir: Path
    file_root: Path
    api_keys: tuple[str, ...]
    rate_limit: int
    extra: dict[str, str] = field(default_factory=dict)
    """More shared services (OPENASR_STORAGE_URL with AWS_*, OPENASR_RAY_ADDRESS)."""

    def node_env(self) -> dict[str, str]:
        return dict(
            os.environ,
            OPENASR_DATABASE_URL=self.database_url,
            OPENASR_DATA_DIR=str(self.data_dir),
            OPENASR_CACHE_DIR=str(cache_dir()),
            OPENASR_API_KEYS=",".join(self.api_keys),
            OPENASR_FILE_ROOTS=str(self.file_root),
            OPENASR_RATE_LIMIT_PER_MINUTE=str(self.rate_limit),
            OPENASR_WORKERS="1",
            OPENASR_ENGINE_WORKERS="1",
            OPENASR_CPU_THREADS="1",
            OPENASR_TASK_HEARTBEAT_S="0.5",
            OPENASR_TASK_STALE_AFTER_S="5",
            OPENASR_TASK_RECOVER_EVERY_S="1",
            OPENASR_TASK_POLL_S="0.2",
            OPENASR_SHUTDOWN_TIMEOUT_S="5",
            PYTHONUNBUFFERED="1",
            **self.extra,
        )

    def upgrade_database(self) -> None:
        """`openasr db upgrade`, once, before any node starts (as the deployment does)."""
        command = [sys.executable, "-m", "openasr.cli.main", "db", "upgrade", "--database-url", self.database_url]
        done = subprocess.run(command, env=self.node_env(), capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr


class ApiNode:
    """One ``openasr serve`` process on a free loopback port."""

    def __init__(self, name: str, env: ClusterEnv, log_path: Path) -> None:
        self.name = name
        self.env = env
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def launch(self) -> None:
        """Start the process without waiting (nodes start side by side); `wait_ready` waits."""
        port = free_port()
        command = [sys.executable, "-m", "openasr.cli.main", "serve", "--host", "127.0.0.1", "--port", str(port)]
        command += ["--log-level", "warning"]
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(command, env=self.env.node_env(), stdout=log, stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{port}"

    def wait_ready(self, timeout_s: float = 180.0) -> None:
        """Until /ready answers 200: the model is loaded and the task workers run."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout_s
        while True:
            assert self.proc.poll() is None, f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}"
            try:
                if requests.get(f"{self.url}/ready", timeout=2).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, f"{self.name} not ready after {timeout_s} s:\n{self.log_tail()}"
            time.sleep(0.2)

    def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        assert self.proc.wait(timeout=30) == -signal.SIGKILL

    def terminate(self) -> None:
        """SIGTERM without waiting (nodes stop side by side); `stop` waits."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()

    def stop(self) -> None:
        if self.proc is None:
            return
        self.terminate()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=30)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    # -- the DashScope task protocol, as plain HTTP (the SDK's base URL is one global)

    def submit(self, key: str, file_url: str) -> str:
        body = {"model": MODEL, "input": {"file_url": file_url}, "parameters": {}}
        r = self.post(SUBMIT, key, body)
        assert r.status_code == 200, r.text
        return str(r.json()["output"]["task_id"])

    def post(self, path: str, key: str, body: dict[str, Any]) -> requests.Response:
        headers = {"Authorization": f"Bearer {key}", "X-DashScope-Async": "enable"}
        return requests.post(f"{self.url}{path}", headers=headers, json=body, timeout=30)

    def fetch(self, key: str, task_id: str) -> dict[str, Any]:
        r = requests.get(f"{self.url}/api/v1/tasks/{task_id}", headers={"Authorization": f"Bearer {key}"}, timeout=30)
        assert r.status_code == 200, r.text
        return dict(r.json()["output"])


def result_transcripts(output: dict[str, Any]) -> list[dict[str, Any]]:
    """The transcripts of a SUCCEEDED task's result (channel, text, sentences with their times)."""
    assert output["task_status"] == "SUCCEEDED", output
    r = requests.get(output["result"]["transcription_url"], timeout=30)
    assert r.status_code == 200, r.text
    return [
        {"channel_id": t["channel_id"], "text": t["text"], "sentences": t["sentences"]} for t in r.json()["transcripts"]
    ]


def node_pid(claimed_by: str | None) -> int:
    """The process that claimed a task: worker ids are ``host:pid:suffix``, leases ``worker_id/token``."""
    assert claimed_by is not None
    return int(claimed_by.split("/")[0].split(":")[1])
