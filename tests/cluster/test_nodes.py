"""Two API nodes (`openasr serve` processes) on one real PostgreSQL and one shared data directory, on
loopback: tasks spread over both run exactly once with a single node's transcripts, a node killed with
SIGKILL mid-task loses nothing (the other resumes its task from the checkpoints once its lease goes
stale), an upload accepted by one node is recognised through the other, and a key's rate limit holds
across both nodes as one.

Each node runs one task worker on one engine worker of one CPU thread, with short clips from tests/data,
so the module costs about 1.5 minutes of CPU (user + system, nodes included; measured on a 2-core machine).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import dashscope
import numpy as np
import pytest
import requests
from asr_metrics import score
from cluster_nodes import SUBMIT, TERMINAL, ApiNode, ClusterEnv, node_pid, result_transcripts
from dashscope.audio.qwen_asr import QwenTranscription
from dashscope.utils.oss_utils import OssUtils

from audio_files import SAMPLE_RATE_HZ, load_clip, write_audio
from openasr.core.keys import key_id
from openasr.jobs.records import TaskRecord, TaskStatus
from openasr.jobs.store import TaskStore
from openasr.jobs.usage import UsageTotal
from postgres import PostgresCluster
from speech_clips import clip

KEY_TASKS = "sk-cluster-tasks"
KEY_KILL = "sk-cluster-kill"
KEY_UPLOAD = "sk-cluster-upload"
KEY_RATE = "sk-cluster-rate"
KEY_SPARE = "sk-cluster-spare"
RATE_LIMIT = 40
"""Per key per minute, on every node: above the 36 submissions of the busiest test's key."""

SHORT = ["0880", "0930", "cards_002", "cards_005", "0890", "cards_003"]
"""Six clips of 1.5–5.3 s: thirty tasks are these five times over."""


class Cluster:
    def __init__(self, env: ClusterEnv, root: Path) -> None:
        self.env = env
        self.a = ApiNode("node-a", env, root / "node-a.log")
        self.b = ApiNode("node-b", env, root / "node-b.log")
        self.store = TaskStore(env.database_url)

    def both_up(self) -> tuple[ApiNode, ApiNode]:
        for node in (self.a, self.b):
            if not node.alive:
                node.launch()
        for node in (self.a, self.b):
            node.wait_ready()
        return self.a, self.b

    def record(self, task_id: str) -> TaskRecord:
        record = self.store.get(task_id)
        assert record is not None
        return record

    def wait_finished(self, task_ids: list[str], timeout_s: float = 240.0) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            records = [self.record(t) for t in task_ids]
            if all(r.finished for r in records):
                return
            stuck = [(r.task_id, r.status.value, r.claimed_by) for r in records if not r.finished]
            assert time.monotonic() < deadline, f"not finished after {timeout_s} s: {stuck}\n{self.logs()}"
            time.sleep(0.2)

    def usage_rows(self, key: str) -> UsageTotal:
        totals = self.store.usage_totals("2000-01-01", "2100-01-01", api_key_id=key_id(key))
        assert len(totals) == 1, totals
        return totals[0]

    def logs(self) -> str:
        return "\n".join(f"--- {n.name}\n{n.log_tail()}" for n in (self.a, self.b))


