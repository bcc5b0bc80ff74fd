"""Emotion on every surface, from a server whose `OPENASR_EMOTION_MODEL` is a tiny transformers checkpoint
built here (tests/emotion_models.py): DashScope sync and SSE, OpenAI chat and its stream, async result
sentences, the CLI's JSON, `/openapi.json` and `openasr models`. Without a model the key is absent: see
test_dashscope_sync.py (R1) and test_ops.py (capabilities)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import dashscope
import pytest
import requests

pytest.importorskip("torch", reason="needs openasr[emotion] (torch and transformers)")
pytest.importorskip("transformers", reason="needs openasr[emotion] (torch and transformers)")

import av
from dashscope.audio.qwen_asr import QwenTranscription
from openai import OpenAI
from static_server import static_server
from websockets.sync.client import connect

from emotion_models import tiny_transformers_model
from live_server import KEY, live_server, server_settings
from openasr.emotion.labels import EMOTIONS
from openasr.runtime.engine_pool import EnginePool
from speech_clips import clip

pytestmark = pytest.mark.extras
BECKETT = clip("beckett")
TWO_CITIES = clip("two_cities")
"""44 s: several chunks, so a stream has events before and after the first chunk's emotion is known."""
ENGINE = "whisper-tiny.en"
"""The fastest bundled model: these tests are about where emotion goes, not about recognition."""


@pytest.fixture(scope="module")
def emotion_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_transformers_model(tmp_path_factory.mktemp("emotion") / "tiny-seven")


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory, emotion_model: Path) -> Iterator[str]:
    settings = server_settings(tmp_path_factory.mktemp("srv"), emotion_model=str(emotion_model), default_model=ENGINE)
    engines = EnginePool(settings.cache_dir, settings.engine_config())
    try:
        with live_server(settings, engines) as url:
            dashscope.base_http_api_url = f"{url}/api/v1"
            dashscope.api_key = KEY
            yield url
    finally:
        engines.close()


def data_uri(path: Path) -> str:
    return f"data:audio/wav;base64,{base64.b64encode(path.read_bytes()).decode()}"


def native_messages(path: Path) -> list[dict]:
    return [{"role": "user", "content": [{"audio": data_uri(path)}]}]


def emotions_in_order(emotions: list[str | None]) -> None:
    """Each event's emotion is one of the seven or not yet known; once known, every later event has one."""
    assert all(e is None or e in EMOTIONS for e in emotions), emotions
    first_known = next((i for i, e in enumerate(emotions) if e is not None), len(emotions))
    assert all(e is not None for e in emotions[first_known:]), emotions


def test_dashscope_sync_annotates_the_whole_audios_emotion(base: str) -> None:
    r = dashscope.MultiModalConversation.call(model="qwen3-asr-flash", messages=native_messages(BECKETT.path))
    assert r.status_code == 200, (r.code, r.message)
    annotation = r.output.choices[0].message["annotations"][0]
    assert annotation["type"] == "audio_info" and annotation["language"] == "en"
    assert annotation["emotion"] in EMOTIONS


def test_dashscope_stream_events_carry_the_emotion_known_so_far(base: str) -> None:
    events = list(
        dashscope.MultiModalConversation.call(
            model="qwen3-asr-flash", messages=native_messages(TWO_CITIES.path), stream=True, incremental_output=True
        )
    )
    assert len(events) >= 3 and all(e.status_code == 200 for e in events)
    emotions = [e.output.choices[0].message["annotations"][0].get("emotion") for e in events]
    emotions_in_order(emotions)
    assert emotions[-1] in EMOTIONS  # the last event has the whole audio's


