"""Async file transcription (E4–E8) through the real dashscope SDK (`QwenTranscription`), spec §7, §12
items 12–16 and §13 R6, on real speech fetched from a loopback static file server.

Two kinds of server:

* `tasks_server`: an in-thread server (tests/live_server.py) with one worker and two API keys, for the
  protocol: lifecycle, UNKNOWN, cancel, list, oss:// input, channels, fetch/decode failures.
* `process_server`: ``python -m openasr.cli.main serve`` as a subprocess (one worker), for what needs a
  real process: peak RSS on a 30-minute input, and ``kill -9`` in the middle of a task followed by a
  restart on the same data directory (the task resumes from its checkpoints and ends with the same
  transcript as an uninterrupted run).

Every audio file is built here from the committed clips of tests/data (see tests/speech_clips.py).
"""

from __future__ import annotations

import math
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dashscope
import numpy as np
import pytest
import requests
from asr_metrics import score
from dashscope.audio.qwen_asr import QwenTranscription
from dashscope.utils.oss_utils import OssUtils
from static_server import FORBIDDEN, MISSING, static_server

from audio_files import SAMPLE_RATE_HZ, load_clip, write_audio, write_long_flac
from live_server import KEY, cache_dir, free_port, live_server, server_settings
from openasr.core.keys import key_id
from speech_clips import Clip, clip, load_clips

MODEL = "qwen3-asr-flash-filetrans"
OTHER = "sk-other-tenant"
TERMINAL = frozenset({"SUCCEEDED", "FAILED", "CANCELED", "UNKNOWN"})
SUBMIT = "/api/v1/services/audio/asr/transcription"

TWO_CITIES = clip("two_cities")
BECKETT = clip("beckett")
DASHWOOD = clip("0870")  # "and mister john dashwood had then leisure to consider …"

PEAK_GROWTH_BOUND_MB = 100.0
"""How much the server's peak RSS (VmHWM) may grow over the 30-minute task with speech, after a warm-up task
that recognised the very same clips (3 s apart, ≈1 minute).

Why the warm-up is those clips: each recognition call allocates and frees a transient working set
(CTranslate2 buffers) of ~100 MB for a short chunk and ~200 MB for a dense 28 s one, so the peak is
set by what was recognised, whatever the file's duration (after a 10 s warm-up, a 30-minute file with a
44 s reading in it raised the peak by 60–210 MB; after the same-clips warm-up, with short clips only, by
14–20 MB over three runs). 100 MB is the whole recording as float32 (115 MB) rounded down, with 5×
headroom over that noise. It is coarse: the warm-up peak sits ~90 MB above the resting RSS, so part of a
whole-file buffer would hide under it; `SILENCE_PEAK_BOUND_MB` is the sharp check.
"""

SILENCE_PEAK_BOUND_MB = 40.0
"""How far above the RSS at its start the peak RSS may go while the server runs 30 minutes of silence.

The peak is reset first (``echo 5 > /proc/PID/clear_refs``, Linux ≥ 4.0), and silence never reaches the
recogniser, so this isolates download + decoding + VAD + chunk buffering, which all stream: measured
+0.1 to +11 MB over four warm runs (a 30 s decode block is 1.9 MB; a cold VAD adds ~26 MB once). 40 MB is
about a third of the float32 whole file and under its int16 size (57.6 MB): holding the recording in either
form fails.
"""


# ------------------------------------------------------------------------------------------- helpers


def wer(reference: str, hypothesis: str) -> float:
    return score(reference, hypothesis, "en").rate


def samples(c: Clip) -> np.ndarray:
    return load_clip(c.path)