@pytest.fixture(scope="module")
def cluster(postgres_cluster: PostgresCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("cluster")
    (root / "audio").mkdir()
    env = ClusterEnv(
        database_url=postgres_cluster.new_database(),
        data_dir=root / "shared-data",
        file_root=root / "audio",
        api_keys=(KEY_TASKS, KEY_KILL, KEY_UPLOAD, KEY_RATE, KEY_SPARE),
        rate_limit=RATE_LIMIT,
    )
    env.upgrade_database()
    cluster = Cluster(env, root)
    try:
        yield cluster
    finally:
        for node in (cluster.a, cluster.b):
            node.terminate()
        for node in (cluster.a, cluster.b):
            node.stop()
        cluster.store.close()


def _short_file(root: Path, name: str) -> str:
    path = root / f"{name}.flac"
    if not path.exists():
        write_audio(path, load_clip(clip(name).path), "flac")
    return str(path)


def test_thirty_tasks_round_robin_run_once_each_as_on_one_node(cluster: Cluster) -> None:
    files = [_short_file(cluster.env.file_root, name) for name in SHORT]

    # The reference: node A alone, one task per clip.
    node_a = cluster.a
    if not node_a.alive:
        assert not cluster.b.alive, "the reference needs node A on its own"
        node_a.launch()
        node_a.wait_ready()
    references = {f: node_a.submit(KEY_TASKS, f) for f in files}
    cluster.wait_finished(list(references.values()))
    single = {f: result_transcripts(node_a.fetch(KEY_TASKS, t)) for f, t in references.items()}

    a, b = cluster.both_up()
    submitted = [((a, b)[i % 2].submit(KEY_TASKS, files[i % len(files)]), files[i % len(files)]) for i in range(30)]
    cluster.wait_finished([t for t, _ in submitted])

    runners = set()
    for i, (task_id, file) in enumerate(submitted):
        record = cluster.record(task_id)
        assert record.status is TaskStatus.SUCCEEDED, (record.code, record.message, cluster.logs())
        assert record.attempts == 1, record  # claimed once: never taken over, never run twice
        runners.add(node_pid(record.claimed_by))
        other = (b, a)[i % 2]  # the node it was not submitted to answers for it
        assert result_transcripts(other.fetch(KEY_TASKS, task_id)) == single[file], file
    assert runners == {a.pid, b.pid}  # both nodes took tasks from the shared queue
    for node in (a, b):  # one usage row per task, none billed twice, and every node sees them all
        r = requests.get(f"{node.url}/api/v1/usage", headers={"Authorization": f"Bearer {KEY_TASKS}"}, timeout=30)
        assert r.status_code == 200 and r.json()["total"]["requests"] == 36, r.text


def test_an_upload_to_node_a_is_recognised_through_node_b(cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = cluster.both_up()
    dashwood = clip("0870")
    monkeypatch.setattr(dashscope, "base_http_api_url", f"{a.url}/api/v1")
    url, _ = OssUtils.upload(model="qwen3-asr-flash-filetrans", file_path=str(dashwood.path), api_key=KEY_UPLOAD)
    assert url.startswith("oss://")

    monkeypatch.setattr(dashscope, "base_http_api_url", f"{b.url}/api/v1")
    done = QwenTranscription.call(
        model="qwen3-asr-flash-filetrans",
        file_url=url,
        api_key=KEY_UPLOAD,
        headers={"X-DashScope-OssResourceResolve": "enable"},
    )
    assert done.status_code == 200 and done.output.task_status == "SUCCEEDED", (dict(done.output), cluster.logs())
    text = requests.get(done.output.result["transcription_url"], timeout=30).json()["transcripts"][0]["text"]
    assert score(dashwood.reference, text, "en").rate <= 0.10, text


def test_a_keys_rate_limit_holds_across_both_nodes(cluster: Cluster) -> None:
    """Every invocation counts, whichever node takes it: the limit's worth of (malformed, so cheap)
    submissions alternating between the nodes exhausts the key on both."""
    a, b = cluster.both_up()
    for i in range(RATE_LIMIT):
        r = (a, b)[i % 2].post(SUBMIT, KEY_RATE, {"model": "qwen3-asr-flash-filetrans", "input": {}})
        assert r.status_code == 400, r.text  # admitted by the limiter, refused as malformed
    for node in (a, b):
        r = node.post(SUBMIT, KEY_RATE, {"model": "qwen3-asr-flash-filetrans", "input": {}})
        assert r.status_code == 429 and r.json()["code"] == "Throttling.RateQuota", r.text
        assert 1 <= int(r.headers["Retry-After"]) <= 60
    spare = b.post(SUBMIT, KEY_SPARE, {"model": "qwen3-asr-flash-filetrans", "input": {}})
    assert spare.status_code == 400, spare.text  # another key is not limited


def _long_file(root: Path) -> str:
    """≈75 s of speech in four chunks or so: long enough to kill its node between two checkpoints."""
    parts = []
    for name in ("two_cities", "0870", "beckett", "0920"):
        parts += [load_clip(clip(name).path), np.zeros(2 * SAMPLE_RATE_HZ, dtype=np.float32)]
    path = root / "long.flac"
    write_audio(path, np.concatenate(parts), "flac")
    return str(path)


def test_killing_a_node_mid_task_the_other_resumes_it_from_its_checkpoints(cluster: Cluster) -> None:
    a, b = cluster.both_up()
    long_file = _long_file(cluster.env.file_root)
    twins = [a.submit(KEY_KILL, long_file), b.submit(KEY_KILL, long_file)]
    shorts = [(a, b)[i % 2].submit(KEY_KILL, _short_file(cluster.env.file_root, n)) for i, n in enumerate(SHORT[:4])]

    deadline = time.monotonic() + 240
    while True:  # the first twin to have a checkpoint and more to do: its node is the victim
        running = [
            r
            for r in map(cluster.record, twins)
            if r.status is TaskStatus.RUNNING and r.done_s > 0 and r.total_s and r.done_s < r.total_s
        ]
        if running and cluster.store.load_checkpoints(running[0].task_id):
            break
        assert not any(cluster.record(t).finished for t in twins), "a twin ended before the kill"
        assert time.monotonic() < deadline, cluster.logs()
        time.sleep(0.05)
    orphan = running[0]
    victim, survivor = (a, b) if node_pid(orphan.claimed_by) == a.pid else (b, a)
    victim.kill9()
    kept = len(cluster.store.load_checkpoints(orphan.task_id))
    progress_at_kill = survivor.fetch(KEY_KILL, orphan.task_id)["progress"]

    seen = []  # the orphan's progress as the survivor reports it: never below the kill point
    deadline = time.monotonic() + 240
    while (out := survivor.fetch(KEY_KILL, orphan.task_id))["task_status"] not in TERMINAL:
        seen.append(out["progress"])
        assert time.monotonic() < deadline, cluster.logs()
        time.sleep(0.2)
    cluster.wait_finished(twins + shorts)

    assert kept >= 1 and min(seen, default=1.0) >= progress_at_kill, (kept, progress_at_kill, seen)
    resumed = cluster.record(orphan.task_id)
    assert resumed.status is TaskStatus.SUCCEEDED, (resumed.code, resumed.message, cluster.logs())
    assert resumed.attempts == 2 and node_pid(resumed.claimed_by) == survivor.pid  # taken over once
    for task_id in [t for t in twins + shorts if t != orphan.task_id]:
        record = cluster.record(task_id)
        assert record.status is TaskStatus.SUCCEEDED and record.attempts == 1, record
    # The interrupted twin ends with exactly the transcript of the one that ran through.
    first, second = (result_transcripts(survivor.fetch(KEY_KILL, t)) for t in twins)
    assert first == second
    assert cluster.usage_rows(KEY_KILL).requests == len(twins + shorts)  # each billed once
