"""Hostile and careless traffic against a real server: no 500 on any input, limits that cannot be
bypassed, the key and the size checked before a body is read, and the real SDKs' quirks answered."""

from __future__ import annotations

import base64
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import dashscope
import numpy as np
import openai
import pytest
import requests
from context_limit import refused_naming_the_context, with_context
from dashscope.audio.qwen_asr import QwenTranscription

from audio_files import write_long_flac
from live_server import KEY, live_server, server_settings

DATA = Path(__file__).resolve().parents[1] / "data"
BECKETT = DATA / "en" / "beckett.wav"
TWO_CITIES = DATA / "en" / "two_cities.flac"
GENERATION = "/api/v1/services/aigc/multimodal-generation/generation"
SUBMIT = "/api/v1/services/audio/asr/transcription"
AUTH = {"Authorization": f"Bearer {KEY}"}


def body(audio: str, **parameters: object) -> dict:
    return {
        "model": "qwen3-asr-flash",
        "input": {"messages": [{"role": "user", "content": [{"audio": audio}]}]},
        "parameters": parameters,
    }


def data_uri(path: Path) -> str:
    return "data:audio/flac;base64," + base64.b64encode(path.read_bytes()).decode()


def words(text: str) -> str:
    return " ".join("".join(ch for ch in text.lower() if ch.isalnum() or ch.isspace()).split())


def without_length(flac: Path, target: Path) -> Path:
    """The same FLAC with STREAMINFO's total samples set to 0: "unknown length", which is legal."""
    data = bytearray(flac.read_bytes())
    assert data[:4] == b"fLaC" and data[4] & 0x7F == 0  # STREAMINFO is the first metadata block
    data[21] &= 0xF0  # the 36-bit total starts in the low nibble of STREAMINFO's 14th byte
    data[22:26] = bytes(4)
    target.write_bytes(bytes(data))
    return target


def silent_flac(path: Path, seconds: int) -> Path:
    return write_long_flac(path, (np.zeros(16000, np.float32) for _ in range(seconds)))


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with live_server(server_settings(tmp_path_factory.mktemp("hostile"))) as url:
        yield url


def test_a_flac_of_unknown_length_is_measured_by_decoding(base: str, tmp_path: Path) -> None:
    unknown = without_length(TWO_CITIES, tmp_path / "unknown.flac")
    r = requests.post(f"{base}{GENERATION}", headers=AUTH, json=body(data_uri(unknown)), timeout=120)
    assert r.status_code == 200, r.text
    assert r.json()["usage"]["seconds"] == 45  # 44.37 s decoded, not the 0 the header declares
    assert "best of times" in words(r.json()["output"]["choices"][0]["message"]["content"][0]["text"])


def test_an_over_long_flac_of_unknown_length_fails_like_a_declared_one(base: str, tmp_path: Path) -> None:
    declared = silent_flac(tmp_path / "declared.flac", 399)
    unknown = without_length(declared, tmp_path / "unknown.flac")
    answers = [
        requests.post(f"{base}{GENERATION}", headers=AUTH, json=body(data_uri(p)), timeout=60)
        for p in (declared, unknown)
    ]
    assert [a.status_code for a in answers] == [400, 400]
    assert {a.json()["code"] for a in answers} == {"InvalidParameter"}
    assert all("300 s" in a.json()["message"] for a in answers), [a.text for a in answers]


@pytest.mark.parametrize("filename", ["..", ".", "/", "x" * 300 + ".wav", "a\0b.wav", "../../etc/passwd"])
def test_any_upload_filename_is_transcribed(base: str, filename: str) -> None:
    files = {"file": (filename, BECKETT.read_bytes(), "audio/wav")}
    r = requests.post(
        f"{base}/v1/audio/transcriptions", headers=AUTH, files=files, data={"model": "whisper-1"}, timeout=60
    )
    assert r.status_code == 200, r.text
    assert "fail better" in words(r.json()["text"])


def test_bad_pages_headers_and_keys_are_client_errors(base: str) -> None:
    page = requests.get(f"{base}/api/v1/tasks", headers=AUTH, params={"page_no": 10**18}, timeout=10)
    assert page.status_code == 400 and page.json()["code"] == "InvalidParameter"
    for header in ("Bearer ключ", "Bearer sk-\u00e9t\u00e9"):
        r = requests.get(f"{base}/api/v1/tasks", headers={"Authorization": header.encode()}, timeout=10)
        assert r.status_code == 401 and r.json()["code"] == "InvalidApiKey"


