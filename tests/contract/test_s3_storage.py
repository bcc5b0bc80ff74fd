"""Blobs in an S3-compatible store (``OPENASR_STORAGE_URL=s3://…``), against a real S3 server on loopback
(moto's): the DashScope SDK's upload flow and async tasks through live servers, result links of both
kinds, an upload accepted by one node and recognised by another, and task audio kept for a resuming node.
"""

from __future__ import annotations

import io
import re
import shutil
import time
from pathlib import Path
from typing import Any

import dashscope
import pytest
import requests
from dashscope.audio.qwen_asr import QwenTranscription
from dashscope.utils.oss_utils import OssUtils
from static_server import static_server

from live_server import KEY, live_server, server_settings
from openasr.audio.sources import SourcePolicy
from openasr.core.errors import SourceError
from openasr.jobs.results import ResultStore
from openasr.jobs.upload_policy import ACCESS_KEY_ID
from openasr.jobs.uploads import UploadStore
from openasr.jobs.work_files import WorkFiles
from openasr.storage import StorageConfig, open_store
from s3_server import bucket_env, object_keys

DATA = Path(__file__).resolve().parents[1] / "data"
BECKETT = DATA / "en" / "beckett.wav"
MODEL = "qwen3-asr-flash-filetrans"
RESOLVE = {"X-DashScope-OssResourceResolve": "enable"}
DIGEST = "[0-9a-f]{64}"


def words(text: str) -> str:
    return " ".join("".join(ch for ch in text.lower() if ch.isalnum() or ch.isspace()).split())


def transcribe(base: str, file_url: str) -> Any:
    """An async task through the SDK on the node at `base`, waited for; its result fetched by its link."""
    dashscope.base_http_api_url = f"{base}/api/v1"
    done = QwenTranscription.call(model=MODEL, file_url=file_url, headers=RESOLVE, api_key=KEY)
    assert done.status_code == 200 and done.output.task_status == "SUCCEEDED", dict(done.output)
    return done


def fetch_result(link: str) -> dict[str, Any]:
    r = requests.get(link, timeout=30)  # no API key: the link carries the authorisation
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result


