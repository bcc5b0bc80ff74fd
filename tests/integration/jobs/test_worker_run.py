"""TaskWorker with the real whisper-base engine on real speech: results, channels, failures, survival."""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path

import jiwer
import numpy as np
import pytest
from jobs_testkit import DATA, FileServer, JobEnv, clip, normalise, reference, write_wav

from openasr.core.options import TranscribeOptions
from openasr.jobs.records import TaskRecord, TaskStatus
from openasr.jobs.worker import INTERNAL_ERROR_MESSAGE, WorkerConfig, cleanup

AUSTEN = "en/sense_and_sensibility_01_austen_64kb-0870.wav"  # 7.1 s
AUSTEN_2 = "en/sense_and_sensibility_01_austen_64kb-0890.wav"  # 5.3 s
CARDS = "en/cards_005.wav"  # 3.5 s


def _wer(ref: str, hyp: str) -> float:
    return float(jiwer.wer(normalise(ref), normalise(hyp)))


def _wait(predicate: object, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)


def test_task_over_http_succeeds_with_sentences_and_words(job_env: JobEnv, file_server: FileServer) -> None:
    url = f"{file_server.url}/files/{AUSTEN}?token=abc"
    task_id = job_env.submit(url, words=True, language="en")
    done = job_env.run_one()
    assert done.task_id == task_id and done.status is TaskStatus.SUCCEEDED, (done.code, done.message)
    assert done.usage_seconds == 8  # ceil(7.1 s) × 1 channel
    assert done.progress == 1.0 and done.audio_seconds == pytest.approx(7.1)
    assert done.scheduled_time_ms is not None and done.end_time_ms is not None
    result = job_env.results.read(done.result_key or "")
    assert result["file_url"] == url
    assert result["audio_info"] == {"format": "wav", "sample_rate": 16000}
    (transcript,) = result["transcripts"]
    assert transcript["channel_id"] == 0
    assert _wer(reference(AUSTEN), transcript["text"]) < 0.2, transcript["text"]
    sentences = transcript["sentences"]
    assert sentences and [s["sentence_id"] for s in sentences] == list(range(len(sentences)))
    for s in sentences:
        assert 0 <= s["begin_time"] < s["end_time"] <= 7100 and s["language"] == "en"
        assert s["words"], "enable_words asks for words"
        for w in s["words"]:
            assert s["begin_time"] <= w["begin_time"] <= w["end_time"] <= s["end_time"]
            assert set(w) == {"begin_time", "end_time", "text", "punctuation"}
    assert " ".join(w["text"] for s in sentences for w in s["words"])
    assert not (job_env.config.work_dir / task_id).exists()  # the download went with the task
    assert file_server.hits.count(f"/files/{AUSTEN}") == 1


def test_words_only_when_asked(job_env: JobEnv) -> None:
    job_env.submit(str(DATA / CARDS))
    done = job_env.run_one()
    assert done.status is TaskStatus.SUCCEEDED, (done.code, done.message)
    (transcript,) = job_env.results.read(done.result_key or "")["transcripts"]
    assert transcript["sentences"] and all("words" not in s for s in transcript["sentences"])
    assert _wer(reference(CARDS), transcript["text"]) < 0.5, transcript["text"]


def test_two_channel_file_gives_one_transcript_per_channel(job_env: JobEnv) -> None:
    left, right = clip(AUSTEN), clip(AUSTEN_2)
    stereo = write_wav(job_env.root / "stereo.wav", [left, right])
    job_env.submit(str(stereo), channels=(0, 1))
    done = job_env.run_one()
    assert done.status is TaskStatus.SUCCEEDED, (done.code, done.message)
    assert done.usage_seconds == math.ceil(len(left) / 16000) * 2  # each channel billed
    first, second = job_env.results.read(done.result_key or "")["transcripts"]
    assert (first["channel_id"], second["channel_id"]) == (0, 1)
    assert _wer(reference(AUSTEN), first["text"]) < 0.2, first["text"]
    assert _wer(reference(AUSTEN_2), second["text"]) < 0.2, second["text"]
    assert _wer(reference(AUSTEN_2), first["text"]) > 0.8  # no cross-talk between the channels
    assert second["sentences"][0]["sentence_id"] == 0  # ids count per channel

    job_env.submit(str(stereo), channels=(1,))
    only_right = job_env.run_one()
    (transcript,) = job_env.results.read(only_right.result_key or "")["transcripts"]
    assert transcript["channel_id"] == 1 and transcript["text"] == second["text"]