def raw_exchange(base: str, head: str, payload: bytes = b"") -> tuple[int, bytes]:
    """Send a request by hand (a lying Content-Length cannot be sent with requests); the status and body."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(head.encode() + b"\r\n" + payload)
        answer = b""
        while b"\r\n\r\n" not in answer or len(answer.split(b"\r\n\r\n", 1)[1]) < _length(answer):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    status = int(answer.split(b" ", 2)[1])
    return status, answer.split(b"\r\n\r\n", 1)[1]


def _length(answer: bytes) -> int:
    for line in answer.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":")[1])
    return 0


@pytest.mark.parametrize(
    "path", [GENERATION, SUBMIT, "/v1/audio/transcriptions", "/compatible-mode/v1/chat/completions"]
)
def test_the_key_and_the_declared_size_are_checked_before_the_body(base: str, path: str) -> None:
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2000000000\r\n"
    status, answer = raw_exchange(base, head, b'{"model": "x"')
    assert status == 401, answer  # no key: refused before a byte of the body is read
    status, answer = raw_exchange(base, head + f"Authorization: Bearer {KEY}\r\n", b'{"model": "x"')
    assert status == 413, answer
    envelope = json.loads(answer)
    code = envelope["error"]["code"] if "error" in envelope else envelope["code"]
    assert code in ("BadRequest.TooLarge", "request_too_large")


def test_a_body_that_grows_past_the_cap_is_cut_off(base: str) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"model": "qwen3-asr-flash", "input": {"messages": [{"role": "user", "content": "data:audio/wav;base64,'
        for _ in range(20):
            yield b"A" * 1024 * 1024
        yield b'"}]}}'

    r = requests.post(f"{base}{GENERATION}", headers=AUTH, data=chunks(), timeout=60)  # chunked: no length
    assert r.status_code == 413 and r.json()["code"] == "BadRequest.TooLarge"


def test_a_system_message_without_content_is_an_empty_context(base: str) -> None:
    b = body(data_uri(BECKETT))
    b["input"]["messages"].insert(0, {"role": "system"})
    r = requests.post(f"{base}{GENERATION}", headers=AUTH, json=b, timeout=60)
    assert r.status_code == 200, r.text
    assert "fail better" in words(r.json()["output"]["choices"][0]["message"]["content"][0]["text"])
    chat = openai.OpenAI(api_key=KEY, base_url=f"{base}/compatible-mode/v1", max_retries=0)
    b64 = base64.b64encode(BECKETT.read_bytes()).decode()
    reply = chat.chat.completions.create(
        model="qwen3-asr-flash",
        messages=[
            {"role": "system", "content": None},  # type: ignore[typeddict-item]
            {"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": f"data:;base64,{b64}"}}]},  # type: ignore[list-item]
        ],
    )
    assert "fail better" in words(reply.choices[0].message.content or "")


def test_a_context_over_the_limit_is_refused_on_every_surface_before_recognition(base: str) -> None:
    # Whisper has no tokenizer of its own for the limit: the whitespace/CJK estimate counts 10,001 tokens
    refused = with_context(base, "word " * 10_001)
    assert all(refused_naming_the_context(r) for r in refused.values()), {k: r.text for k, r in refused.items()}


@pytest.mark.parametrize("field", ["enable_itn", "stream"])
def test_booleans_are_strict(base: str, field: str) -> None:
    if field == "enable_itn":
        r = requests.post(
            f"{base}{GENERATION}",
            headers=AUTH,
            json=body(data_uri(BECKETT), asr_options={"enable_itn": "yes"}),
            timeout=30,
        )
        assert r.status_code == 400 and "enable_itn" in r.json()["message"], r.text
    else:
        files = {"file": ("a.wav", BECKETT.read_bytes(), "audio/wav")}
        r = requests.post(
            f"{base}/v1/audio/transcriptions", headers=AUTH, files=files, data={"stream": "yes"}, timeout=30
        )
        assert r.status_code == 400 and r.json()["error"]["param"] == "stream"


def test_incremental_stream_reports_every_output_token_at_the_end(base: str) -> None:
    dashscope.base_http_api_url = f"{base}/api/v1"
    dashscope.api_key = KEY
    messages = [{"role": "user", "content": [{"audio": data_uri(TWO_CITIES)}]}]
    whole = dashscope.MultiModalConversation.call(model="qwen3-asr-flash", messages=messages)
    events = list(
        dashscope.MultiModalConversation.call(
            model="qwen3-asr-flash", messages=messages, stream=True, incremental_output=True
        )
    )
    expected = whole.usage["output_tokens_details"]["text_tokens"]
    assert expected > 20
    assert events[-1].usage["output_tokens_details"]["text_tokens"] == expected
    assert events[-1].usage["seconds"] == whole.usage["seconds"] == 45


@pytest.mark.parametrize("model", ["whisper-1", "qwen3-asr-flash"])
def test_openai_sdk_streams_a_transcription(base: str, model: str) -> None:
    client = openai.OpenAI(api_key=KEY, base_url=f"{base}/v1", max_retries=0)
    with TWO_CITIES.open("rb") as f:
        events = list(client.audio.transcriptions.create(model=model, file=f, stream=True))
    deltas = [e for e in events if e.type == "transcript.text.delta"]
    done = events[-1]
    assert len(deltas) >= 2 and done.type == "transcript.text.done"
    assert "".join(d.delta for d in deltas) == done.text
    assert "best of times" in words(done.text) and "age of foolishness" in words(done.text)
    assert done.usage is not None and done.usage.output_tokens > 20
    assert done.usage.input_token_details is not None and done.usage.input_token_details.audio_tokens == 45 * 25


def test_the_rate_limit_counts_invocations_only(tmp_path: Path) -> None:
    with live_server(server_settings(tmp_path, rate_limit_per_minute=2)) as base:
        for _ in range(5):  # polls, lists and policies are not model invocations
            assert requests.get(f"{base}/api/v1/tasks", headers=AUTH, timeout=10).status_code == 200
            assert requests.get(f"{base}/api/v1/tasks/none", headers=AUTH, timeout=10).status_code == 200
            policy = {"action": "getPolicy", "model": "qwen3-asr-flash"}
            assert requests.get(f"{base}/api/v1/uploads", headers=AUTH, params=policy, timeout=10).status_code == 200
        bad = body("data:audio/wav;base64,AAAA")
        statuses = [requests.post(f"{base}{GENERATION}", headers=AUTH, json=bad, timeout=10) for _ in range(3)]
        assert [s.status_code for s in statuses] == [400, 400, 429]
        assert int(statuses[-1].headers["Retry-After"]) >= 1


def test_sdk_waits_and_local_files_fit_in_the_rate_limit(tmp_path: Path) -> None:
    """Three invocations allowed: two tasks waited on with the SDK's polling, and one local file (which
    the SDK uploads with E2 + E3 first) all succeed; only a fourth invocation is refused."""
    with live_server(server_settings(tmp_path, rate_limit_per_minute=3, file_roots=(DATA,))) as base:
        dashscope.base_http_api_url = f"{base}/api/v1"
        dashscope.api_key = KEY
        tasks = [
            QwenTranscription.async_call(model="qwen3-asr-flash-filetrans", file_url=str(BECKETT)) for _ in range(2)
        ]
        assert all(t.status_code == 200 for t in tasks), tasks
        done = [QwenTranscription.wait(task=t, wait_timeout=120) for t in tasks]
        assert [d.output.task_status for d in done] == ["SUCCEEDED", "SUCCEEDED"], done
        local = dashscope.MultiModalConversation.call(
            model="qwen3-asr-flash", messages=[{"role": "user", "content": [{"audio": f"file://{BECKETT}"}]}]
        )
        assert local.status_code == 200, local
        assert "fail better" in words(local.output.choices[0].message.content[0]["text"])
        over = dashscope.MultiModalConversation.call(
            model="qwen3-asr-flash", messages=[{"role": "user", "content": [{"audio": f"file://{BECKETT}"}]}]
        )
        assert over.status_code == 429 and over.code == "Throttling.RateQuota"
