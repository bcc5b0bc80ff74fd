"""Limits, SSRF guard, local-path roots, rate limits and concurrency, against real servers."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jiwer
import numpy as np
import openai
import pytest
import requests
from static_server import static_server
from text_to_num import alpha2digit

from audio_files import Encoding, write_audio
from live_server import KEY, live_server, server_settings

DATA = Path(__file__).resolve().parents[1] / "data"
BECKETT = DATA / "en" / "beckett.wav"
GENERATION = "/api/v1/services/aigc/multimodal-generation/generation"
AUTH = {"Authorization": f"Bearer {KEY}"}


def body(audio: str, model: str = "qwen3-asr-flash") -> dict:
    return {"model": model, "input": {"messages": [{"role": "user", "content": [{"audio": audio}]}]}}


def data_uri(path: Path) -> str:
    mime = "audio/pcm" if path.suffix == ".raw" else "audio/octet-stream"
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode()


def normalized(text: str) -> str:
    text = alpha2digit(text.lower().replace("-", " "), "en")
    return " ".join("".join(ch for ch in text if ch.isalnum() or ch.isspace()).split())


@pytest.fixture(scope="module")
def static_files() -> Iterator[str]:
    """A real HTTP server on loopback serving tests/data (audio URLs for the server to fetch)."""
    with static_server(DATA) as url:
        yield url


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A server as deployed: private URLs refused, local paths only under one root."""
    root = tmp_path_factory.mktemp("root")
    (root / "beckett.wav").write_bytes(BECKETT.read_bytes())
    settings = server_settings(tmp_path_factory.mktemp("guarded"), allow_private_urls=False, file_roots=(root,))
    with live_server(settings) as url:
        yield url, root


@pytest.fixture(scope="module")
def lenient(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with live_server(server_settings(tmp_path_factory.mktemp("lenient"))) as url:
        yield url


def test_url_audio_is_fetched_when_private_urls_are_allowed(lenient: str, static_files: str) -> None:
    r = requests.post(f"{lenient}{GENERATION}", headers=AUTH, json=body(f"{static_files}/en/beckett.wav"))
    assert r.status_code == 200, r.text
    assert "fail better" in normalized(r.json()["output"]["choices"][0]["message"]["content"][0]["text"])


@pytest.mark.parametrize(
    "host", ["127.0.0.1:{port}", "localhost:{port}", "169.254.169.254", "[::1]:{port}", "10.0.0.1"]
)
def test_ssrf_private_addresses_are_refused(guarded: tuple[str, Path], static_files: str, host: str) -> None:
    port = static_files.rsplit(":", 1)[1]
    url = f"http://{host.format(port=port)}/en/beckett.wav"
    r = requests.post(f"{guarded[0]}{GENERATION}", headers=AUTH, json=body(url))
    assert r.status_code == 400 and r.json()["code"] == "InvalidParameter"
    assert "not allowed" in r.json()["message"]


def test_local_paths_only_under_the_roots(guarded: tuple[str, Path]) -> None:
    base, root = guarded
    ok = requests.post(f"{base}{GENERATION}", headers=AUTH, json=body(str(root / "beckett.wav")))
    assert ok.status_code == 200 and "fail better" in normalized(
        ok.json()["output"]["choices"][0]["message"]["content"][0]["text"]
    )
    for outside in ("/etc/passwd", str(root / ".." / "etc" / "passwd"), str(BECKETT)):
        r = requests.post(f"{base}{GENERATION}", headers=AUTH, json=body(outside))
        assert r.status_code == 400 and r.json()["code"] == "InvalidParameter", outside


def test_local_paths_are_refused_without_roots(lenient: str) -> None:
    r = requests.post(f"{lenient}{GENERATION}", headers=AUTH, json=body(str(BECKETT)))
    assert r.status_code == 400 and "local" in r.json()["message"].lower()


def test_six_minute_input_is_refused_by_its_duration(lenient: str, tmp_path: Path) -> None:
    rate = 16000
    speech = np.concatenate([np.zeros(rate * 354, np.float32), np.random.default_rng(0).normal(0, 0.01, rate * 6)])
    six_minutes = write_audio(tmp_path / "six.mp3", speech.astype(np.float32), "mp3")
    assert six_minutes.stat().st_size < 10 * 1024 * 1024
    r = requests.post(f"{lenient}{GENERATION}", headers=AUTH, json=body(data_uri(six_minutes)))
    assert r.status_code == 400 and r.json()["code"] == "InvalidParameter"
    assert "300 s" in r.json()["message"]


def test_twelve_megabyte_input_is_refused_by_its_size(lenient: str, tmp_path: Path) -> None:
    noise = np.random.default_rng(1).normal(0, 0.05, (2, 16000 * 66)).astype(np.float32)
    big = write_audio(tmp_path / "big.wav", noise, Encoding(".wav", "wav", "pcm_s16le", rate_hz=48_000))
    assert big.stat().st_size > 12 * 1000 * 1000
    r = requests.post(f"{lenient}{GENERATION}", headers=AUTH, json=body(data_uri(big)))
    assert r.status_code == 413 and r.json()["code"] == "BadRequest.TooLarge"  # its body passes the cap
    assert "MB" in r.json()["message"]
    oa = requests.post(
        f"{lenient}/compatible-mode/v1/chat/completions",
        headers=AUTH,
        json={
            "model": "qwen3-asr-flash",
            "messages": [
                {"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": data_uri(big)}}]}
            ],
        },
    )
    assert oa.status_code == 413 and oa.json()["error"]["code"] == "request_too_large"


