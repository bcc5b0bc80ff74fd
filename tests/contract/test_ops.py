"""Running openasr as a service: /metrics, usage per key, /health and /ready, offline docs, request logs.

One server with two tenant keys and an admin key (`ops_server`; the usage test starts its own, with an
empty store), real speech from tests/data (sync data
URIs, OpenAI multipart uploads, an async task fetched from a loopback static server), and a second
server for what needs other settings (a rate limit of one request, a readiness queue limit below zero).
"""

from __future__ import annotations

import base64
import json
import logging
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from static_server import static_server
from typer.testing import CliRunner

from audio_files import SAMPLE_RATE_HZ, load_clip
from live_server import KEY, file_task, live_server, server_settings
from openasr.cli.main import app as cli
from openasr.core.keys import key_id
from openasr.server.logs import JsonFormatter
from speech_clips import clip

OTHER = "sk-ops-other-tenant"
ADMIN = "sk-ops-admin"
BECKETT = clip("beckett")
TWO_CITIES = clip("two_cities")
DASHSCOPE = "/api/v1/services/aigc/multimodal-generation/generation"
SUBMIT = "/api/v1/services/audio/asr/transcription"

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture(scope="module")
def ops_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = server_settings(tmp_path_factory.mktemp("ops"), api_keys=(KEY, OTHER), admin_keys=(ADMIN,), workers=1)
    with live_server(settings) as url:
        yield url


@pytest.fixture(scope="module")
def static() -> Iterator[str]:
    with static_server(BECKETT.path.parent) as url:
        yield url


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def scrape(base: str) -> Samples:
    text = requests.get(f"{base}/metrics", timeout=30).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def duration_s(path: Path) -> float:
    return load_clip(path).size / SAMPLE_RATE_HZ


def dashscope_body(path: Path, model: str = "qwen3-asr-flash") -> bytes:
    data = base64.b64encode(path.read_bytes()).decode()
    message = {"role": "user", "content": [{"audio": f"data:audio/wav;base64,{data}"}]}
    return json.dumps({"model": model, "input": {"messages": [message]}}).encode()


def post_dashscope(base: str, key: str, body: bytes, **headers: str) -> requests.Response:
    return requests.post(
        f"{base}{DASHSCOPE}",
        data=body,
        headers={**auth(key), "Content-Type": "application/json", **headers},
        timeout=120,
    )


def transcribe_openai(base: str, key: str, path: Path) -> dict[str, Any]:
    with path.open("rb") as f:
        r = requests.post(
            f"{base}/v1/audio/transcriptions", headers=auth(key), files={"file": f}, data={"model": "whisper-1"}
        )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def label_values(samples: Samples) -> set[str]:
    return {v for (_, labels) in samples for _, v in labels}


# ----------------------------------------------------------------------------------------- metrics


def test_metrics_move_by_the_right_amounts(ops_server: str) -> None:
    before = scrape(ops_server)
    sync_body = dashscope_body(BECKETT.path)
    sync = post_dashscope(ops_server, KEY, sync_body)
    assert sync.status_code == 200, sync.text
    unknown_body = dashscope_body(BECKETT.path, model="no-such-model")
    assert post_dashscope(ops_server, KEY, unknown_body).status_code == 404
    openai = transcribe_openai(ops_server, KEY, BECKETT.path)
    after = scrape(ops_server)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    ok = {"surface": "dashscope", "route": DASHSCOPE, "model": "qwen3-asr-flash", "status": "200"}
    assert delta("openasr_requests_total", **ok) == 1
    assert delta("openasr_requests_total", **{**ok, "model": "", "status": "404"}) == 1  # unknown names: no label
    route = "/v1/audio/transcriptions"
    assert delta("openasr_requests_total", surface="openai", route=route, model="whisper-1", status="200") == 1
    assert delta("openasr_request_duration_seconds_count", surface="dashscope", route=DASHSCOPE) == 2
    seconds = duration_s(BECKETT.path)
    recognised = delta("openasr_audio_recognised_seconds_total", surface="dashscope", model="qwen3-asr-flash")
    assert recognised == pytest.approx(seconds, abs=0.01)
    assert delta("openasr_audio_recognised_seconds_total", surface="openai", model="whisper-1") == pytest.approx(
        seconds, abs=0.01
    )
    assert openai["usage"]["seconds"] == sync.json()["usage"]["seconds"] == math.ceil(seconds)
    assert delta("openasr_upload_bytes_total", surface="dashscope") == len(sync_body) + len(unknown_body)
    assert delta("openasr_upload_bytes_total", surface="openai") > BECKETT.path.stat().st_size

    assert delta("openasr_engine_batch_size_chunks_count", model="whisper-base") >= 2  # one chunk per request
    assert delta("openasr_engine_batch_size_chunks_sum", model="whisper-base") >= 2
    assert delta("openasr_engine_busy_seconds_total", model="whisper-base") > 0
    for priority in ("interactive", "bulk"):
        assert ("openasr_engine_queued_chunks", (("model", "whisper-base"), ("priority", priority))) in after
    assert ("openasr_tasks", (("state", "PENDING"),)) in after
    assert not {KEY, OTHER, ADMIN, key_id(KEY)} & label_values(after)