def test_openai_chat_annotations_and_stream_deltas_carry_emotion(base: str) -> None:
    chat = OpenAI(api_key=KEY, base_url=f"{base}/compatible-mode/v1", max_retries=0)
    b64 = base64.b64encode(TWO_CITIES.path.read_bytes()).decode()
    content = [{"type": "input_audio", "input_audio": {"data": f"data:audio/wav;base64,{b64}", "format": "wav"}}]
    messages = [{"role": "user", "content": content}]
    r = chat.chat.completions.create(model="qwen3-asr-flash", messages=messages)  # type: ignore[arg-type]
    whole = r.choices[0].message.annotations[0].model_extra["emotion"]  # type: ignore[index,union-attr]
    assert whole in EMOTIONS
    chunks = list(chat.chat.completions.create(model="qwen3-asr-flash", messages=messages, stream=True))  # type: ignore[arg-type]
    deltas = [c.choices[0].delta for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(deltas) >= 2
    emotions_in_order([d.model_extra["annotations"][0].get("emotion") for d in deltas])  # type: ignore[index]


def test_async_result_has_an_emotion_per_sentence(base: str) -> None:
    with static_server(TWO_CITIES.path.parent) as static:
        done = QwenTranscription.call(model="qwen3-asr-flash-filetrans", file_url=f"{static}/{TWO_CITIES.path.name}")
    assert done.output.task_status == "SUCCEEDED", done.output
    result = requests.get(done.output.result["transcription_url"], timeout=30).json()
    sentences = result["transcripts"][0]["sentences"]
    assert len(sentences) >= 3
    assert all(s["emotion"] in EMOTIONS for s in sentences), sentences


def test_docs_say_emotion_is_active(base: str) -> None:
    info = requests.get(f"{base}/openapi.json", timeout=10).json()["info"]
    assert info["x-capabilities"]["emotion"] is True
    assert "- emotion: active" in info["description"]


def test_cli_json_has_an_emotion_per_sentence_and_models_lists_it(emotion_model: Path) -> None:
    run = subprocess.run(
        [
            "openasr",
            "transcribe",
            "--model",
            ENGINE,
            "--format",
            "json",
            "--emotion-model",
            emotion_model,
            BECKETT.path,
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    sentences = json.loads(run.stdout)["transcripts"][0]["sentences"]
    assert len(sentences) >= 3 and all(s["emotion"] in EMOTIONS for s in sentences), sentences
    env = dict(os.environ, OPENASR_EMOTION_MODEL=str(emotion_model), COLUMNS="400")
    models = subprocess.run(["openasr", "models"], capture_output=True, text=True, env=env, timeout=120, check=False)
    assert models.returncode == 0 and f"emotion ({emotion_model})" in models.stdout, models.stdout


def test_cli_refuses_a_checkpoint_whose_classes_are_not_emotions_in_one_line(tmp_path: Path) -> None:
    commands = tiny_transformers_model(tmp_path / "commands", labels=("yes", "no", "up", "down"))
    args = ["--model", ENGINE, "--emotion-model", str(commands), str(BECKETT.path)]
    run = subprocess.run(["openasr", "transcribe", *args], capture_output=True, text=True, timeout=600, check=False)
    assert run.returncode == 1 and run.stdout == ""
    assert run.stderr.startswith("error: MODEL_UNAVAILABLE") and "['yes', 'no', 'up', 'down']" in run.stderr, run.stderr
    assert "Traceback" not in run.stderr


def test_realtime_finals_carry_the_emotion_of_their_samples(base: str) -> None:
    """A Manual-mode realtime item of the whole clip: its final's emotion is the sync answer's for the
    same 16 kHz samples (the clip is 16-bit 16 kHz mono, so the PCM sent is the file's)."""
    sync = dashscope.MultiModalConversation.call(model="qwen3-asr-flash", messages=native_messages(BECKETT.path))
    expected = sync.output.choices[0].message["annotations"][0]["emotion"]
    with av.open(str(BECKETT.path)) as container:
        pcm = b"".join(bytes(frame.planes[0])[: frame.samples * 2] for frame in container.decode(audio=0))
    url = base.replace("http://", "ws://") + "/api-ws/v1/realtime?model=qwen3-asr-flash-realtime"
    with connect(url, additional_headers={"Authorization": f"Bearer {KEY}"}, max_size=None) as ws:
        update = {"turn_detection": None, "input_audio_format": "pcm", "sample_rate": 16000}
        for event in (
            {"type": "session.update", "session": update},
            {"type": "input_audio_buffer.append", "audio": base64.b64encode(pcm).decode()},
            {"type": "input_audio_buffer.commit"},
            {"type": "session.finish"},
        ):
            ws.send(json.dumps(event))
        events = []
        while not events or events[-1]["type"] != "session.finished":
            events.append(json.loads(ws.recv(timeout=120)))
    (final,) = [e for e in events if e["type"] == "conversation.item.input_audio_transcription.completed"]
    assert final["emotion"] == expected != "neutral"  # "neutral" is also what a final without emotion says