@pytest.mark.parametrize(
    ("source", "code"),
    [
        ("missing-local", "FILE_404_NOT_FOUND"),
        ("/missing.wav", "FILE_404_NOT_FOUND"),
        ("/forbidden.wav", "FILE_403_FORBIDDEN"),
        ("/garbage.wav", "DECODE_ERROR"),
        ("garbage-local", "DECODE_ERROR"),
        ("mono-channel-1", "INVALID_CHANNEL"),
        ("outside-roots", "INVALID_PARAMETER"),
    ],
)
def test_failures_end_the_task_with_the_service_code(
    job_env: JobEnv, file_server: FileServer, source: str, code: str
) -> None:
    params: dict[str, object] = {}
    if source == "missing-local":
        url = str(job_env.root / "nope.wav")
    elif source == "garbage-local":
        url = str(job_env.root / "garbage.mp3")
        Path(url).write_bytes(b"\x00\x01garbage" * 1000)
    elif source == "mono-channel-1":
        url, params = str(DATA / CARDS), {"channels": (1,)}
    elif source == "outside-roots":
        url = "/etc/hostname"
    else:
        url = file_server.url + source
    task_id = job_env.submit(url, **params)
    done = job_env.run_one()
    assert done.task_id == task_id
    assert (done.status, done.code) == (TaskStatus.FAILED, code), done.message
    assert done.message and done.end_time_ms is not None and done.result_key is None
    assert not (job_env.config.work_dir / task_id).exists()


def test_limits_fail_with_size_and_duration_codes(job_env: JobEnv) -> None:
    from dataclasses import replace

    from openasr.audio.sources import SourcePolicy

    job_env.config = replace(job_env.config, max_duration_s=5.0)
    job_env.submit(str(DATA / AUSTEN))
    too_long = job_env.run_one()
    assert (too_long.status, too_long.code) == (TaskStatus.FAILED, "AUDIO_DURATION_TOO_LONG")
    job_env.config = replace(
        job_env.config, policy=SourcePolicy(max_size_bytes=50_000, file_roots=(DATA,)), max_duration_s=3600
    )
    job_env.submit(str(DATA / AUSTEN))  # 227 kB
    too_large = job_env.run_one()
    assert (too_large.status, too_large.code) == (TaskStatus.FAILED, "FILE_TOO_LARGE")


def test_worker_thread_survives_an_unexpected_failure(job_env: JobEnv, caplog: pytest.LogCaptureFixture) -> None:
    # A real failure nobody planned for: the result directory's path is taken by a plain file.
    (job_env.config.data_dir / "results").parent.mkdir(parents=True, exist_ok=True)
    (job_env.config.data_dir / "results").write_text("in the way")
    worker = job_env.worker()
    worker.start()
    try:
        first = job_env.submit(str(DATA / CARDS))
        _wait(lambda: job_env.store.get(first).finished)  # type: ignore[union-attr]
        failed = job_env.store.get(first)
        assert failed is not None
        assert (failed.status, failed.code, failed.message) == (
            TaskStatus.FAILED,
            "INTERNAL_ERROR",
            INTERNAL_ERROR_MESSAGE,
        )
        assert "results" not in (failed.message or "")  # no internals leak to the client
        assert any("unexpected failure" in r.message and r.exc_info for r in caplog.records)
        assert worker.running

        (job_env.config.data_dir / "results").unlink()
        second = job_env.submit(str(DATA / CARDS))
        _wait(lambda: job_env.store.get(second).finished)  # type: ignore[union-attr]
        ok = job_env.store.get(second)
        assert ok is not None and ok.status is TaskStatus.SUCCEEDED, (ok.code, ok.message)
        assert (ok.claimed_by or "").startswith(worker.worker_id + "/")  # the same worker went on
    finally:
        assert worker.stop(timeout_s=60)


