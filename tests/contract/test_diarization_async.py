"""DashScope async transcription with speaker diarization (openasr's extension, as Paraformer spells it):
`parameters.diarization_enabled` (+ `speaker_count`) → `speaker_id` on each sentence of the result file,
through the real dashscope SDK against a real server, on a mix of two real speakers (bench/speaker_mixes.py).
Without the flag the result file has no `speaker_id`; a bad `speaker_count` is a 400 naming it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import dashscope
import pytest
import requests
from dashscope.audio.qwen_asr import QwenTranscription
from speaker_mixes import TEST_SPEAKERS, Mix, build_mix, sentence_accuracy, speaker_streams, write_wav
from static_server import static_server

from live_server import KEY, live_server, server_settings

MODEL = "qwen3-asr-flash-filetrans"
SUBMIT = "/api/v1/services/audio/asr/transcription"


@pytest.fixture(scope="module")
def mix() -> Mix:
    streams = speaker_streams({n: TEST_SPEAKERS[n] for n in ("austen", "dickens")})
    return build_mix(streams, 24.0, seed=11)


@pytest.fixture(scope="module")
def static(mix: Mix, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("static")
    write_wav(root / "two_speakers.wav", mix.samples)
    with static_server(root) as url:
        yield url


@pytest.fixture(scope="module")
def sdk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = server_settings(tmp_path_factory.mktemp("tasks"), workers=1)
    with live_server(settings) as url, pytest.MonkeyPatch.context() as patch:
        patch.setattr(dashscope, "base_http_api_url", f"{url}/api/v1")
        patch.setattr(dashscope, "api_key", KEY)
        yield url


def _sentences(static: str, **parameters: Any) -> list[dict[str, Any]]:
    submitted = QwenTranscription.async_call(model=MODEL, file_url=f"{static}/two_speakers.wav", **parameters)
    assert submitted.status_code == 200, (submitted.code, submitted.message)
    done = QwenTranscription.wait(task=submitted, wait_timeout=300)
    assert done.output.task_status == "SUCCEEDED", dict(done.output)
    result = requests.get(done.output.result["transcription_url"], timeout=30).json()
    return list(result["transcripts"][0]["sentences"])


def test_each_sentence_gets_its_speaker(sdk: str, static: str, mix: Mix) -> None:
    sentences = _sentences(static, diarization_enabled=True, speaker_count=2)
    ids = [s["speaker_id"] for s in sentences]
    assert all(isinstance(i, int) for i in ids) and ids[0] == 0 and set(ids) == {0, 1}, ids
    timed = [(s["begin_time"] / 1000, s["end_time"] / 1000, s["speaker_id"]) for s in sentences]
    assert sentence_accuracy(mix, timed) >= 0.9
    assert [s["sentence_id"] for s in sentences] == list(range(len(sentences)))


def test_without_the_flag_there_is_no_speaker(sdk: str, static: str) -> None:
    assert all("speaker_id" not in s for s in _sentences(static))


@pytest.mark.parametrize("count", [0, 21, "two", 1.5])
def test_a_bad_speaker_count_is_a_400_naming_it(sdk: str, static: str, count: object) -> None:
    body = {
        "model": MODEL,
        "input": {"file_url": f"{static}/two_speakers.wav"},
        "parameters": {"diarization_enabled": True, "speaker_count": count},
    }
    headers = {"Authorization": f"Bearer {KEY}", "X-DashScope-Async": "enable"}
    r = requests.post(f"{sdk}{SUBMIT}", headers=headers, json=body, timeout=10)
    assert r.status_code == 400, r.text
    assert "speaker_count" in r.json()["message"], r.text