def poll(task: Any, *, timeout_s: float, api_key: str | None = None, interval_s: float = 0.25) -> Any:
    """Fetch (the real SDK) until the task reaches a terminal state; fails after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        rsp = QwenTranscription.fetch(task=task, api_key=api_key)
        assert rsp.status_code == 200, (rsp.code, rsp.message)
        if rsp.output.task_status in TERMINAL:
            return rsp
        if time.monotonic() > deadline:
            raise AssertionError(f"task still {rsp.output.task_status} after {timeout_s} s: {dict(rsp.output)}")
        time.sleep(interval_s)


def result_of(done: Any) -> dict[str, Any]:
    """E8: the result JSON, fetched with a plain GET and no API key."""
    assert done.output.task_status == "SUCCEEDED", dict(done.output)
    r = requests.get(done.output.result["transcription_url"], timeout=30)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    return r.json()


def check_sentences(transcript: dict[str, Any], duration_s: float, *, words: bool) -> None:
    """Timing invariants of one `transcripts[]` entry: ordered, inside the audio, words iff asked."""
    sentences = transcript["sentences"]
    assert sentences, transcript
    assert [s["sentence_id"] for s in sentences] == list(range(len(sentences)))
    previous_end = 0
    for s in sentences:
        assert 0 <= s["begin_time"] <= s["end_time"] <= math.ceil(duration_s * 1000), s
        assert s["begin_time"] >= previous_end, (previous_end, s)  # monotonic, no overlap
        previous_end = s["end_time"]
        assert s["text"].strip()
        if not words:
            assert "words" not in s, s
            continue
        assert s["words"], s
        for w in s["words"]:
            assert set(w) >= {"begin_time", "end_time", "text", "punctuation"}, w
            assert s["begin_time"] <= w["begin_time"] <= w["end_time"] <= s["end_time"], (w, s)
        starts = [w["begin_time"] for w in s["words"]]
        assert starts == sorted(starts), s
        assert wer(s["text"], " ".join(w["text"] for w in s["words"])) == 0, s


def transcripts_only(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"channel_id": t["channel_id"], "text": t["text"], "sentences": t["sentences"]} for t in result["transcripts"]
    ]


# ------------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The directory the static server serves; tests write the audio they need into it."""
    root = tmp_path_factory.mktemp("static")
    for c in (TWO_CITIES, BECKETT, DASHWOOD):
        shutil.copy(c.path, root / c.path.name)
    (root / "not_audio.wav").write_text("This is a text file, not a RIFF/WAVE file.\n" * 200)
    return root


@pytest.fixture(scope="module")
def static(served: Path) -> Iterator[str]:
    with static_server(served) as url:
        yield url


@pytest.fixture(scope="module")
def tasks_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = server_settings(tmp_path_factory.mktemp("tasks"), workers=1, api_keys=(KEY, OTHER))
    with live_server(settings) as url:
        yield url