def test_rate_limit_refusals_and_readiness_name_what_is_wrong(tmp_path: Path) -> None:
    settings = server_settings(tmp_path, rate_limit_per_minute=1, ready_max_queued_chunks=-1)
    with live_server(settings) as base:
        health = requests.get(f"{base}/health", timeout=10)
        assert health.status_code == 200 and health.json()["status"] == "ok"
        ready = requests.get(f"{base}/ready", timeout=10)
        assert ready.status_code == 503
        assert ready.json()["not_ready"] == ["queue"]  # the limit is below any queue; all else is fine
        assert ready.json()["checks"]["model"]["ok"] and ready.json()["checks"]["store"]["ok"]

        submit = {"model": "qwen3-asr-flash-filetrans", "input": {"file_url": "ftp://x"}}
        headers = {**auth(KEY), "X-DashScope-Async": "enable"}
        first = requests.post(f"{base}/api/v1/services/audio/asr/transcription", headers=headers, json=submit)
        refused = requests.post(f"{base}/api/v1/services/audio/asr/transcription", headers=headers, json=submit)
        assert (first.status_code, refused.status_code) == (400, 429)  # invocations count, even refused ones
        metrics = scrape(base)
    assert value(metrics, "openasr_rate_limited_requests_total", surface="task") == 1


def test_ready_when_loaded_and_reachable(ops_server: str) -> None:
    ready = requests.get(f"{ops_server}/ready", timeout=10)
    assert ready.status_code == 200, ready.text
    body = ready.json()
    assert body["ready"] is True and body["not_ready"] == []
    assert set(body["checks"]) == {"model", "store", "queue", "accepting"}


# ------------------------------------------------------------------------------------------- usage


def usage(base: str, key: str, **params: str) -> requests.Response:
    return requests.get(f"{base}/api/v1/usage", headers=auth(key), params=params, timeout=30)


def wait_for_requests(base: str, key: str, count: int) -> dict[str, Any]:
    """Usage rows are written just after each response is sent: poll until `count` calls are in."""
    deadline = time.monotonic() + 30
    while True:
        body: dict[str, Any] = usage(base, key).json()
        if body["total"]["requests"] >= count or time.monotonic() > deadline:
            return body
        time.sleep(0.1)


def abandon_stream(base: str, key: str, path: Path) -> dict[str, Any]:
    """Stream a recognition, read its first event, then hang up; the first event's payload."""
    with requests.post(
        f"{base}{DASHSCOPE}",
        data=dashscope_body(path),
        headers={**auth(key), "Content-Type": "application/json", "X-DashScope-SSE": "enable"},
        stream=True,
        timeout=120,
    ) as r:
        assert r.status_code == 200
        for line in r.iter_lines(decode_unicode=True):
            if line.startswith("data:"):
                first: dict[str, Any] = json.loads(line[5:])
                return first
    raise AssertionError("the stream sent no event")


def test_usage_per_key_totals_what_responses_reported(tmp_path: Path, static: str) -> None:
    settings = server_settings(tmp_path, api_keys=(KEY, OTHER), admin_keys=(ADMIN,), workers=1)
    with live_server(settings) as base:  # its own store: no other test's usage in the totals
        check_usage(base, static)


