"""DashScope native sync recognition (E1): the real dashscope SDK and raw HTTP (spec §13 R1, R3–R5, R8, R9)."""

from __future__ import annotations

import asyncio
import base64
import json
import math
from pathlib import Path

import dashscope
import numpy as np
import pytest
import requests
from asr_metrics import score

from audio_files import run_together, write_audio
from live_server import KEY, live_server, server_settings

DATA = Path(__file__).resolve().parents[1] / "data"
BECKETT = DATA / "en" / "beckett.wav"


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> str:
    with live_server(server_settings(tmp_path_factory.mktemp("ds"))) as url:
        dashscope.base_http_api_url = f"{url}/api/v1"
        dashscope.api_key = KEY
        yield url


def data_uri(path: Path, mime: str = "audio/wav") -> str:
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode()}"


def user(audio: str) -> list[dict]:
    return [{"role": "user", "content": [{"audio": audio}]}]


def text_of(rsp) -> str:  # type: ignore[no-untyped-def]
    return "".join(c.get("text", "") for c in rsp.output.choices[0].message.content)


def words(text: str) -> str:
    return " ".join("".join(ch for ch in text.lower() if ch.isalnum() or ch.isspace()).split())


def test_r1_data_uri_with_context_and_options(base: str) -> None:
    msgs = [
        {"role": "system", "content": [{"text": "Samuel Beckett, Worstward Ho"}]},
        *user(data_uri(BECKETT)),
    ]
    r = dashscope.MultiModalConversation.call(
        model="qwen3-asr-flash",
        messages=msgs,
        result_format="message",
        asr_options={"language": "en", "enable_itn": False},
    )
    assert r.status_code == 200, (r.code, r.message)
    assert r.request_id
    msg = r.output.choices[0].message
    assert msg.role == "assistant" and r.output.choices[0].finish_reason == "stop"
    assert words(text_of(r)) == "ever tried ever failed no matter try again fail again fail better"
    ann = msg["annotations"][0]
    assert ann == {"type": "audio_info", "language": "en"}  # no emotion key: no classifier is active
    assert r.usage["seconds"] == math.ceil(9.96)
    assert r.usage["output_tokens_details"]["text_tokens"] > 0


@pytest.mark.parametrize("layout", ["one after another", "two channels"])
def test_an_utterance_right_after_another_is_not_lost(base: str, tmp_path: Path, layout: str) -> None:
    """Cards, then 0.05 s later Beckett: both in the text, mixed from one track or from two channels."""
    first, second = run_together(DATA / "en" / "cards_005.wav", BECKETT, gap_s=0.05)
    samples = first + second if layout == "one after another" else np.stack([first, second])
    path = write_audio(tmp_path / "joined.wav", samples, "wav")
    r = dashscope.MultiModalConversation.call(model="qwen3-asr-flash", messages=user(data_uri(path)))
    assert r.status_code == 200, (r.code, r.message)
    text = words(text_of(r))
    assert "spades" in text and "hearts" in text and "fail better" in text, text


def test_language_is_detected_when_not_given(base: str) -> None:
    zh = DATA / "zh" / "aishell1_BAC009S0768W0290.wav"
    r = dashscope.MultiModalConversation.call(model="qwen3-asr-flash-2026-02-10", messages=user(data_uri(zh)))
    assert r.status_code == 200
    assert r.output.choices[0].message["annotations"][0]["language"] == "zh"
    reference = "认定从中国进口的乘用车和轻型卡车轮胎存在倾销行为"  # tests/data/manifest.json
    assert score(reference, text_of(r), "zh").rate <= 0.35, text_of(r)  # Whisper base: 17-21 % on this clip by CPU


def test_r3_stream_modes_agree(base: str) -> None:
    long_clip = DATA / "en" / "two_cities.flac"
    msgs = user(data_uri(long_clip, "audio/flac"))
    full = text_of(dashscope.MultiModalConversation.call(model="qwen3-asr-flash", messages=msgs))
    assert "best of times" in full

    def run(**kw: object) -> list:
        chunks = list(dashscope.MultiModalConversation.call(model="qwen3-asr-flash", messages=msgs, stream=True, **kw))
        assert all(c.status_code == 200 for c in chunks)
        assert chunks[-1].output.choices[0].finish_reason == "stop"
        return chunks

    delta = run(incremental_output=True)
    assert len(delta) > 2, "a 44 s clip streams in several chunks"
    assert "".join(text_of(c) for c in delta) == full
    assert text_of(run(incremental_output=False)[-1]) == full
    cumulative = run()
    assert text_of(cumulative[-1]) == full
    texts = [text_of(c) for c in cumulative]
    assert all(full.startswith(t) for t in texts), "default mode is cumulative"


