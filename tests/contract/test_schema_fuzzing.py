"""Schemathesis over the server's own /openapi.json, every phase, bounded: no input gets a 5xx, and every
answer matches the schema documented for its status (the 200 models and error envelopes are exact)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from live_server import KEY, live_server, server_settings

MAX_EXAMPLES = 30
"""Per operation and phase; about 4,000 requests in all, under a minute on two cores."""


def schemathesis_cli() -> str:
    beside = Path(sys.executable).with_name("st")  # the venv's own entry point, even if not on PATH
    return str(beside) if beside.exists() else shutil.which("st") or "st"


def test_no_generated_request_gets_a_server_error(tmp_path: Path) -> None:
    with live_server(server_settings(tmp_path / "data")) as base:
        run = subprocess.run(
            [
                schemathesis_cli(),
                "run",
                f"{base}/openapi.json",
                "--header",
                f"Authorization: Bearer {KEY}",
                "--checks",
                "not_a_server_error,response_schema_conformance",
                "--phases",
                "examples,coverage,fuzzing,stateful",
                "--max-examples",
                str(MAX_EXAMPLES),
                "--generation-deterministic",
                "--request-timeout",
                "60",
                "--no-color",
            ],
            capture_output=True,
            text=True,
            timeout=600,
            cwd=tmp_path,
        )
    summary = run.stdout[-4000:]
    assert run.returncode == 0, summary + run.stderr[-2000:]
    cases = re.search(r"(\d+) generated, (\d+) passed", summary)
    assert cases is not None and int(cases.group(1)) > 500 and cases.group(1) == cases.group(2), summary
