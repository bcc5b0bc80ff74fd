"""`openasr task …` as a user runs it: a subprocess talking to a real server over HTTP."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from live_server import KEY, live_server, server_settings

DATA = Path(__file__).resolve().parents[1] / "data"
BECKETT = DATA / "en" / "beckett.wav"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with live_server(server_settings(tmp_path_factory.mktemp("cli"), workers=1)) as url:
        yield url


def task(server: str, *args: str, key: str = KEY) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "openasr.cli.main", "task", *args, "--server", server, "--api-key", key]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)


def words(text: str) -> str:
    return " ".join("".join(ch for ch in text.lower() if ch.isalnum() or ch.isspace()).split())


def test_submit_local_file_wait_and_render(server: str) -> None:
    submitted = task(server, "submit", str(BECKETT), "--words")
    assert submitted.returncode == 0, submitted.stderr
    task_id = submitted.stdout.strip()
    waited = task(server, "wait", task_id, "--timeout", "240")
    assert waited.returncode == 0, waited.stderr
    final = json.loads(waited.stdout)
    assert final["task_status"] == "SUCCEEDED" and final["progress"] == 1.0 and final["usage"]["seconds"] == 10
    result = json.loads(task(server, "result", task_id).stdout)
    sentences = result["transcripts"][0]["sentences"]
    expected = "ever tried ever failed no matter try again fail again fail better"
    assert words(result["transcripts"][0]["text"]) == expected
    assert all("words" in s for s in sentences)
    srt = task(server, "result", task_id, "--format", "srt").stdout
    assert srt.startswith("1\n00:00:0") and srt.count(" --> ") == len(sentences)
    vtt = task(server, "result", task_id, "-f", "vtt").stdout
    cue_text = [line for line in vtt.splitlines()[1:] if line and " --> " not in line]
    assert vtt.startswith("WEBVTT") and words(" ".join(cue_text)) == expected
    assert words(task(server, "result", task_id, "-f", "text").stdout) == words(result["transcripts"][0]["text"])
    status = json.loads(task(server, "status", task_id).stdout)
    assert status["task_id"] == task_id and status["result"]["transcription_url"].startswith(server)


def test_errors_are_one_line_and_exit_1(server: str, tmp_path: Path) -> None:
    missing = task(server, "submit", str(tmp_path / "nope.wav"))
    assert missing.returncode == 1 and missing.stderr.startswith("error: FILE_404_NOT_FOUND")
    assert "Traceback" not in missing.stderr
    unknown = task(server, "status", "00000000-0000-0000-0000-000000000000")
    assert json.loads(unknown.stdout)["task_status"] == "UNKNOWN"
    not_done = task(server, "result", "00000000-0000-0000-0000-000000000000")
    assert not_done.returncode == 1 and "UNKNOWN" in not_done.stderr
    unreachable = task("http://127.0.0.1:9", "status", "x")
    assert unreachable.returncode == 1 and "CONNECTION_FAILED" in unreachable.stderr


def test_failed_task_exits_1(server: str, tmp_path: Path) -> None:
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"not audio at all" * 100)
    task_id = task(server, "submit", str(junk)).stdout.strip()
    waited = task(server, "wait", task_id, "--timeout", "120")
    assert waited.returncode == 1
    assert json.loads(waited.stdout)["code"] == "DECODE_ERROR"
