"""Helpers of the job integration tests (imported by conftest.py and the tests): the job environment in
tmp_path (SQLite store, result store, worker config), WAV building from the real clips in tests/data,
transcript normalising, and a local HTTP server for URL sources."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import av
import numpy as np

from openasr.audio.decode import decode_audio
from openasr.core.options import TranscribeOptions
from openasr.jobs.records import TaskRecord
from openasr.jobs.results import ResultStore
from openasr.jobs.store import TaskStore
from openasr.jobs.worker import TaskWorker, WorkerConfig
from openasr.runtime.engine_pool import EnginePool
from openasr.settings import Settings

DATA = Path(__file__).resolve().parents[2] / "data"
MANIFEST = {c["file"]: c for c in json.loads((DATA / "manifest.json").read_text())["clips"]}
MODEL = "whisper-base"


def reference(name: str) -> str:
    return str(MANIFEST[name]["reference"])


def normalise(text: str) -> str:
    """Lower case, punctuation and hyphens to spaces, single spaces: for comparing transcripts."""
    return " ".join(re.sub(r"[^\w']+", " ", text.lower()).split())


def write_wav(path: Path, channels: list[np.ndarray], rate_hz: int = 16_000) -> Path:
    """Write float32 channels (padded with silence to the longest) as 16-bit PCM WAV with PyAV."""
    length = max(len(c) for c in channels)
    planes = np.stack([np.pad(c, (0, length - len(c))) for c in channels])
    pcm = (np.clip(planes, -1.0, 1.0) * 32767).astype("<i2")
    layout = "mono" if len(channels) == 1 else "stereo"
    interleaved = np.ascontiguousarray(pcm.T).reshape(1, -1)
    with av.open(str(path), "w", format="wav") as out:
        stream = out.add_stream("pcm_s16le", rate=rate_hz, layout=layout)
        frame = av.AudioFrame.from_ndarray(interleaved, format="s16", layout=layout)
        frame.sample_rate = rate_hz
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def clip(name: str) -> np.ndarray:
    return decode_audio(DATA / name)


@dataclass
class JobEnv:
    root: Path
    store: TaskStore
    results: ResultStore
    config: WorkerConfig
    engines: EnginePool

    def submit(self, file_url: str, **options: object) -> str:
        """Queue a task as E4 would (channel 0 unless `channels` says otherwise)."""
        record = self.store.create(
            file_url=file_url,
            model_name="qwen3-asr-flash-filetrans",
            options=TranscribeOptions(**{"model": MODEL, "channels": (0,), **options}),  # type: ignore[arg-type]
            api_key_id="test",
        )
        return record.task_id

    def worker(self, **kw: object) -> TaskWorker:
        return TaskWorker(self.store, self.results, self.engines, self.config, **kw)  # type: ignore[arg-type]

    def run_one(self) -> TaskRecord:
        record = self.worker().run_once()
        assert record is not None, "nothing was pending"
        return record


def kill_worker_after_checkpoints(env: JobEnv, task_id: str, extra_env: dict[str, str] | None = None) -> None:
    """Run `python -m openasr.cli.worker` (with `extra_env`, e.g. a side model) until the task has three
    checkpoints, then SIGKILL it: the crash a resumed task must survive."""
    settings = Settings()
    command = [sys.executable, "-m", "openasr.cli.worker", "--data-dir", str(env.config.data_dir)]
    command += ["--file-root", str(env.root), "--cache-dir", str(settings.cache_dir)]
    command += ["--cpu-threads", str(settings.cpu_threads), "--heartbeat-s", "1"]
    log_path = env.root / "worker.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(extra_env or {})}
        )
    try:
        deadline = time.monotonic() + 300
        while len(env.store.load_checkpoints(task_id)) < 3:
            assert process.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, "the worker process never checkpointed"
            time.sleep(0.05)
        os.kill(process.pid, signal.SIGKILL)
        assert process.wait(timeout=30) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FileServer

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        path = self.path.partition("?")[0]
        self.server.hits.append(path)
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            if path == "/forbidden.wav":
                self._send(403, b"forbidden")
            elif path in self.server.extra:
                self._send(200, self.server.extra[path].read_bytes(), "audio/wav")
            elif path.startswith("/files/") and (DATA / path[7:]).is_file() and ".." not in path:
                self._send(200, (DATA / path[7:]).read_bytes(), "audio/wav")
            elif path == "/garbage.wav":
                self._send(200, b"this is not audio at all\n" * 400, "audio/wav")
            else:
                self._send(404, b"not found")

    def _send(self, status: int, body: bytes, content_type: str = "text/plain") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class FileServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.hits: list[str] = []
        self.extra: dict[str, Path] = {}
        """More files to serve: URL path -> file."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"