def test_rate_limit_answers_429_and_lifts_after_the_window(tmp_path: Path) -> None:
    settings = server_settings(tmp_path, rate_limit_per_minute=3, rate_limit_window_s=2.0)
    with live_server(settings) as base:
        bad = body("data:audio/wav;base64,AAAA")
        statuses = [requests.post(f"{base}{GENERATION}", headers=AUTH, json=bad).status_code for _ in range(3)]
        assert statuses == [400, 400, 400]
        limited = requests.post(f"{base}{GENERATION}", headers=AUTH, json=bad)
        assert limited.status_code == 429 and limited.json()["code"] == "Throttling.RateQuota"
        assert 1 <= int(limited.headers["Retry-After"]) <= 2
        client = openai.OpenAI(api_key=KEY, base_url=f"{base}/compatible-mode/v1", max_retries=0)
        with pytest.raises(openai.RateLimitError) as exc:
            client.chat.completions.create(model="qwen3-asr-flash", messages=[{"role": "user", "content": "x"}])
        assert exc.value.code == "Throttling.RateQuota"  # DashScope's compatible mode, as observed there
        own = openai.OpenAI(api_key=KEY, base_url=f"{base}/v1", max_retries=0)
        with pytest.raises(openai.RateLimitError) as exc:
            own.audio.transcriptions.create(model="whisper-1", file=("a.wav", b"RIFF"))
        assert exc.value.code == "rate_limit_exceeded" and exc.value.type == "requests"  # OpenAI's own API
        time.sleep(2.1)
        assert requests.post(f"{base}{GENERATION}", headers=AUTH, json=bad).status_code == 400


def test_eight_concurrent_requests_get_their_own_texts(lenient: str) -> None:
    manifest = json.loads((DATA / "manifest.json").read_text())["clips"]
    clips = [c for c in manifest if c["language"] == "en" and "cards_00" not in c["file"]][:8]
    assert len(clips) == 8

    def recognise(clip: dict) -> str:
        r = requests.post(f"{lenient}{GENERATION}", headers=AUTH, json=body(data_uri(DATA / clip["file"])))
        assert r.status_code == 200, r.text
        return str(r.json()["output"]["choices"][0]["message"]["content"][0]["text"])

    with ThreadPoolExecutor(max_workers=8) as pool:
        texts = list(pool.map(recognise, clips))
    references = [normalized(c["reference"]) for c in clips]
    for i, text in enumerate(texts):
        errors = [jiwer.wer(ref, normalized(text)) for ref in references]
        assert errors[i] < 0.25, (clips[i]["file"], text)
        assert errors[i] == min(errors), f"{clips[i]['file']} got another request's text: {text!r}"
