"""The engine pool on a real two-node Ray cluster (`OPENASR_RAY_ADDRESS`), against the single-node server.

One cluster for the module (tests/ray_cluster.py: a head and a joined node, one CPU each, on 127.0.0.1),
two engine actors of one CPU thread on it, and a real server whose `EnginePool` places the engines there;
beside it the single-node server of every other test (engines in this process). Both recognise the same
real speech: a sync request, and a task on a recording long enough for several chunks in flight, which
must spread over both actors; then the same task while one actor's process is killed with SIGKILL,
which Ray restarts and whose chunks go to the other. Every transcript must equal the single-node one.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from audio_files import load_clip, room_tone, write_long_flac
from live_server import KEY, cache_dir, live_server, server_settings, shared_engines
from openasr.runtime.engine_pool import EnginePool
from ray_cluster import local_ray_cluster
from speech_clips import clip, load_clips

pytestmark = pytest.mark.extras
ray = pytest.importorskip("ray", reason="needs openasr[cluster] (Ray)")

NAMESPACE = "openasr-test"
MODEL = "whisper-base"
AUTH = {"Authorization": f"Bearer {KEY}"}
SUBMIT = "/api/v1/services/audio/asr/transcription"
TASK_MODEL = "qwen3-asr-flash-filetrans"


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    with local_ray_cluster(cpus_per_node=1, nodes=2) as address:
        yield address


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The audio both servers read: a short clip and a 3.5-minute recording of the English clips."""
    root = tmp_path_factory.mktemp("audio")
    (root / "beckett.wav").write_bytes(clip("beckett").path.read_bytes())
    pieces = []
    for round_ in range(2):
        for i, c in enumerate(load_clips("en")):
            pieces += [room_tone(1.0, seed=round_ * 100 + i), load_clip(c.path)]
    write_long_flac(root / "long.flac", pieces)
    return root


@pytest.fixture(scope="module")
def pooled(cluster: str, files: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server with `ray_address` set: two actors of one engine worker on one CPU thread."""
    settings = server_settings(
        tmp_path_factory.mktemp("pooled"),
        file_roots=(files,),
        ray_address=cluster,
        ray_namespace=NAMESPACE,
        ray_actors=2,
        ray_actor_cpus=1,
        engine_workers=1,
    )
    engines = EnginePool(settings.cache_dir, settings.engine_config())
    try:
        with live_server(settings, engines=engines) as url:
            yield url
    finally:
        engines.close()


@pytest.fixture(scope="module")
def single(files: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The single-node default: engines in this process."""
    settings = server_settings(tmp_path_factory.mktemp("single"), file_roots=(files,))
    with live_server(settings, engines=shared_engines(cache_dir())) as url:
        yield url


def actor(index: int) -> Any:
    return ray.get_actor(f"openasr-engine-{index}", namespace=NAMESPACE)


def chunks_done() -> list[int]:
    """Chunks each actor has recognised since it (re)started."""
    return [ray.get(actor(i).stats.remote())[MODEL].chunks for i in range(2)]


def transcribe(base: str, path: Path) -> str:
    with path.open("rb") as f:
        r = requests.post(
            f"{base}/v1/audio/transcriptions", headers=AUTH, files={"file": f}, data={"model": "whisper-1"}, timeout=120
        )
    assert r.status_code == 200, r.text
    return str(r.json()["text"])


def submit(base: str, path: Path) -> str:
    r = requests.post(
        f"{base}{SUBMIT}",
        headers={**AUTH, "X-DashScope-Async": "enable"},
        json={"model": TASK_MODEL, "input": {"file_url": str(path)}},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    return str(r.json()["output"]["task_id"])


def fetch(base: str, task_id: str) -> dict[str, Any]:
    r = requests.get(f"{base}/api/v1/tasks/{task_id}", headers=AUTH, timeout=30)
    assert r.status_code == 200, r.text
    return dict(r.json()["output"])


def wait(base: str, task_id: str, timeout_s: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while (output := fetch(base, task_id))["task_status"] in ("PENDING", "RUNNING"):
        assert time.monotonic() < deadline, output
        time.sleep(0.2)
    return output


def transcripts(output: dict[str, Any]) -> list[dict[str, Any]]:
    assert output["task_status"] == "SUCCEEDED", output
    result = requests.get(output["result"]["transcription_url"], timeout=30).json()
    return [{"text": t["text"], "sentences": t["sentences"]} for t in result["transcripts"]]


@pytest.fixture(scope="module")
def single_long(single: str, files: Path) -> list[dict[str, Any]]:
    return transcripts(wait(single, submit(single, files / "long.flac")))


def test_sync_request_through_the_pool_is_the_single_node_transcript(pooled: str, single: str, files: Path) -> None:
    text = transcribe(pooled, files / "beckett.wav")
    assert "fail better" in text.lower()
    assert text == transcribe(single, files / "beckett.wav")


def test_ready_and_metrics_read_the_actors(pooled: str, files: Path) -> None:
    transcribe(pooled, files / "beckett.wav")
    assert requests.get(f"{pooled}/ready", timeout=30).status_code == 200
    metrics = requests.get(f"{pooled}/metrics", timeout=30).text
    chunks = {
        s.labels["model"]: s.value
        for family in text_string_to_metric_families(metrics)
        for s in family.samples
        if s.name == "openasr_engine_batch_size_chunks_count"
    }
    assert chunks[MODEL] >= 1  # batches recognised on the actors, summed here


def test_a_long_task_fans_out_over_both_actors(pooled: str, files: Path, single_long: list[dict[str, Any]]) -> None:
    before = chunks_done()
    output = wait(pooled, submit(pooled, files / "long.flac"))
    after = chunks_done()
    assert all(a > b for a, b in zip(after, before, strict=True)), (before, after)
    assert transcripts(output) == single_long


def test_a_killed_actor_s_chunks_are_recognised_again_elsewhere(
    pooled: str, files: Path, single_long: list[dict[str, Any]], caplog: pytest.LogCaptureFixture
) -> None:
    victim = ray.get(actor(0).pid.remote())
    task_id = submit(pooled, files / "long.flac")
    while (output := fetch(pooled, task_id))["task_status"] == "PENDING" or output["progress"] == 0:
        assert output["task_status"] in ("PENDING", "RUNNING"), output
        time.sleep(0.05)
    assert output["progress"] < 0.5, output  # both actors still hold chunks of it
    os.kill(victim, signal.SIGKILL)
    assert fetch(pooled, task_id)["task_status"] == "RUNNING"  # killed mid-task
    assert transcripts(wait(pooled, task_id)) == single_long
    assert any("lost a chunk" in r.getMessage() for r in caplog.records)  # chunks in flight were resent
    assert ray.get(actor(0).pid.remote()) != victim  # Ray restarted it