def test_r4_raw_sse_framing(base: str) -> None:
    r = requests.post(
        f"{base}/api/v1/services/aigc/multimodal-generation/generation",
        stream=True,
        headers={"Authorization": f"Bearer {KEY}", "X-DashScope-SSE": "enable"},
        json={
            "model": "qwen3-asr-flash",
            "input": {"messages": user(data_uri(BECKETT))},
            "parameters": {"incremental_output": True},
        },
    )
    assert r.status_code == 200 and "text/event-stream" in r.headers["content-type"]
    lines = [line.decode() for line in r.iter_lines() if line]
    assert lines.count("event:result") >= 2
    assert not any(line.startswith("event: ") for line in lines)
    payloads = [json.loads(line[5:]) for line in lines if line.startswith("data:")]
    assert all("output" in p and p["request_id"] for p in payloads)
    assert payloads[-1]["output"]["choices"][0]["finish_reason"] == "stop"
    assert all(p["output"]["choices"][0]["finish_reason"] == "null" for p in payloads[:-1])


def test_stream_error_before_first_event_is_plain_json(base: str) -> None:
    r = requests.post(
        f"{base}/api/v1/services/aigc/multimodal-generation/generation",
        headers={"Authorization": f"Bearer {KEY}", "X-DashScope-SSE": "enable"},
        json={"model": "qwen3-asr-flash", "input": {"messages": user("data:audio/wav;base64,AAAA")}},
    )
    assert r.status_code == 400 and r.headers["content-type"].startswith("application/json")
    assert r.json()["code"] == "InvalidParameter" and r.json()["request_id"]


def test_r5_native_errors(base: str) -> None:
    msgs = user("https://example.invalid/a.wav")
    r = dashscope.MultiModalConversation.call(model="qwen3-asr-flash", messages=msgs, api_key="sk-wrong")
    assert (r.status_code, r.code) == (401, "InvalidApiKey") and r.request_id and r.output is None
    r = dashscope.MultiModalConversation.call(model="no-such-model", messages=msgs)
    assert r.status_code == 404 and r.code == "ModelNotFound"
    r = dashscope.MultiModalConversation.call(model="qwen3-asr-flash", messages=user("data:audio/wav;base64,AAAA"))
    assert r.status_code == 400 and r.code == "InvalidParameter"
    r = dashscope.MultiModalConversation.call(model="qwen3-asr-flash-filetrans", messages=user(data_uri(BECKETT)))
    assert r.status_code == 400 and "asynchronous" in r.message


@pytest.mark.parametrize(
    "body",
    [
        {"model": "qwen3-asr-flash"},
        {"model": "qwen3-asr-flash", "input": {"messages": []}},
        {"model": "qwen3-asr-flash", "input": {"messages": [{"role": "user", "content": [{"text": "hi"}]}]}},
        {"input": {"messages": [{"role": "user", "content": [{"audio": "x"}]}]}},
        {
            "model": "qwen3-asr-flash",
            "input": {"messages": [{"role": "user", "content": [{"audio": "x"}]}]},
            "parameters": {"asr_options": {"language": "not a language"}},
        },
    ],
)
def test_malformed_bodies_are_400_in_the_native_envelope(base: str, body: dict) -> None:
    r = requests.post(
        f"{base}/api/v1/services/aigc/multimodal-generation/generation",
        headers={"Authorization": f"Bearer {KEY}"},
        json=body,
    )
    assert r.status_code == 400, r.text
    assert set(r.json()) == {"request_id", "code", "message"} and r.json()["code"] == "InvalidParameter"


def test_not_json_is_400(base: str) -> None:
    r = requests.post(
        f"{base}/api/v1/services/aigc/multimodal-generation/generation",
        headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
        data=b"{nope",
    )
    assert r.status_code == 400 and r.json()["code"] == "InvalidParameter"
    assert r.json()["message"] == "the body is not valid JSON (at character 1)"


def test_r9_without_result_format_and_legacy_model(base: str) -> None:
    body = {"model": "qwen3-asr-flash", "input": {"messages": user(data_uri(BECKETT))}, "parameters": {}}
    r = requests.post(
        f"{base}/api/v1/services/aigc/multimodal-generation/generation",
        headers={"Authorization": f"Bearer {KEY}"},
        json=body,
    )
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.json()["output"]["choices"][0]["message"]["role"] == "assistant"
    assert "code" not in r.json()
    body["model"] = "qwen-audio-asr"
    legacy = requests.post(
        f"{base}/api/v1/services/aigc/multimodal-generation/generation",
        headers={"Authorization": f"Bearer {KEY}"},
        json=body,
    ).json()
    assert legacy["usage"]["audio_tokens"] == 25 * 10
    assert "fail better" in words(legacy["output"]["choices"][0]["message"]["content"][0]["text"])


def test_r8_asyncio_client_with_data_uri(base: str) -> None:
    async def go() -> tuple:
        r = await dashscope.AioMultiModalConversation.call(model="qwen3-asr-flash", messages=user(data_uri(BECKETT)))
        g = await dashscope.AioMultiModalConversation.call(
            model="qwen3-asr-flash", messages=user(data_uri(BECKETT)), stream=True, incremental_output=True
        )
        chunks = [c async for c in g]
        await dashscope.close_shared_aio_session()
        return r, chunks

    r, chunks = asyncio.run(go())
    assert r.status_code == 200 and "fail better" in words(text_of(r))
    assert chunks and all(c.status_code == 200 for c in chunks)
    assert words("".join(text_of(c) for c in chunks)) == words(text_of(r))
