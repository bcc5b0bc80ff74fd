"""The whole scale-out on loopback: two API nodes (`openasr serve` processes) sharing a real PostgreSQL, a
real S3 server (moto's) and a real two-node Ray cluster whose engine actors recognise every chunk.

One test drives it as a deployment is used and broken: tasks submitted round-robin to both nodes, a
local file uploaded through the dashscope SDK's upload flow on node A and recognised via node B, then,
while a long task is half done, SIGKILL to the API node running it and to one engine actor's process.
Every task must end SUCCEEDED with the transcript a single node (no database server, no bucket, no Ray)
gives for the same file, the interrupted one taken over exactly once, none run twice, and uploads, task
audio and results must live in the bucket, not on the nodes' disks.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dashscope
import pytest
import requests
from cluster_nodes import TERMINAL, ApiNode, ClusterEnv, node_pid, result_transcripts
from dashscope.audio.qwen_asr import QwenTranscription
from dashscope.utils.oss_utils import OssUtils

from audio_files import load_clip, room_tone, write_audio, write_long_flac
from live_server import KEY as SINGLE_KEY
from live_server import cache_dir, live_server, server_settings, shared_engines
from openasr.jobs.records import TaskStatus
from openasr.jobs.store import TaskStore
from postgres import PostgresCluster
from ray_cluster import local_ray_cluster
from s3_server import ACCESS_KEY, REGION, SECRET_KEY, object_keys, s3_client
from speech_clips import clip

pytestmark = pytest.mark.extras
ray = pytest.importorskip("ray", reason="needs openasr[cluster] (Ray)")
pytest.importorskip("boto3")

KEY = "sk-scale-out"
NAMESPACE = "openasr-scale-out"
BUCKET = "openasr-scale-out"
SHORT = ["0880", "cards_002", "0930", "cards_005"]


@pytest.fixture(scope="module")
def audio(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Short clips, and a recording of the English clips long enough (≈ 75 s, several chunks) to kill
    its node between two checkpoints."""
    root = tmp_path_factory.mktemp("scale-out-audio")
    for name in SHORT:
        write_audio(root / f"{name}.flac", load_clip(clip(name).path), "flac")
    pieces = []
    for i, name in enumerate(("two_cities", "0870", "beckett", "0920")):
        pieces += [room_tone(1.5, seed=i), load_clip(clip(name).path)]
    write_long_flac(root / "long.flac", pieces)
    return root


