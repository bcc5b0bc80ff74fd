"""Back-pressure on a real server: sync work whose predicted wait is over the bound is refused with
Retry-After, not queued."""

from __future__ import annotations

import base64
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from live_server import KEY, live_server, server_settings

DATA = Path(__file__).resolve().parents[1] / "data"
TWO_CITIES = DATA / "en" / "two_cities.flac"
BECKETT = DATA / "en" / "beckett.wav"
GENERATION = "/api/v1/services/aigc/multimodal-generation/generation"
AUTH = {"Authorization": f"Bearer {KEY}"}


def words(text: str) -> str:
    return " ".join("".join(ch for ch in text.lower() if ch.isalnum() or ch.isspace()).split())


def test_sync_requests_over_the_bound_get_retry_after_and_tasks_are_still_accepted(tmp_path: Path) -> None:
    """A bound of 5 s of predicted wait: the first 44 s request is admitted onto the empty queue; behind it
    a second 44 s request would wait about 11 s at the prior rate, so the others are refused at once —
    503 `Throttling` on DashScope, 429 on OpenAI."""
    uri = "data:audio/flac;base64," + base64.b64encode(TWO_CITIES.read_bytes()).decode()
    native = {"model": "qwen3-asr-flash", "input": {"messages": [{"role": "user", "content": [{"audio": uri}]}]}}
    with live_server(server_settings(tmp_path, max_wait_s=5)) as base:
        start = threading.Barrier(6)
        answers: dict[str, requests.Response] = {}

        def dashscope(name: str) -> None:
            start.wait()
            answers[name] = requests.post(f"{base}{GENERATION}", headers=AUTH, json=native, timeout=300)

        def openai(name: str) -> None:
            start.wait()
            files = {"file": ("a.flac", TWO_CITIES.read_bytes(), "audio/flac")}
            answers[name] = requests.post(
                f"{base}/v1/audio/transcriptions", headers=AUTH, files=files, data={"model": "whisper-1"}, timeout=300
            )

        threads = [threading.Thread(target=dashscope, args=(f"ds{i}",)) for i in range(3)]
        threads += [threading.Thread(target=openai, args=(f"oa{i}",)) for i in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        submit = requests.post(
            f"{base}/api/v1/services/audio/asr/transcription",
            headers={**AUTH, "X-DashScope-Async": "enable"},
            json={"model": "qwen3-asr-flash-filetrans", "input": {"file_url": "https://example.invalid/a.wav"}},
            timeout=30,
        )

    statuses = {name: r.status_code for name, r in answers.items()}
    assert all(s < 500 or s == 503 for s in statuses.values()), statuses
    accepted = [r for r in answers.values() if r.status_code == 200]
    refused = [(name, r) for name, r in answers.items() if r.status_code != 200]
    assert 1 <= len(accepted) < 6 and refused, statuses
    for r in accepted:
        body = r.json()
        text = body["text"] if "text" in body else body["output"]["choices"][0]["message"]["content"][0]["text"]
        assert "best of times" in words(text)
    for name, r in refused:
        assert int(r.headers["Retry-After"]) >= 1
        if name.startswith("ds"):
            assert r.status_code == 503 and r.json()["code"] == "Throttling"
        else:
            assert r.status_code == 429 and r.json()["error"]["code"] == "server_busy"
    assert submit.status_code == 200 and submit.json()["output"]["task_status"] == "PENDING"


def rss_mb() -> float:
    """This process's resident memory: the server runs in a thread of it."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads resident memory from /proc")
def test_a_burst_of_clients_is_answered_and_memory_comes_back(tmp_path: Path) -> None:
    """40 clients at once with a 5 s clip each, a bound of 3 s of predicted wait: some are served (each with its text),
    the rest refused with Retry-After, none gets another error, and memory returns near its idle level."""
    uri = "data:audio/wav;base64," + base64.b64encode(BECKETT.read_bytes()).decode()
    native = {"model": "qwen3-asr-flash", "input": {"messages": [{"role": "user", "content": [{"audio": uri}]}]}}
    with live_server(server_settings(tmp_path, max_wait_s=3)) as base:
        requests.post(f"{base}{GENERATION}", headers=AUTH, json=native, timeout=120).raise_for_status()  # warm
        idle = rss_mb()
        start = threading.Barrier(40)

        def one(_: int) -> requests.Response:
            start.wait()
            return requests.post(f"{base}{GENERATION}", headers=AUTH, json=native, timeout=300)

        with ThreadPoolExecutor(max_workers=40) as pool:
            answers = list(pool.map(one, range(40)))
        after = rss_mb()
    statuses = sorted(r.status_code for r in answers)
    assert set(statuses) <= {200, 503} and 200 in statuses and 503 in statuses, statuses
    for r in answers:
        if r.status_code == 200:
            assert "fail better" in words(r.json()["output"]["choices"][0]["message"]["content"][0]["text"])
        else:
            assert r.json()["code"] == "Throttling" and int(r.headers["Retry-After"]) >= 1
    assert after - idle < 150, (idle, after)
