"""The remote engine against a far side that answers as `vllm serve Qwen/Qwen3-ASR-1.7B` does
(`vllm_far_side`: vLLM's refusals and prompt rules, real speech recognised by the bundled Whisper engine).

With the defaults (`OPENASR_ENGINE_URL`, `OPENASR_ENGINE_MODEL`, no `OPENASR_ENGINE_API`) each chunk goes
to chat completions: context as the system message, audio as a base64 `audio_url`, a forced language as
the assistant prefill, and the language reported is the one in the far side's answer."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from vllm_far_side import VllmLike, vllm_far_side

from live_server import KEY, live_server, server_settings
from openasr.engines.qwen3_languages import parse_output
from openasr.runtime.engine_pool import EnginePool

DATA = Path(__file__).resolve().parents[1] / "data"
AUTH = {"Authorization": f"Bearer {KEY}"}
SYNC = "/api/v1/services/aigc/multimodal-generation/generation"
MODEL = "Qwen/Qwen3-ASR-1.7B"


@pytest.fixture(scope="module")
def far(engine: Any) -> Iterator[tuple[VllmLike, str]]:
    side = VllmLike(engine, MODEL)
    with vllm_far_side(side) as url:
        yield side, url


@pytest.fixture(scope="module")
def near(far: tuple[VllmLike, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("near")
    settings = server_settings(tmp, engine_url=far[1], engine_model=MODEL, engine_retries=0)
    assert settings.engine_api == "chat"
    pool = EnginePool(tmp / "cache", settings.engine_config())
    with live_server(settings, pool) as url:
        yield url
    pool.close()


def _letters(text: str) -> str:
    """The text without punctuation and case: openasr's post-processing may end a sentence differently."""
    return " ".join(re.sub(r"[^\w\s]", " ", text).lower().split())


def _sync(base: str, clip: Path, *, context: str = "", language: str | None = None) -> dict[str, Any]:
    audio = f"data:audio/wav;base64,{base64.b64encode(clip.read_bytes()).decode()}"
    messages: list[dict[str, Any]] = [{"role": "user", "content": [{"audio": audio}]}]
    if context:
        messages.insert(0, {"role": "system", "content": [{"text": context}]})
    parameters: dict[str, Any] = {"result_format": "message"}
    if language:
        parameters["asr_options"] = {"language": language}
    body = {"model": "qwen3-asr-flash", "input": {"messages": messages}, "parameters": parameters}
    r = requests.post(f"{base}{SYNC}", json=body, headers=AUTH, timeout=300)
    assert r.status_code == 200, r.text
    return dict(r.json()["output"]["choices"][0]["message"])


def test_vllms_transcription_endpoint_is_what_the_defaults_avoid(far: tuple[VllmLike, str]) -> None:
    """The far side refuses what openasr used to send, and its text carries no language."""
    clip = DATA / "zh" / "aishell1_BAC009S0768W0290.wav"
    files = {"file": ("c.wav", clip.read_bytes(), "audio/wav")}
    url = f"{far[1]}/v1/audio/transcriptions"
    refused = requests.post(url, data={"model": MODEL, "response_format": "verbose_json"}, files=files, timeout=60)
    assert refused.status_code == 400 and "verbose_json" in refused.text
    answered = requests.post(url, data={"model": MODEL, "language": "en"}, files=files, timeout=120).json()
    assert "language" not in answered and "<asr_text>" not in answered["text"]
    assert any("\u4e00" <= c <= "\u9fff" for c in answered["text"])  # `language: en` was not read


def test_a_detected_language_is_the_one_in_the_far_sides_answer(far: tuple[VllmLike, str], near: str) -> None:
    side = far[0]
    before = len(side.requests)
    message = _sync(near, DATA / "zh" / "aishell1_BAC009S0768W0290.wav")
    asked = side.requests[before:]
    assert asked and all(b["model"] == MODEL and "continue_final_message" not in b for b in asked)
    assert all(b["messages"][-1]["role"] == "user" for b in asked)
    answers = [parse_output(a) for a in side.answers[before:]]
    assert {a.language for a in answers} == {"zh"}
    assert message["annotations"][0]["language"] == "zh"  # not "en": the header, not an echo
    assert _letters(message["content"][0]["text"]) == _letters("".join(a.text for a in answers))


def test_context_is_the_system_message_and_a_forced_language_the_prefill(far: tuple[VllmLike, str], near: str) -> None:
    side = far[0]
    before = len(side.requests)
    context = "Samuel Beckett, Worstward Ho"
    message = _sync(near, DATA / "en" / "beckett.wav", context=context, language="en")
    asked = side.requests[before:]
    assert asked
    for body in asked:
        system, user, prefill = body["messages"]
        assert system == {"role": "system", "content": context}
        assert user["content"][0]["audio_url"]["url"].startswith("data:audio/wav;base64,")
        assert prefill == {"role": "assistant", "content": "language English<asr_text>"}
        assert body["continue_final_message"] is True and body["add_generation_prompt"] is False
        assert body["max_tokens"] > 16
    assert "<asr_text>" not in "".join(side.answers[before:])  # the model only wrote the text
    assert message["annotations"][0]["language"] == "en"
    assert _letters(message["content"][0]["text"]) == _letters(" ".join(side.answers[before:]))