@pytest.fixture(scope="module")
def single_node(audio: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The single-node default (SQLite, a data directory, engines in process): the reference."""
    settings = server_settings(tmp_path_factory.mktemp("single"), file_roots=(audio,))
    with live_server(settings, engines=shared_engines(cache_dir())) as url:
        yield url


@pytest.fixture(scope="module")
def nodes(
    postgres_cluster: PostgresCluster, s3_endpoint: str, audio: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ApiNode, ApiNode, ClusterEnv]]:
    root = tmp_path_factory.mktemp("scale-out")
    s3_client(s3_endpoint).create_bucket(Bucket=BUCKET)
    with local_ray_cluster(cpus_per_node=1, nodes=2) as ray_address:
        env = ClusterEnv(
            database_url=postgres_cluster.new_database(),
            data_dir=root / "node-data",  # the nodes' own scratch; every blob goes to the bucket
            file_root=audio,
            api_keys=(KEY,),
            rate_limit=0,
            extra={
                "OPENASR_STORAGE_URL": f"s3://{BUCKET}/openasr",
                "AWS_ENDPOINT_URL": s3_endpoint,
                "AWS_ACCESS_KEY_ID": ACCESS_KEY,
                "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
                "AWS_DEFAULT_REGION": REGION,
                "OPENASR_RAY_ADDRESS": ray_address,
                "OPENASR_RAY_NAMESPACE": NAMESPACE,
                "OPENASR_RAY_ACTORS": "2",
                "OPENASR_RAY_ACTOR_CPUS": "1",
                "RAY_AUTH_MODE": "disabled",
            },
        )
        env.upgrade_database()
        a, b = ApiNode("node-a", env, root / "node-a.log"), ApiNode("node-b", env, root / "node-b.log")
        try:
            a.launch()
            a.wait_ready()  # the first node places the actors; the second attaches to them
            b.launch()
            b.wait_ready()
            yield a, b, env
        finally:
            for node in (a, b):
                node.terminate()
            for node in (a, b):
                node.stop()


def _reference(base: str, path: Path) -> list[dict[str, Any]]:
    headers = {"Authorization": f"Bearer {SINGLE_KEY}", "X-DashScope-Async": "enable"}
    body = {"model": "qwen3-asr-flash-filetrans", "input": {"file_url": str(path)}}
    r = requests.post(f"{base}/api/v1/services/audio/asr/transcription", headers=headers, json=body, timeout=30)
    assert r.status_code == 200, r.text
    task_id = r.json()["output"]["task_id"]
    deadline = time.monotonic() + 300
    while True:
        out = requests.get(f"{base}/api/v1/tasks/{task_id}", headers=headers, timeout=30).json()["output"]
        if out["task_status"] in TERMINAL:
            return result_transcripts(out)
        assert time.monotonic() < deadline, out
        time.sleep(0.2)


def _actor_pid() -> int:
    return int(ray.get(ray.get_actor("openasr-engine-0", namespace=NAMESPACE).pid.remote()))


def test_tasks_survive_a_killed_api_node_and_a_killed_engine_actor_with_single_node_transcripts(
    nodes: tuple[ApiNode, ApiNode, ClusterEnv], single_node: str, audio: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b, env = nodes
    store = TaskStore(env.database_url)
    try:
        # A local file through the SDK's upload flow on A, recognised via B.
        dashwood = clip("0870")
        monkeypatch.setattr(dashscope, "base_http_api_url", f"{a.url}/api/v1")
        oss_url, _ = OssUtils.upload(model="qwen3-asr-flash-filetrans", file_path=str(dashwood.path), api_key=KEY)
        monkeypatch.setattr(dashscope, "base_http_api_url", f"{b.url}/api/v1")
        uploaded = QwenTranscription.async_call(
            model="qwen3-asr-flash-filetrans",
            file_url=oss_url,
            api_key=KEY,
            headers={"X-DashScope-OssResourceResolve": "enable"},
        )
        assert uploaded.status_code == 200, uploaded
        upload_task = uploaded.output.task_id

        # Two long twins, one per node, and short tasks round-robin.
        long_file = audio / "long.flac"
        twins = [a.submit(KEY, str(long_file)), b.submit(KEY, str(long_file))]
        shorts = {(a, b)[i % 2].submit(KEY, str(audio / f"{n}.flac")): n for i, n in enumerate(SHORT * 2)}

        deadline = time.monotonic() + 300
        while True:  # a twin with a checkpoint and more to do: its node and an actor are killed now
            running = [
                r
                for r in (store.get(t) for t in twins)
                if r is not None and r.status is TaskStatus.RUNNING and r.total_s and 0 < r.done_s < r.total_s
            ]
            if running and store.load_checkpoints(running[0].task_id):
                break
            assert time.monotonic() < deadline, f"no twin got half way\n{a.log_tail()}\n{b.log_tail()}"
            time.sleep(0.05)
        orphan = running[0]
        victim, survivor = (a, b) if node_pid(orphan.claimed_by) == a.pid else (b, a)
        actor_pid = _actor_pid()
        victim.kill9()
        os.kill(actor_pid, signal.SIGKILL)

        every = [*twins, *shorts, upload_task]
        deadline = time.monotonic() + 420
        while not all((r := store.get(t)) is not None and r.finished for t in every):
            assert time.monotonic() < deadline, f"tasks unfinished\n{survivor.log_tail()}"
            time.sleep(0.3)

        for task_id in every:
            record = store.get(task_id)
            assert record is not None and record.status is TaskStatus.SUCCEEDED, (record, survivor.log_tail())
            assert record.attempts == (2 if task_id == orphan.task_id else 1), record  # none run twice
        assert node_pid(store.get(orphan.task_id).claimed_by) == survivor.pid  # type: ignore[union-attr]
        assert _actor_pid() != actor_pid  # Ray restarted the killed actor

        # The survivor answers for every task, with the single node's transcripts.
        long_reference = _reference(single_node, long_file)
        for twin in twins:
            assert result_transcripts(survivor.fetch(KEY, twin)) == long_reference
        references = {n: _reference(single_node, audio / f"{n}.flac") for n in SHORT}
        for task_id, name in shorts.items():
            assert result_transcripts(survivor.fetch(KEY, task_id)) == references[name], name
        text = result_transcripts(survivor.fetch(KEY, upload_task))[0]["text"]
        assert "dashwood" in text.lower(), text

        # Blobs live in the bucket: the upload, every result; task audio is dropped once tasks end.
        keys = object_keys(env.extra["AWS_ENDPOINT_URL"], BUCKET)
        assert any(k.startswith("openasr/uploads/") for k in keys), keys
        assert {k for k in keys if k.startswith("openasr/results/")} >= {f"openasr/results/{t}.json" for t in every}
        assert not [k for k in keys if k.startswith("openasr/work/")], keys
        r = requests.get(f"{survivor.url}/ready", timeout=30)
        assert r.status_code == 200, r.text
    finally:
        store.close()