def test_canceled_task_is_never_run(job_env: JobEnv) -> None:
    canceled = job_env.submit(str(DATA / CARDS))
    kept = job_env.submit(str(DATA / CARDS))
    job_env.store.cancel(canceled)
    done = job_env.run_one()
    assert done.task_id == kept and done.status is TaskStatus.SUCCEEDED
    assert job_env.worker().run_once() is None
    record = job_env.store.get(canceled)
    assert record is not None and record.status is TaskStatus.CANCELED and record.attempts == 0
    assert not job_env.results.exists(canceled)


def test_stop_releases_the_running_task_and_a_resume_matches_a_full_run(
    job_env: JobEnv, file_server: FileServer
) -> None:
    parts = []
    for name in (AUSTEN, CARDS, AUSTEN_2, "en/beckett.wav") * 3:  # 12 chunks: more than one round of batches
        parts += [clip(name), np.zeros(3 * 16000, dtype=np.float32)]
    audio = write_wav(job_env.root / "four.wav", [np.concatenate(parts)])
    file_server.extra["/four.wav"] = audio
    interrupted = job_env.submit(f"{file_server.url}/four.wav", words=True)
    worker = job_env.worker()
    worker.start()
    _wait(lambda: len(job_env.store.load_checkpoints(interrupted)) >= 1)
    assert worker.stop(timeout_s=60)
    released = job_env.store.get(interrupted)
    assert released is not None and released.status is TaskStatus.PENDING and released.attempts == 0
    kept = len(job_env.store.load_checkpoints(interrupted))
    assert 1 <= kept < 12, kept  # stopped after a chunk, before the end
    assert 0 < released.progress < 1
    assert [p.name for p in (job_env.config.work_dir / interrupted).iterdir()] == ["source.wav"]

    resumed = job_env.run_one()
    assert resumed.task_id == interrupted and resumed.status is TaskStatus.SUCCEEDED
    assert file_server.hits.count("/four.wav") == 1  # the resumed run reused the download
    assert not (job_env.config.work_dir / interrupted).exists()
    reference_id = job_env.submit(str(audio), words=True)
    full = job_env.run_one()
    assert full.task_id == reference_id and full.status is TaskStatus.SUCCEEDED
    resumed_doc = job_env.results.read(interrupted)
    full_doc = job_env.results.read(reference_id)
    assert resumed_doc["transcripts"] == full_doc["transcripts"]  # text, sentence and word timings alike
    assert len(full_doc["transcripts"][0]["sentences"]) >= 12


def test_cleanup_drops_expired_results_records_and_work_dirs(job_env: JobEnv) -> None:
    from dataclasses import replace

    done_id = job_env.submit(str(DATA / CARDS))
    job_env.run_one()
    pending_id = job_env.submit(str(DATA / CARDS))
    for task_id in (pending_id, "gone-task"):  # a released task's kept download, and an orphan's
        (job_env.config.work_dir / task_id).mkdir(parents=True)
        (job_env.config.work_dir / task_id / "source.wav").write_bytes(b"RIFF")
    config: WorkerConfig = replace(job_env.config, result_retention_s=3600, task_retention_s=7200)
    report = cleanup(job_env.store, job_env.results, config)
    assert (report.results, report.tasks, report.work_dirs) == (0, 0, 1)  # only the orphan directory
    assert not (job_env.config.work_dir / "gone-task").exists()
    report = cleanup(job_env.store, job_env.results, config, now_s=time.time() + 3700)
    assert (report.results, report.tasks, report.work_dirs) == (1, 0, 0)
    assert not job_env.results.exists(done_id) and job_env.store.get(done_id) is not None
    report = cleanup(job_env.store, job_env.results, config, now_s=time.time() + 7300)
    assert report.tasks == 1 and job_env.store.get(done_id) is None
    assert (job_env.config.work_dir / pending_id).is_dir()
    pending = job_env.store.get(pending_id)
    assert isinstance(pending, TaskRecord) and pending.status is TaskStatus.PENDING