def check_usage(base: str, static: str) -> None:
    sync = post_dashscope(base, KEY, dashscope_body(BECKETT.path))
    assert sync.status_code == 200, sync.text
    openai = transcribe_openai(base, KEY, TWO_CITIES.path)
    first_event = abandon_stream(base, OTHER, TWO_CITIES.path)
    task = file_task(base, f"{static}/{BECKETT.path.name}", OTHER)
    assert task["output"]["task_status"] == "SUCCEEDED", task

    mine = wait_for_requests(base, KEY, 2)
    assert mine["scope"] == "own" and {r["api_key_id"] for r in mine["usage"]} == {key_id(KEY)}
    assert mine["total"]["seconds"] == sync.json()["usage"]["seconds"] + openai["usage"]["seconds"]
    by_model = {r["model"]: r for r in mine["usage"]}
    assert by_model["qwen3-asr-flash"]["input_tokens"] == 25 * sync.json()["usage"]["seconds"]
    assert by_model["whisper-1"]["output_tokens"] > 0

    theirs = wait_for_requests(base, OTHER, 2)
    rows = {r["model"]: r for r in theirs["usage"]}
    assert rows["qwen3-asr-flash-filetrans"]["seconds"] == task["usage"]["seconds"]
    abandoned = rows["qwen3-asr-flash"]
    assert abandoned["requests"] == 1
    # What was recognised before the client hung up: at least the first chunk, at most the whole file.
    assert first_event["usage"]["seconds"] >= abandoned["seconds"] >= 1
    assert abandoned["seconds"] <= math.ceil(duration_s(TWO_CITIES.path))

    assert usage(base, OTHER, api_key_id=key_id(KEY)).status_code == 403  # not an admin key
    everyone = usage(base, ADMIN).json()
    assert everyone["scope"] == "all"
    assert {key_id(KEY), key_id(OTHER)} <= {r["api_key_id"] for r in everyone["usage"]}
    assert KEY not in json.dumps(everyone) and OTHER not in json.dumps(everyone)
    assert not {KEY, OTHER, key_id(KEY), key_id(OTHER), task["output"]["task_id"]} & label_values(scrape(base))

    shown = CliRunner().invoke(cli, ["usage", "--server", base, "--api-key", ADMIN, "--json"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["total"] == usage(base, ADMIN).json()["total"]
    table = CliRunner().invoke(cli, ["usage", "--server", base, "--api-key", KEY])
    assert table.exit_code == 0 and key_id(KEY) in table.output and str(mine["total"]["seconds"]) in table.output


def test_usage_rejects_bad_dates(ops_server: str) -> None:
    r = usage(ops_server, KEY, start="yesterday")
    assert r.status_code == 400 and r.json()["code"] == "InvalidParameter" and "start" in r.json()["message"]
    assert usage(ops_server, KEY, start="2026-02-02", end="2026-02-01").status_code == 400


# -------------------------------------------------------------------------------------------- docs


def test_openapi_documents_errors_and_capabilities(ops_server: str) -> None:
    schema = requests.get(f"{ops_server}/openapi.json", timeout=10).json()
    info = schema["info"]
    assert info["x-capabilities"]["emotion"] is False and info["x-capabilities"]["word_timestamps"] is True
    assert "emotion: **not active**" in info["description"]
    assert info["x-capabilities"]["translation"] is True
    assert "translation to English (`POST /v1/audio/translations`): active" in info["description"]
    envelopes = {"DashScopeError", "OpenAIError"}
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            answers = operation["responses"]
            ok = answers["200"]["content"]
            assert all(c["schema"] for c in ok.values()), (method, path)
            if "application/json" in ok:  # a named model, not `{}`
                json_schema = ok["application/json"]["schema"]
                refs = [json_schema.get("$ref")] + [s.get("$ref") for s in json_schema.get("anyOf", [])]
                assert any(refs), (method, path)
            ref = answers["5XX"]["content"]["application/json"]["schema"]["$ref"]
            assert ref.rsplit("/", 1)[-1] in envelopes, (method, path)
            if path.startswith(("/api/v1/", "/results/", "/v1/", "/compatible")):
                ref = answers["4XX"]["content"]["application/json"]["schema"]["$ref"]
                assert ref.rsplit("/", 1)[-1] in envelopes, (method, path)
            if method == "post" and not path.endswith("/cancel"):  # cancel takes no body
                assert "requestBody" in operation, (method, path)
    assert {"/metrics", "/ready", "/health", "/api/v1/usage"} <= set(schema["paths"])


# -------------------------------------------------------------------------------------------- logs


def test_one_log_line_per_request_without_secrets(ops_server: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="openasr.access"):
        r = post_dashscope(ops_server, KEY, dashscope_body(BECKETT.path))
        rid = r.headers["x-request-id"]
        deadline = time.monotonic() + 10
        while not [x for x in caplog.records if rid in x.getMessage()] and time.monotonic() < deadline:
            time.sleep(0.05)
    lines = [x for x in caplog.records if x.name == "openasr.access" and rid in x.getMessage()]
    assert len(lines) == 1
    record = lines[0]
    as_json = json.loads(JsonFormatter().format(record))
    assert as_json["request_id"] == rid and as_json["key_id"] == key_id(KEY) and as_json["status"] == 200
    assert as_json["surface"] == "dashscope" and as_json["model"] == "qwen3-asr-flash"
    assert as_json["audio_s"] == pytest.approx(duration_s(BECKETT.path), abs=0.01) and as_json["latency_ms"] > 0
    assert KEY not in json.dumps(as_json) and KEY not in record.getMessage()
