"""The OpenAI Node SDK streams a transcription from a real server (where Node and its `npm ci` are present).

CI installs the pinned SDK with `npm ci` in tests/contract/node when `node` exists (.ci/run); elsewhere
this test is skipped, and says why.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from live_server import KEY, live_server, server_settings

NODE_DIR = Path(__file__).resolve().parent / "node"
TWO_CITIES = Path(__file__).resolve().parents[1] / "data" / "en" / "two_cities.flac"

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None or not (NODE_DIR / "node_modules" / "openai").is_dir(),
    reason="needs node and `npm ci` in tests/contract/node",
)


def words(text: str) -> str:
    return " ".join("".join(ch for ch in text.lower() if ch.isalnum() or ch.isspace()).split())


def test_node_sdk_streams_transcript_events(tmp_path: Path) -> None:
    with live_server(server_settings(tmp_path)) as base:
        run = subprocess.run(
            ["node", "transcribe.mjs", f"{base}/v1", KEY, str(TWO_CITIES), "whisper-1"],
            cwd=NODE_DIR,
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert run.returncode == 0, run.stderr
    events = [json.loads(line) for line in run.stdout.splitlines()]
    deltas = [e["delta"] for e in events if e["type"] == "transcript.text.delta"]
    assert len(deltas) >= 2 and events[-1]["type"] == "transcript.text.done"
    assert "".join(deltas) == events[-1]["text"]
    assert "best of times" in words(events[-1]["text"])
    assert events[-1]["usage"]["output_tokens"] > 20