@pytest.fixture
def sdk(tasks_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The global dashscope SDK pointed at `tasks_server` with `KEY`, for this test only."""
    monkeypatch.setattr(dashscope, "base_http_api_url", f"{tasks_server}/api/v1")
    monkeypatch.setattr(dashscope, "api_key", KEY)
    return tasks_server


# ------------------------------------------------------------------------- 1. lifecycle (R6), E4–E8


def test_lifecycle_on_real_speech(sdk: str, static: str) -> None:
    duration_s = load_clip(TWO_CITIES.path).size / SAMPLE_RATE_HZ
    sub = QwenTranscription.async_call(
        model=MODEL, file_url=f"{static}/two_cities.flac", enable_itn=False, enable_words=True, channel_id=[0]
    )
    assert sub.status_code == 200, (sub.code, sub.message)
    assert sub.request_id and sub.output.task_status in ("PENDING", "RUNNING")
    fetched = QwenTranscription.fetch(task=sub.output.task_id)
    assert fetched.status_code == 200 and fetched.output.task_id == sub.output.task_id
    assert fetched.output.task_status in ("PENDING", "RUNNING", "SUCCEEDED")
    assert fetched.output["submit_time"]

    done = QwenTranscription.wait(task=sub, wait_timeout=300)
    assert done.status_code == 200 and done.output.task_status == "SUCCEEDED", dict(done.output)
    seconds = done.usage["seconds"]
    assert isinstance(seconds, int) and seconds == math.ceil(duration_s) == 45
    assert done.output["progress"] == 1.0
    assert done.output["audio_seconds_done"] == pytest.approx(duration_s, abs=0.05)
    assert done.output["task_metrics"] == {"TOTAL": 1, "SUCCEEDED": 1, "FAILED": 0}
    assert {"submit_time", "scheduled_time", "end_time"} <= set(done.output)
    assert "code" not in done.output

    result = result_of(done)
    assert result["file_url"] == f"{static}/two_cities.flac"
    assert [t["channel_id"] for t in result["transcripts"]] == [0]
    transcript = result["transcripts"][0]
    assert wer(TWO_CITIES.reference, transcript["text"]) <= 0.10, transcript["text"]
    check_sentences(transcript, duration_s, words=True)
    assert len(transcript["sentences"]) >= 3  # 44 s of prose is not one sentence

    # The URL is the authorisation: a forged signature is refused.
    url = done.output.result["transcription_url"]
    forged = requests.get(url[: url.index("Signature=")] + "Signature=AAAA", timeout=10)
    assert forged.status_code == 403 and forged.json()["code"]


def test_no_words_unless_asked(sdk: str, static: str) -> None:
    done = QwenTranscription.call(model=MODEL, file_url=f"{static}/{BECKETT.path.name}")
    transcript = result_of(done)["transcripts"][0]
    assert wer(BECKETT.reference, transcript["text"]) <= 0.10, transcript["text"]
    check_sentences(transcript, load_clip(BECKETT.path).size / SAMPLE_RATE_HZ, words=False)


# ---------------------------------------------------------------- 2. UNKNOWN, tenancy, cancel, list


def test_unknown_foreign_cancel_and_list(sdk: str, static: str) -> None:
    unknown = QwenTranscription.fetch(task="00000000-0000-0000-0000-000000000000")
    assert unknown.status_code == 200 and unknown.output.task_status == "UNKNOWN"
    assert unknown.output.task_id == "00000000-0000-0000-0000-000000000000"

    # Three tasks of the other tenant; the single worker takes them in order, so `c` is still PENDING
    # when it is cancelled right after its submit (`a` is ahead of it, running or queued).
    a = QwenTranscription.async_call(model=MODEL, file_url=f"{static}/{BECKETT.path.name}", api_key=OTHER)
    b = QwenTranscription.async_call(model=MODEL, file_url=f"{static}{MISSING}gone.wav", api_key=OTHER)
    c = QwenTranscription.async_call(model=MODEL, file_url=f"{static}/{BECKETT.path.name}", api_key=OTHER)
    assert all(r.status_code == 200 for r in (a, b, c))
    canceled = QwenTranscription.cancel(c, api_key=OTHER)
    assert canceled.status_code == 200, (canceled.code, canceled.message)
    after = QwenTranscription.fetch(task=c, api_key=OTHER)
    assert after.output.task_status == "CANCELED" and after.output["end_time"]
    assert "result" not in after.output and after.usage is None

    # KEY cannot see, nor cancel, the other tenant's task.
    assert QwenTranscription.fetch(task=a.output.task_id).output.task_status == "UNKNOWN"
    foreign_cancel = QwenTranscription.cancel(a.output.task_id)
    unknown_cancel = QwenTranscription.cancel("00000000-0000-0000-0000-000000000000")
    assert 400 <= foreign_cancel.status_code < 500 and foreign_cancel.code
    assert (foreign_cancel.status_code, foreign_cancel.code) == (unknown_cancel.status_code, unknown_cancel.code)

    assert poll(a, api_key=OTHER, timeout_s=180).output.task_status == "SUCCEEDED"
    assert poll(b, api_key=OTHER, timeout_s=60).output.task_status == "FAILED"
    late = QwenTranscription.cancel(a, api_key=OTHER)
    assert (late.status_code, late.code) == (400, "UnsupportedOperation"), late.message
    assert QwenTranscription.fetch(task=c, api_key=OTHER).output.task_status == "CANCELED"

    ids = [r.output.task_id for r in (c, b, a)]  # newest first

    def listed(api_key: str = OTHER, **filters: Any) -> Any:
        rsp = QwenTranscription.list(api_key=api_key, **filters)
        assert rsp.status_code == 200, (rsp.code, rsp.message)
        assert {"data", "total", "total_page", "page_no", "page_size"} <= set(rsp.output)
        return rsp.output

    everything = listed(page_size=10)
    assert everything["total"] == 3 and everything["total_page"] == 1
    assert [t["task_id"] for t in everything["data"]] == ids
    assert [t["status"] for t in everything["data"]] == ["CANCELED", "FAILED", "SUCCEEDED"]
    item = everything["data"][2]
    assert item["model_name"] == MODEL and item["api_key_id"] == key_id(OTHER) != OTHER
    assert item["request_id"] == a.request_id
    assert item["gmt_create"] <= item["start_time"] <= item["end_time"]

    first, second = listed(page_size=2, page_no=1), listed(page_size=2, page_no=2)
    assert (first["total"], first["total_page"], first["page_no"], first["page_size"]) == (3, 2, 1, 2)
    assert [t["task_id"] for t in first["data"]] == ids[:2]
    assert [t["task_id"] for t in second["data"]] == ids[2:] and second["page_no"] == 2
    for status, expected in (("SUCCEEDED", ids[2]), ("FAILED", ids[1]), ("CANCELED", ids[0])):
        page = listed(status=status, model_name=MODEL)
        assert [t["task_id"] for t in page["data"]] == [expected] and page["total"] == 1
    assert listed(status="RUNNING")["total"] == 0
    now = datetime.now(UTC)
    window = {
        "start_time": (now - timedelta(hours=1)).strftime("%Y%m%d%H%M%S"),
        "end_time": (now + timedelta(minutes=5)).strftime("%Y%m%d%H%M%S"),
    }
    assert [t["task_id"] for t in listed(**window)["data"]] == ids
    assert listed(start_time=(now + timedelta(minutes=5)).strftime("%Y%m%d%H%M%S"))["total"] == 0
    assert listed(model_name="qwen3-asr-flash")["total"] == 0
    assert not {t["task_id"] for t in listed(api_key=KEY, page_size=100)["data"]} & set(ids)

    # `/tasks/` (the docs' curl) answers exactly like `/tasks` (the SDK's).
    auth = {"Authorization": f"Bearer {OTHER}"}
    query = {"page_no": 1, "page_size": 2, "status": "FAILED"}
    plain = requests.get(f"{sdk}/api/v1/tasks", params=query, headers=auth, timeout=10)
    slash = requests.get(f"{sdk}/api/v1/tasks/", params=query, headers=auth, timeout=10)
    assert plain.status_code == slash.status_code == 200
    without_id = [{k: v for k, v in r.json().items() if k != "request_id"} for r in (plain, slash)]
    assert without_id[0] == without_id[1] and without_id[0]["total"] == 1


def test_submit_requires_async_header(sdk: str, static: str) -> None:
    body = {"model": MODEL, "input": {"file_url": f"{static}/{BECKETT.path.name}"}, "parameters": {}}
    r = requests.post(f"{sdk}{SUBMIT}", headers={"Authorization": f"Bearer {KEY}"}, json=body, timeout=10)
    assert 400 <= r.status_code < 500 and r.json()["code"], r.text
    assert r.headers["content-type"].startswith("application/json")
    assert "synchronous" in r.json()["message"]


# ------------------------------------------------------------------------------------- 3. oss://


def test_oss_upload_path(sdk: str) -> None:
    url, _ = OssUtils.upload(model=MODEL, file_path=str(DASHWOOD.path))
    assert url.startswith("oss://") and url.endswith("/" + DASHWOOD.path.name)
    no_header = QwenTranscription.async_call(model=MODEL, file_url=url)
    assert no_header.status_code == 400 and no_header.code  # the resolve header is required
    done = QwenTranscription.call(model=MODEL, file_url=url, headers={"X-DashScope-OssResourceResolve": "enable"})
    assert done.status_code == 200 and done.output.task_status == "SUCCEEDED", dict(done.output)
    assert done.usage["seconds"] == math.ceil(load_clip(DASHWOOD.path).size / SAMPLE_RATE_HZ) == 8
    transcript = result_of(done)["transcripts"][0]
    assert wer(DASHWOOD.reference, transcript["text"]) <= 0.10, transcript["text"]
    # Uploads belong to the key that made them: the other tenant's task cannot read it.
    foreign = QwenTranscription.call(
        model=MODEL, file_url=url, api_key=OTHER, headers={"X-DashScope-OssResourceResolve": "enable"}
    )
    assert foreign.output.task_status == "FAILED" and foreign.output["code"], dict(foreign.output)


# ---------------------------------------------------------------------------------- 4. channels


STEREO_SECONDS = 10.5  # not whole: usage rounds each channel up


@pytest.fixture(scope="module")
def stereo(served: Path) -> str:
    """Channel 0 reads Sense and Sensibility, channel 1 Beckett, both padded to 10.5 s."""
    n = round(STEREO_SECONDS * SAMPLE_RATE_HZ)
    planes = np.zeros((2, n), dtype=np.float32)
    for channel, c in enumerate((DASHWOOD, BECKETT)):
        audio = samples(c)
        planes[channel, : audio.size] = audio[:n]
    write_audio(served / "two_speakers.flac", planes, "flac")
    return "two_speakers.flac"


def test_each_channel_is_its_own_transcript(sdk: str, static: str, stereo: str) -> None:
    sub = QwenTranscription.async_call(model=MODEL, file_url=f"{static}/{stereo}", channel_id=[0, 1])
    done = poll(sub, timeout_s=180)
    assert done.output.task_status == "SUCCEEDED", dict(done.output)
    assert done.usage["seconds"] == math.ceil(STEREO_SECONDS) * 2 == 22
    result = result_of(done)
    assert [t["channel_id"] for t in result["transcripts"]] == [0, 1]
    left, right = (t["text"] for t in result["transcripts"])
    assert wer(DASHWOOD.reference, left) <= 0.10 and wer(BECKETT.reference, right) <= 0.10, (left, right)
    assert wer(BECKETT.reference, left) >= 0.8 and wer(DASHWOOD.reference, right) >= 0.8, (left, right)
    for t in result["transcripts"]:
        check_sentences(t, STEREO_SECONDS, words=False)

    missing = poll(
        QwenTranscription.async_call(model=MODEL, file_url=f"{static}/{stereo}", channel_id=[3]), timeout_s=60
    )
    assert missing.output.task_status == "FAILED" and missing.output["code"] == "INVALID_CHANNEL"
    assert "3" in missing.output["message"] and missing.usage is None


# ------------------------------------------------------------------------- 5. fetch/decode failures


@pytest.mark.parametrize(
    ("path", "code"),
    [
        (f"{MISSING}meeting.wav", "FILE_404_NOT_FOUND"),
        ("/no-such-file.mp3", "FILE_404_NOT_FOUND"),
        (f"{FORBIDDEN}meeting.wav", "FILE_403_FORBIDDEN"),
        ("/not_audio.wav", "DECODE_ERROR"),
    ],
)
def test_failures_are_reported_inside_output(sdk: str, static: str, path: str, code: str) -> None:
    sub = QwenTranscription.async_call(model=MODEL, file_url=f"{static}{path}")
    assert sub.status_code == 200, (sub.code, sub.message)  # submit only queues; the worker fetches
    done = poll(sub, timeout_s=60)
    assert done.output.task_status == "FAILED" and done.output["code"] == code, dict(done.output)
    assert done.output["message"] and done.output["end_time"] and done.usage is None
    assert done.output["task_metrics"] == {"TOTAL": 1, "SUCCEEDED": 0, "FAILED": 1}
    raw = requests.get(
        f"{sdk}/api/v1/tasks/{sub.output.task_id}", headers={"Authorization": f"Bearer {KEY}"}, timeout=10
    )
    assert raw.status_code == 200 and "code" not in raw.json()  # the error is inside `output`, spec §7.2
    assert raw.json()["output"]["code"] == code and "result" not in raw.json()["output"]


# ------------------------------------------------------------------------- subprocess server (6, 7)


class ServerProcess:
    """``python -m openasr.cli.main serve`` on a free port, restartable on the same data directory."""

    def __init__(self, data_dir: Path, log_path: Path) -> None:
        self.data_dir = data_dir
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout_s: float = 120.0) -> None:
        port = free_port()
        env = dict(
            os.environ,
            OPENASR_DATA_DIR=str(self.data_dir),
            OPENASR_CACHE_DIR=str(cache_dir()),
            OPENASR_API_KEYS=KEY,
            OPENASR_ALLOW_PRIVATE_URLS="1",
            OPENASR_WORKERS="1",
            OPENASR_RATE_LIMIT_PER_MINUTE="0",
            PYTHONUNBUFFERED="1",
        )
        command = [
            sys.executable,
            "-m",
            "openasr.cli.main",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ]
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout_s
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                if requests.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"server not healthy after {timeout_s} s:\n{self.log_tail()}")
            time.sleep(0.2)

    def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        assert self.proc.wait(timeout=30) == -signal.SIGKILL

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=30)

    def memory_kb(self, field: str) -> int:
        """A ``Vm…`` line of /proc/<pid>/status (VmRSS, VmHWM), in kB."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
        raise KeyError(field)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""


@pytest.fixture(scope="module")
def process_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("process")
    server = ServerProcess(root / "data", root / "server.log")
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def process_sdk(process_server: ServerProcess, monkeypatch: pytest.MonkeyPatch) -> ServerProcess:
    """Point the SDK at the subprocess server (follows restarts: call `aim` again after one)."""
    monkeypatch.setattr(dashscope, "api_key", KEY)
    aim(process_server, monkeypatch)
    return process_server


def aim(server: ServerProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dashscope, "base_http_api_url", f"{server.url}/api/v1")


@dataclass(frozen=True)
class Placement:
    clip: Clip
    start_s: float
    duration_s: float


@dataclass(frozen=True)
class Recording:
    placements: list[Placement]
    duration_s: float


def arrange(path: Path, layout: Iterable[tuple[float, Clip]], total_s: float) -> Recording:
    """Write a mono FLAC of `total_s` seconds: silence with each clip starting at its given second.

    Streamed piece by piece (`write_long_flac`), so even 30 minutes never sit in the test's memory.
    """
    placements = [Placement(c, start, samples(c).size / SAMPLE_RATE_HZ) for start, c in layout]

    def pieces() -> Iterator[np.ndarray]:
        cursor = 0
        for p in placements:
            start = round(p.start_s * SAMPLE_RATE_HZ)
            assert start >= cursor, "clips overlap"
            yield from _silence_pieces(start - cursor)
            audio = samples(p.clip)
            yield audio
            cursor = start + audio.size
        yield from _silence_pieces(round(total_s * SAMPLE_RATE_HZ) - cursor)

    write_long_flac(path, pieces())
    return Recording(placements, round(total_s * SAMPLE_RATE_HZ) / SAMPLE_RATE_HZ)


def _silence_pieces(n: int, piece: int = 10 * SAMPLE_RATE_HZ) -> Iterator[np.ndarray]:
    for start in range(0, n, piece):
        yield np.zeros(min(piece, n - start), dtype=np.float32)


# ------------------------------------------------------------------- 7. bounded memory, 30 minutes


THIRTY_MINUTES_S = 1800.0
SPREAD_CLIPS = ("0870", "0880", "0890", "0920", "0930", "beckett", "goforward", "cards_003", "cards_004", "cards_005")
"""Ten clips of 1.5–10 s: each is one short recognition chunk (a 28 s chunk of dense speech, as in
two_cities, makes the recogniser's transient peak larger and noisier, see `PEAK_GROWTH_BOUND_MB`)."""


@pytest.fixture(scope="module")
def thirty_minutes(served: Path) -> list[Placement]:
    """30 minutes of silence with one real clip every 3 minutes (from 1:30 on): little recognition work."""
    layout = [(90.0 + 180.0 * i, clip(name)) for i, name in enumerate(SPREAD_CLIPS)]
    arrange(served / "thirty_minutes_of_silence.flac", [], THIRTY_MINUTES_S)
    return arrange(served / "thirty_minutes.flac", layout, THIRTY_MINUTES_S).placements


@pytest.fixture(scope="module")
def same_clips_packed(served: Path) -> str:
    """The clips of `thirty_minutes`, 3 s apart (≈2 min): the same recognition work without the silence."""
    layout, cursor = [], 0.5
    for name in SPREAD_CLIPS:
        layout.append((cursor, clip(name)))
        cursor += samples(clip(name)).size / SAMPLE_RATE_HZ + 3.0
    arrange(served / "same_clips_packed.flac", layout, cursor)
    return "same_clips_packed.flac"


def run_sampling_rss(server: ServerProcess, file_url: str, timeout_s: float) -> tuple[Any, float, int]:
    """Submit and poll every 0.5 s, sampling VmRSS; (final response, seconds, highest sampled VmRSS kB)."""
    started = time.monotonic()
    sub = QwenTranscription.async_call(model=MODEL, file_url=file_url)
    assert sub.status_code == 200, (sub.code, sub.message)
    peak = 0
    while True:
        rsp = QwenTranscription.fetch(task=sub)
        peak = max(peak, server.memory_kb("VmRSS"))
        if rsp.output.task_status in TERMINAL:
            return rsp, time.monotonic() - started, peak
        assert time.monotonic() - started < timeout_s, f"not done in {timeout_s} s: {dict(rsp.output)}"
        time.sleep(0.5)


def test_thirty_minutes_in_bounded_memory(
    process_sdk: ServerProcess, static: str, thirty_minutes: list[Placement], same_clips_packed: str, served: Path
) -> None:
    server = process_sdk
    warm = poll(QwenTranscription.async_call(model=MODEL, file_url=f"{static}/{same_clips_packed}"), timeout_s=240)
    assert warm.output.task_status == "SUCCEEDED", dict(warm.output)

    hwm_before, rss_before = server.memory_kb("VmHWM"), server.memory_kb("VmRSS")
    rsp, elapsed, sampled = run_sampling_rss(server, f"{static}/thirty_minutes.flac", timeout_s=420)
    hwm_after = server.memory_kb("VmHWM")
    growth_mb = (hwm_after - hwm_before) / 1024
    size_mb = (served / "thirty_minutes.flac").stat().st_size / 1e6
    print(
        f"\n30 min with clips: {elapsed:.1f} s, {size_mb:.1f} MB FLAC; VmHWM {hwm_before / 1024:.1f} -> "
        f"{hwm_after / 1024:.1f} MB (+{growth_mb:.1f}); VmRSS at start {rss_before / 1024:.1f} MB, "
        f"sampled max {sampled / 1024:.1f} MB"
    )
    assert rsp.output.task_status == "SUCCEEDED", (dict(rsp.output), server.log_tail())
    assert rsp.usage["seconds"] == 1800
    assert growth_mb < PEAK_GROWTH_BOUND_MB, f"peak RSS grew by {growth_mb:.1f} MB"

    transcript = result_of(rsp)["transcripts"][0]
    check_sentences(transcript, THIRTY_MINUTES_S, words=False)
    sentences = transcript["sentences"]
    for s in sentences:  # nothing is heard in the silence between the clips
        assert any(
            p.start_s - 0.5 <= s["begin_time"] / 1000 and s["end_time"] / 1000 <= p.start_s + p.duration_s + 0.5
            for p in thirty_minutes
        ), s
    for p in thirty_minutes:  # and every clip is heard where it was put, with its own words
        inside = [s for s in sentences if p.start_s - 0.5 <= s["begin_time"] / 1000 <= p.start_s + p.duration_s]
        assert inside and inside[0]["begin_time"] / 1000 <= p.start_s + 1.5, (p, inside)
        text = " ".join(s["text"] for s in inside)
        assert wer(p.clip.reference, text) <= 0.25, (p.clip.name, text)

    # The sharp check: peak reset to the current RSS, then 30 minutes that never reach the recogniser.
    Path(f"/proc/{server.pid}/clear_refs").write_text("5")
    rss_start = server.memory_kb("VmRSS")
    rsp, elapsed, sampled = run_sampling_rss(server, f"{static}/thirty_minutes_of_silence.flac", timeout_s=300)
    peak_mb = (server.memory_kb("VmHWM") - rss_start) / 1024
    print(f"30 min of silence: {elapsed:.1f} s; peak RSS {peak_mb:+.1f} MB over {rss_start / 1024:.1f} MB at start")
    assert rsp.output.task_status == "SUCCEEDED", (dict(rsp.output), server.log_tail())
    assert rsp.usage["seconds"] == 1800
    silent = result_of(rsp)["transcripts"][0]
    assert (silent["text"], silent["sentences"]) == ("", [])
    assert peak_mb < SILENCE_PEAK_BOUND_MB, f"peak RSS rose {peak_mb:.1f} MB over 30 minutes of silence"


# ---------------------------------------------------------------------- 6. kill -9 and resume


@pytest.fixture(scope="module")
def seven_minutes(served: Path) -> Recording:
    """≈7 minutes of speech: every English clip, then all but the long one three more times, with 1–3 s
    pauses: enough rounds of batches (two batches of four chunks run at once) to stop it half-way."""
    english = load_clips("en")
    order = english + [c for c in english if c.name != "two_cities"] * 3
    layout, cursor = [], 0.5
    for i, c in enumerate(order):
        layout.append((cursor, c))
        cursor += samples(c).size / SAMPLE_RATE_HZ + (3.0 if i % 4 == 3 else 1.0)
    return arrange(served / "seven_minutes.flac", layout, cursor)


def test_kill_9_mid_task_resumes_to_the_same_transcript(
    process_sdk: ServerProcess, static: str, seven_minutes: Recording, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = process_sdk
    url = f"{static}/seven_minutes.flac"
    duration_s = seven_minutes.duration_s
    started = time.monotonic()
    sub = QwenTranscription.async_call(model=MODEL, file_url=url, enable_words=True)
    assert sub.status_code == 200, (sub.code, sub.message)

    # Kill once a good part is checkpointed but the task is not done.
    deadline = started + 300
    while True:
        rsp = QwenTranscription.fetch(task=sub)
        out = rsp.output
        if out.task_status == "RUNNING" and 0.2 <= out["progress"] < 1.0:
            break
        assert out.task_status in ("PENDING", "RUNNING"), f"task ended before the kill: {dict(out)}"
        assert time.monotonic() < deadline, f"no progress in 300 s: {dict(out)}"
        time.sleep(0.1)
    server.kill9()
    killed_at = time.monotonic() - started
    kill_progress, kill_done_s = out["progress"], out["audio_seconds_done"]

    server.start()
    aim(server, monkeypatch)
    restarted = time.monotonic()
    seen: list[float] = []  # progress as polled after the restart: never below the kill point
    while True:
        done = QwenTranscription.fetch(task=sub)
        assert done.status_code == 200, (done.code, done.message)
        seen.append(done.output["progress"])
        if done.output.task_status in TERMINAL:
            break
        assert done.output.task_status in ("PENDING", "RUNNING"), dict(done.output)
        assert time.monotonic() - restarted < 300, f"resumed task not done in 300 s: {dict(done.output)}"
        time.sleep(0.25)
    resume_s = time.monotonic() - restarted
    assert min(seen) >= kill_progress and seen == sorted(seen), (kill_progress, seen)  # resumed, not redone
    assert done.output.task_status == "SUCCEEDED", (dict(done.output), server.log_tail())
    assert done.usage["seconds"] == math.ceil(duration_s)
    interrupted = result_of(done)

    again = time.monotonic()
    fresh = poll(QwenTranscription.async_call(model=MODEL, file_url=url, enable_words=True), timeout_s=300)
    full_s = time.monotonic() - again
    print(
        f"\nkill -9 after {killed_at:.1f} s at progress {kill_progress:.3f} ({kill_done_s:.1f} of "
        f"{duration_s:.1f} s audio); resumed run {resume_s:.1f} s; uninterrupted run {full_s:.1f} s"
    )
    uninterrupted = result_of(fresh)

    assert transcripts_only(interrupted) == transcripts_only(uninterrupted)
    text = interrupted["transcripts"][0]["text"]
    reference = " ".join(p.clip.reference for p in seven_minutes.placements)
    assert wer(reference, text) <= 0.15, text
    check_sentences(interrupted["transcripts"][0], duration_s, words=True)


# ---------------------------------------------------------------------- 7. SIGTERM: drain and resume

SIGTERM_EXIT_BOUND_S = 75.0
"""`openasr serve` on SIGTERM: open requests get `shutdown_timeout_s` (30 s), then the worker finishes its
chunk and releases the task within another 30 s; this adds a margin for the interpreter's exit."""


@pytest.fixture(scope="module")
def english_once(served: Path) -> Recording:
    """Every English clip once with 1 s pauses (≈1.5 minutes): several batches, so SIGTERM lands mid-task."""
    layout, cursor = [], 0.5
    for c in load_clips("en"):
        layout.append((cursor, c))
        cursor += samples(c).size / SAMPLE_RATE_HZ + 1.0
    return arrange(served / "english_once.flac", layout, cursor)


def test_sigterm_mid_task_releases_it_and_a_restart_finishes_it_identically(
    process_sdk: ServerProcess, static: str, english_once: Recording, monkeypatch: pytest.MonkeyPatch
) -> None:
    from openasr.jobs.database import sqlite_url
    from openasr.jobs.records import TaskStatus
    from openasr.jobs.store import TaskStore

    server = process_sdk
    url = f"{static}/english_once.flac"
    sub = QwenTranscription.async_call(model=MODEL, file_url=url, enable_words=True)
    assert sub.status_code == 200, (sub.code, sub.message)
    deadline = time.monotonic() + 300
    while True:
        out = QwenTranscription.fetch(task=sub).output
        if out.task_status == "RUNNING" and out["progress"] > 0.0:
            break
        assert out.task_status in ("PENDING", "RUNNING"), f"task ended before SIGTERM: {dict(out)}"
        assert time.monotonic() < deadline, f"no progress in 300 s: {dict(out)}"
        time.sleep(0.05)

    assert server.proc is not None
    signalled = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    # uvicorn re-raises the signal once it has shut down gracefully, so the status is "killed by SIGTERM";
    # the store below shows the shutdown was the graceful one (a kill leaves the task RUNNING).
    assert server.proc.wait(timeout=SIGTERM_EXIT_BOUND_S) in (0, -signal.SIGTERM), server.log_tail()
    exit_s = time.monotonic() - signalled

    store = TaskStore(sqlite_url(server.data_dir))
    try:
        record = store.get(sub.output.task_id)
        assert record is not None
        assert record.status is TaskStatus.PENDING and record.claimed_by is None, record  # lease released
        assert record.attempts == 0, record  # a clean stop is not counted as a failed attempt
        kept = len(store.load_checkpoints(record.task_id))
    finally:
        store.close()
    assert kept >= 1, "the chunks recognised before SIGTERM were not checkpointed"

    server.start()
    aim(server, monkeypatch)
    done = poll(sub, timeout_s=300)
    assert done.output.task_status == "SUCCEEDED", (dict(done.output), server.log_tail())
    fresh = poll(QwenTranscription.async_call(model=MODEL, file_url=url, enable_words=True), timeout_s=300)
    print(f"\nSIGTERM at progress {out['progress']:.2f}: exited in {exit_s:.1f} s with {kept} checkpoint(s) kept")
    assert transcripts_only(result_of(done)) == transcripts_only(result_of(fresh))
