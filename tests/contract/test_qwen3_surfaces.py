"""Every surface answering from a Qwen3-ASR default model (a tiny one built in the test, scripted to say
"hello world."), with and without a forced aligner: CLI, DashScope sync + SSE, async task with words,
OpenAI chat (input_audio and vLLM's audio_url parts) and transcriptions."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import openai
import pytest
import requests
from context_limit import refused_naming_the_context, with_context
from openai import OpenAI
from static_server import static_server
from websockets.sync.client import connect

from live_server import KEY, live_server, server_settings
from openasr.core.options import MAX_CONTEXT_TOKENS, count_context_tokens
from openasr.engines.qwen3_backend import Qwen3Config
from openasr.runtime.engine_config import EngineConfig
from openasr.runtime.engine_pool import EnginePool
from qwen3_models import DEVICE

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

DATA = Path(__file__).resolve().parents[1] / "data"
CLIP = DATA / "en" / "beckett.wav"
HELLO = "language English<asr_text>hello world."
AUTH = {"Authorization": f"Bearer {KEY}"}
SYNC = "/api/v1/services/aigc/multimodal-generation/generation"
SUBMIT = "/api/v1/services/audio/asr/transcription"


def data_uri(path: Path) -> str:
    return f"data:audio/wav;base64,{base64.b64encode(path.read_bytes()).decode()}"


@pytest.fixture(scope="module")
def scripted(tiny_qwen3) -> Path:  # type: ignore[no-untyped-def]
    return Path(tiny_qwen3.scripted(HELLO))


@pytest.fixture(scope="module")
def tokenizer(tiny_qwen3) -> Any:  # type: ignore[no-untyped-def]
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_qwen3.asr)


def _server(tmp: Path, model: Path, aligner: Path | None) -> Iterator[str]:
    settings = server_settings(tmp, default_model=str(model), aligner_model=str(aligner) if aligner else None)
    config = EngineConfig((Qwen3Config(device=DEVICE, aligner_model=settings.aligner_model, max_new_tokens=16),))
    pool = EnginePool(tmp / "cache", config)
    try:
        with live_server(settings, pool) as url:
            yield url
    finally:
        pool.close()


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory, scripted: Path, tiny_qwen3) -> Iterator[str]:  # type: ignore[no-untyped-def]
    yield from _server(tmp_path_factory.mktemp("qwen3-aligned"), scripted, tiny_qwen3.aligner)


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory, scripted: Path) -> Iterator[str]:
    yield from _server(tmp_path_factory.mktemp("qwen3-plain"), scripted, None)


def _sync(base: str, *, stream: bool = False, **asr: Any) -> requests.Response:
    body = {
        "model": "qwen3-asr-flash",
        "input": {
            "messages": [
                {"role": "system", "content": [{"text": "openasr, Qwen3"}]},
                {"role": "user", "content": [{"audio": data_uri(CLIP)}]},
            ]
        },
        "parameters": {"asr_options": asr, "result_format": "message"},
    }
    headers = AUTH | ({"X-DashScope-SSE": "enable"} if stream else {})
    return requests.post(f"{base}{SYNC}", json=body, headers=headers, timeout=120, stream=stream)


def test_dashscope_sync_and_sse(base: str, tokenizer: Any) -> None:
    r = _sync(base)
    assert r.status_code == 200, r.text
    message = r.json()["output"]["choices"][0]["message"]
    assert message["content"] == [{"text": "hello world."}]
    assert message["annotations"] == [{"type": "audio_info", "language": "en"}]
    tokens = r.json()["usage"]
    # counted by the model's tokenizer, not the whitespace estimate (which gives 2 for both)
    assert tokens["input_tokens_details"]["text_tokens"] == len(tokenizer.encode("openasr, Qwen3")) > 2
    assert tokens["output_tokens_details"]["text_tokens"] == len(tokenizer.encode("hello world."))
    forced = _sync(base, language="de").json()["output"]["choices"][0]["message"]
    assert forced["annotations"][0]["language"] == "de"

    lines = _sync(base, stream=True).iter_lines(decode_unicode=True)
    events = [json.loads(line[5:]) for line in lines if line.startswith("data:")]
    assert events and events[-1]["output"]["choices"][0]["finish_reason"] == "stop"
    assert events[-1]["output"]["choices"][0]["message"]["content"] == [{"text": "hello world."}]


def test_async_task_with_words(base: str) -> None:
    with static_server(CLIP.parent) as files:
        body = {
            "model": "qwen3-asr-flash-filetrans",
            "input": {"file_url": f"{files}/{CLIP.name}"},
            "parameters": {"enable_words": True, "channel_id": [0]},
        }
        sub = requests.post(f"{base}{SUBMIT}", json=body, headers=AUTH | {"X-DashScope-Async": "enable"}, timeout=30)
        assert sub.status_code == 200, sub.text
        task_id = sub.json()["output"]["task_id"]
        deadline = time.monotonic() + 120
        while (out := requests.get(f"{base}/api/v1/tasks/{task_id}", headers=AUTH, timeout=10).json()["output"])[
            "task_status"
        ] not in ("SUCCEEDED", "FAILED"):
            assert time.monotonic() < deadline, out
            time.sleep(0.2)
    assert out["task_status"] == "SUCCEEDED", out
    result = requests.get(out["result"]["transcription_url"], timeout=10).json()
    sentences = result["transcripts"][0]["sentences"]
    assert "hello world." in result["transcripts"][0]["text"]
    words = [w for s in sentences for w in s["words"]]
    assert [w["text"].strip() for w in words[:2]] == ["hello", "world"]
    inside = [
        s["begin_time"] <= w["begin_time"] <= w["end_time"] <= s["end_time"] for s in sentences for w in s["words"]
    ]
    assert all(inside)


def test_words_without_an_aligner_are_refused_naming_it(plain: str) -> None:
    with static_server(CLIP.parent) as files:
        body = {
            "model": "qwen3-asr-flash-filetrans",
            "input": {"file_url": f"{files}/{CLIP.name}"},
            "parameters": {"enable_words": True},
        }
        r = requests.post(f"{plain}{SUBMIT}", json=body, headers=AUTH | {"X-DashScope-Async": "enable"}, timeout=30)
    assert r.status_code == 400, r.text
    assert "OPENASR_ALIGNER_MODEL" in r.json()["message"]
    assert _sync(plain).json()["output"]["choices"][0]["message"]["content"] == [{"text": "hello world."}]


def test_the_context_limit_is_counted_in_the_models_tokens_on_every_surface(plain: str, tokenizer: Any) -> None:
    glued = "openasr-glossary," * 2500  # one word to the whitespace estimate, 17,500 Qwen3 tokens
    assert count_context_tokens(glued) == 1 and len(tokenizer.encode(glued)) > MAX_CONTEXT_TOKENS
    refused = with_context(plain, glued)
    assert all(refused_naming_the_context(r) for r in refused.values()), {k: r.text for k, r in refused.items()}

    short = "openasr glossary " * 100
    assert count_context_tokens(short) < len(tokenizer.encode(short)) < MAX_CONTEXT_TOKENS
    accepted = with_context(plain, short)
    assert all(r.status_code == 200 for r in accepted.values()), {k: r.text for k, r in accepted.items()}
    assert accepted["dashscope"].json()["output"]["choices"][0]["message"]["content"] == [{"text": "hello world."}]


def test_openai_chat_with_input_audio_and_audio_url_and_transcriptions(base: str) -> None:
    client = OpenAI(api_key=KEY, base_url=f"{base}/compatible-mode/v1")
    audio = base64.b64encode(CLIP.read_bytes()).decode()
    parts: list[Any] = [
        {"type": "input_audio", "input_audio": {"data": f"data:audio/wav;base64,{audio}", "format": "wav"}},
        {"type": "audio_url", "audio_url": {"url": f"data:audio/wav;base64,{audio}"}},
    ]
    for part in parts:
        completion = client.chat.completions.create(
            model="qwen3-asr-flash", messages=[{"role": "user", "content": [part]}]
        )
        assert completion.choices[0].message.content == "hello world."
    oa = OpenAI(api_key=KEY, base_url=f"{base}/v1")
    with CLIP.open("rb") as f:
        verbose = oa.audio.transcriptions.create(
            model="whisper-1", file=f, response_format="verbose_json", timestamp_granularities=["word", "segment"]
        )
    assert verbose.text == "hello world." and verbose.language
    assert [w.word.strip() for w in verbose.words or []] == ["hello", "world"]
    # Qwen3-ASR measures no decoder numbers: the documented spec-typed values, never passable as measured
    for segment in verbose.segments or []:
        assert (segment.tokens, segment.compression_ratio, segment.temperature) == ([], 0.0, 0.0)
        assert (segment.avg_logprob, segment.no_speech_prob) == (0.0, 0.0)
    with pytest.raises(openai.BadRequestError) as refused, CLIP.open("rb") as f:
        oa.audio.translations.create(model="whisper-1", file=f)
    assert isinstance(refused.value.body, dict) and refused.value.body["param"] == "model"
    assert "cannot translate" in refused.value.body["message"]
    cards = {m.id: (m.model_extra or {})["surfaces"] for m in oa.models.list()}
    assert "audio.translations" not in cards["whisper-1"] and "audio.transcriptions" in cards["whisper-1"]


def test_cli_transcribe_with_a_qwen3_directory(scripted: Path, tmp_path: Path) -> None:
    env = os.environ | {"OPENASR_DEVICE": "cpu", "OPENASR_DATA_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "openasr.cli.main", "transcribe", str(CLIP), "--model", str(scripted), "-f", "json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["transcripts"][0]["text"] == "hello world." and result["language"] == "en"


def test_models_lists_the_configured_qwen3_model_and_its_aligner(tiny_qwen3) -> None:  # type: ignore[no-untyped-def]
    def models(**env: str) -> tuple[str, str]:
        """The model's row as (capabilities, not available), each cell with the lines it wraps onto."""
        done = subprocess.run(
            [sys.executable, "-m", "openasr.cli.main", "models"],
            capture_output=True,
            text=True,
            env=os.environ | {"OPENASR_DEFAULT_MODEL": str(tiny_qwen3.asr), **env},
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        at = next(i for i, line in enumerate(lines) if str(tiny_qwen3.asr) in line)
        row = lines[at]
        assert "30 languages and 22 Chinese dialects" in row
        rows = [row.split("│")]
        for line in lines[at + 1 :]:
            cells = line.split("│")
            if len(cells) < 3 or cells[1].strip():
                break
            rows.append(cells)
        capabilities, missing = (" ".join(cells[i].strip() for cells in rows) for i in (-3, -2))
        return " ".join(capabilities.split()), " ".join(missing.split())

    capabilities, missing = models()
    assert "context biasing (10000 tokens)" in capabilities and "emotion" in missing
    assert "word timestamps (no forced aligner is configured (set OPENASR_ALIGNER_MODEL" in missing
    capabilities, missing = models(OPENASR_ALIGNER_MODEL=str(tiny_qwen3.aligner))
    assert "word timestamps, context biasing (10000 tokens), VAD, ITN zh/en, " in capabilities
    assert f"aligner{tiny_qwen3.aligner}(".replace(" ", "") in capabilities.replace(" ", "")  # wrapped anywhere
    assert "word timestamps" not in missing


def test_realtime_captions_and_finals_come_from_the_in_process_qwen3_engine(plain: str) -> None:
    """A Manual-mode realtime item: captioned (a draft decode at the partial priority) while open, then
    recognised as the sync surface recognises the clip."""
    with av.open(str(CLIP)) as container:  # 16-bit 16 kHz mono: the file's own samples
        pcm = b"".join(bytes(frame.planes[0])[: frame.samples * 2] for frame in container.decode(audio=0))
    url = plain.replace("http://", "ws://") + "/api-ws/v1/realtime?model=qwen3-asr-flash-realtime"
    with connect(url, additional_headers=AUTH, max_size=None) as ws:
        session = {"turn_detection": None, "input_audio_transcription": {"language": "en"}}
        ws.send(json.dumps({"type": "session.update", "session": session}))
        ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": base64.b64encode(pcm).decode()}))
        events = [json.loads(ws.recv(timeout=60))]
        while events[-1]["type"] != "conversation.item.input_audio_transcription.text":
            events.append(json.loads(ws.recv(timeout=60)))
        ws.send(json.dumps({"type": "input_audio_buffer.commit"}))
        ws.send(json.dumps({"type": "session.finish"}))
        while events[-1]["type"] != "session.finished":
            events.append(json.loads(ws.recv(timeout=60)))
    caption = next(e for e in events if e["type"].endswith(".text"))
    (final,) = [e for e in events if e["type"].endswith(".completed")]
    assert caption["stash"] == "hello world." and final["transcript"] == "hello world." and final["language"] == "en"
