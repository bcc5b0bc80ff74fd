"""The OpenAI Node SDK's realtime client (`OpenAIRealtimeWS`) transcribes through a real server.

That client only speaks wss://, so this server serves TLS on loopback with a throwaway self-signed
certificate the script trusts as its CA. Skipped where Node, `npm ci` in tests/contract/node (openai and
ws) or openssl are missing, and says why.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from asr_metrics import score

import openasr
from audio_files import load_clip, resample, to_int16
from live_server import KEY, live_server, server_settings
from openai_traces import TRANSCRIPTION, check_openai_order
from openasr.realtime.audio_in import FrameDecoder
from speech_clips import clip

NODE_DIR = Path(__file__).resolve().parent / "node"
CLIP = clip("0880")

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None
    or shutil.which("openssl") is None
    or not (NODE_DIR / "node_modules" / "openai").is_dir()
    or not (NODE_DIR / "node_modules" / "ws").is_dir(),
    reason="needs node, openssl and `npm ci` in tests/contract/node",
)


def self_signed(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def test_node_realtime_client_gets_the_offline_transcript(tmp_path: Path) -> None:
    samples = load_clip(CLIP.path)
    pcm24 = to_int16(resample(samples, 24000))
    (tmp_path / "clip.pcm").write_bytes(pcm24.tobytes())
    cert, key = self_signed(tmp_path)
    with live_server(server_settings(tmp_path / "data"), tls=(cert, key)) as base:
        run = subprocess.run(
            ["node", "realtime.mjs", f"{base}/v1", KEY, str(tmp_path / "clip.pcm"), str(cert)],
            cwd=NODE_DIR,
            capture_output=True,
            text=True,
            timeout=150,
        )
    assert run.returncode == 0, run.stderr
    events = [json.loads(line) for line in run.stdout.splitlines()]
    assert not [e for e in events if e["type"] in ("sdk.error", "error")], events
    check_openai_order(events, vad=False, beta=False)
    final = next(e for e in events if e["type"] == f"{TRANSCRIPTION}.completed")["transcript"]
    assert score(CLIP.reference, final, "en").rate <= 0.25, final
    received = FrameDecoder("pcm16", 24000).decode(base64.b64encode(pcm24.tobytes()).decode())  # what the server holds
    assert final == openasr.transcribe([received], language="en").channels[0].text