def test_upload_flow_and_tasks_on_two_nodes_sharing_a_bucket(
    s3_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = bucket_env(monkeypatch, s3_endpoint)
    url = f"s3://{bucket}/openasr"
    node_a = server_settings(tmp_path / "a", storage_url=url, workers=1)
    node_b = server_settings(tmp_path / "b", storage_url=url, workers=1, storage_presigned_links=True)
    monkeypatch.setattr(dashscope, "api_key", KEY)
    with live_server(node_a) as a, live_server(node_b) as b:
        monkeypatch.setattr(dashscope, "base_http_api_url", f"{a}/api/v1")
        oss_url, _ = OssUtils.upload(model=MODEL, file_path=str(BECKETT))  # E2 + E3 on node A
        assert oss_url.startswith("oss://") and oss_url.endswith("/beckett.wav")

        on_a = transcribe(a, oss_url)
        link_a = on_a.output.result["transcription_url"]
        assert link_a.startswith(f"{a}/results/")  # openasr's own signed link, served from the bucket
        text_a = fetch_result(link_a)["transcripts"][0]["text"]
        assert "fail better" in words(text_a), text_a
        assert fetch_result(link_a.replace(a, b)) == fetch_result(link_a)  # any node serves it (one secret)

        on_b = transcribe(b, oss_url)  # node B reads node A's upload from the bucket
        link_b = on_b.output.result["transcription_url"]
        assert link_b.startswith(f"{s3_endpoint}/{bucket}/openasr/results/")  # presigned by setting
        assert fetch_result(link_b)["transcripts"][0]["text"] == text_a

    keys = object_keys(s3_endpoint, bucket)
    tasks = {on_a.output.task_id, on_b.output.task_id}
    assert sorted(k for k in keys if k.startswith("openasr/results/")) == sorted(
        f"openasr/results/{t}.json" for t in tasks
    )
    uploads = [k for k in keys if k.startswith("openasr/uploads/")]
    assert len(uploads) == 2 and all(re.fullmatch(f"openasr/uploads/{DIGEST}\\.(bin|json)", k) for k in uploads)
    assert [k for k in keys if k.startswith("openasr/work/")] == []  # task audio goes when the task ends
    assert "openasr/signing.key" in keys and len(keys) == 5  # the nodes' shared signing secret
    for node in ("a", "b"):  # nothing of it on the nodes' disks
        assert not (tmp_path / node / "uploads").exists() and not (tmp_path / node / "results").exists()


def test_policy_of_one_node_is_honoured_by_another_whose_upload_the_first_recognises(
    s3_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = bucket_env(monkeypatch, s3_endpoint)
    url = f"s3://{bucket}"
    monkeypatch.setattr(dashscope, "api_key", KEY)
    with (
        live_server(server_settings(tmp_path / "a", storage_url=url)) as a,
        live_server(server_settings(tmp_path / "b", storage_url=url)) as b,
    ):
        # Behind a load balancer: E2 answered by node A, the E3 form landing on node B, E1 on node A.
        r = requests.get(
            f"{a}/api/v1/uploads",
            params={"action": "getPolicy", "model": "qwen3-asr-flash"},
            headers={"Authorization": f"Bearer {KEY}"},
            timeout=10,
        )
        assert r.status_code == 200, r.text
        cert = dict(r.json()["data"], upload_host=f"{b}/api/v1/uploads/oss")
        oss_url, _ = OssUtils.upload(model="qwen3-asr-flash", file_path=str(BECKETT), upload_certificate=cert)
        monkeypatch.setattr(dashscope, "base_http_api_url", f"{a}/api/v1")
        rsp = dashscope.MultiModalConversation.call(
            model="qwen3-asr-flash", messages=[{"role": "user", "content": [{"audio": oss_url}]}], headers=RESOLVE
        )
    assert rsp.status_code == 200, (rsp.code, rsp.message)
    text = "".join(c.get("text", "") for c in rsp.output.choices[0].message.content)
    assert "fail better" in words(text), text
    assert list((tmp_path / "a" / "tmp").iterdir()) == []  # node A's download went after the request


def test_task_audio_is_fetched_once_and_found_by_a_resuming_node(
    s3_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = bucket_env(monkeypatch, s3_endpoint)
    work = open_store(StorageConfig(data_dir=tmp_path, url=f"s3://{bucket}/openasr")).child("work")
    served = tmp_path / "served"
    served.mkdir()
    shutil.copy(BECKETT, served / "talk.wav")
    policy = SourcePolicy(max_size_bytes=10 << 20, allow_private_urls=True)
    node_1, node_2 = WorkFiles(work, tmp_path / "scratch-1"), WorkFiles(work, tmp_path / "scratch-2")
    with static_server(served) as web:
        with node_1.audio("t1", f"{web}/talk.wav", policy, uploads=None, oss_resolve=False) as first:
            assert first.read_bytes() == BECKETT.read_bytes()
        assert object_keys(s3_endpoint, bucket) == ["openasr/work/t1/source.wav"]
        (served / "talk.wav").unlink()  # a second download would now fail
        with pytest.raises(SourceError), node_2.audio("t2", f"{web}/talk.wav", policy, uploads=None, oss_resolve=False):
            pass
        with node_2.audio("t1", f"{web}/talk.wav", policy, uploads=None, oss_resolve=False) as resumed:
            assert resumed.suffix == ".wav" and resumed.read_bytes() == BECKETT.read_bytes()
    assert list((tmp_path / "scratch-2").iterdir()) == []  # the local copy was temporary
    node_2.drop("t1")
    assert object_keys(s3_endpoint, bucket) == []


def test_expiry_purges_uploads_and_results_in_the_bucket(
    s3_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = bucket_env(monkeypatch, s3_endpoint)
    blobs = open_store(StorageConfig(data_dir=tmp_path, url=f"s3://{bucket}/openasr"))
    secret = b"s" * 32
    uploads = UploadStore(blobs.child("uploads"), secret, retention_s=3600)
    results = ResultStore(blobs.child("results"), secret)
    now = time.time()
    policy = uploads.issue_policy(KEY, MODEL, now=now)
    form = {"key": f"{policy.upload_dir}/a.wav", "policy": policy.policy, "Signature": policy.signature}
    uploads.accept({**form, "OSSAccessKeyId": ACCESS_KEY_ID}, "a.wav", io.BytesIO(BECKETT.read_bytes()), now=now)
    results.write("task-1", {"transcripts": []})
    assert len(object_keys(s3_endpoint, bucket)) == 3

    assert uploads.purge(now=now + 3599) == 0 and results.purge(now - 60) == 0  # both still in retention
    assert len(object_keys(s3_endpoint, bucket)) == 3
    assert uploads.purge(now=now + 3600) == 1
    assert results.purge(now + 60) == 1
    assert object_keys(s3_endpoint, bucket) == []