def test_several_worker_threads_share_the_queue(job_env: JobEnv) -> None:
    ids = [job_env.submit(str(DATA / name)) for name in (CARDS, "en/cards_001.wav", "en/cards_002.wav")]
    workers = [job_env.worker() for _ in range(2)]
    for w in workers:
        w.start()
    try:
        _wait(lambda: all(job_env.store.get(i).finished for i in ids))  # type: ignore[union-attr]
    finally:
        stopped = [w.stop(timeout_s=60) for w in workers]
    assert all(stopped)
    records = [job_env.store.get(i) for i in ids]
    assert all(r is not None and r.status is TaskStatus.SUCCEEDED and r.attempts == 1 for r in records)
    assert threading.active_count() < 50


def test_oss_upload_is_read_as_the_task_owner(job_env: JobEnv) -> None:
    import io

    from openasr.core.keys import key_id
    from openasr.jobs.upload_policy import ACCESS_KEY_ID
    from openasr.jobs.uploads import UploadStore
    from openasr.storage import LocalBlobStore

    uploads = UploadStore(LocalBlobStore(job_env.root / "uploads"), b"u" * 32)
    policy = uploads.issue_policy("sk-owner", "qwen3-asr-flash-filetrans")
    key = f"{policy.upload_dir}/meeting notes.wav"
    fields = {
        "key": key,
        "policy": policy.policy,
        "Signature": policy.signature,
        "OSSAccessKeyId": ACCESS_KEY_ID,
    }
    uploads.accept(fields, "meeting notes.wav", io.BytesIO((DATA / CARDS).read_bytes()))

    def run(owner: str) -> TaskRecord:
        record = job_env.store.create(
            file_url=f"oss://{key}",
            model_name="qwen3-asr-flash-filetrans",
            options=TranscribeOptions(model="whisper-base", channels=(0,)),
            oss_resolve=True,
            api_key_id=owner,
        )
        done = job_env.worker(uploads=uploads).run_once()
        assert done is not None and done.task_id == record.task_id
        return done

    mine = run(key_id("sk-owner"))
    assert mine.status is TaskStatus.SUCCEEDED, (mine.code, mine.message)
    (transcript,) = job_env.results.read(mine.result_key or "")["transcripts"]
    assert _wer(reference(CARDS), transcript["text"]) < 0.5
    assert job_env.results.read(mine.result_key or "")["file_url"] == f"oss://{key}"
    theirs = run(key_id("sk-someone-else"))
    assert (theirs.status, theirs.code) == (TaskStatus.FAILED, "FILE_404_NOT_FOUND")


def test_a_node_resumes_from_the_audio_another_node_kept_in_s3(
    job_env: JobEnv, file_server: FileServer, s3_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Node 1 fetched the task's audio into the shared S3 work files and died before its first checkpoint;
    the worker of node 2 (another data directory) finishes the task from the kept copy, fetching nothing."""
    from openasr.jobs.work_files import WorkFiles
    from openasr.storage import StorageConfig, open_store
    from s3_server import bucket_env, object_keys

    bucket = bucket_env(monkeypatch, s3_endpoint)
    work = open_store(StorageConfig(data_dir=job_env.root / "node-1", url=f"s3://{bucket}/openasr")).child("work")
    file_server.extra["/once.wav"] = DATA / CARDS
    url = f"{file_server.url}/once.wav"
    task_id = job_env.submit(url, language="en")
    with WorkFiles(work, job_env.root / "node-1" / "tmp").audio(
        task_id, url, job_env.config.policy, uploads=None, oss_resolve=False
    ):
        pass
    assert object_keys(s3_endpoint, bucket) == [f"openasr/work/{task_id}/source.wav"]
    del file_server.extra["/once.wav"]  # gone from the web: only the kept copy can finish the task

    done = job_env.worker(work_blobs=work).run_once()
    assert done is not None and done.status is TaskStatus.SUCCEEDED, (done and done.code, done and done.message)
    assert file_server.hits.count("/once.wav") == 1
    assert object_keys(s3_endpoint, bucket) == []  # the work files went with the task
    direct = job_env.submit(str(DATA / CARDS), language="en")  # the same file, read in place
    assert job_env.run_one().task_id == direct
    resumed, reference_doc = job_env.results.read(task_id), job_env.results.read(direct)
    assert "spades" in resumed["transcripts"][0]["text"]
    assert resumed["transcripts"] == reference_doc["transcripts"]
