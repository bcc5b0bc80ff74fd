"""OpenAI-compatible surfaces via the real openai SDK: chat/completions ASR (R7), /v1/audio/transcriptions."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import openai
import pytest
import requests
from asr_metrics import score
from openai import NotFoundError, OpenAI
from tokenizers import Tokenizer

from live_server import KEY, live_server, server_settings
from openasr.engines.weights import bundled_model_dir
from speech_clips import clip

DATA = Path(__file__).resolve().parents[1] / "data"
BECKETT = DATA / "en" / "beckett.wav"
EXPECTED = "ever tried ever failed no matter try again fail again fail better"


def words(text: str) -> str:
    return " ".join("".join(ch for ch in text.lower() if ch.isalnum() or ch.isspace()).split())


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> str:
    with live_server(server_settings(tmp_path_factory.mktemp("oa"))) as url:
        yield url


@pytest.fixture(scope="module")
def chat(base: str) -> OpenAI:
    return OpenAI(api_key=KEY, base_url=f"{base}/compatible-mode/v1", max_retries=0)


def audio_message(path: Path = BECKETT) -> list[dict]:
    b64 = base64.b64encode(path.read_bytes()).decode()
    return [
        {
            "role": "user",
            "content": [
                {
                    "type": "input_audio",
                    "input_audio": {"data": f"data:audio/wav;base64,{b64}", "format": "wav"},
                }
            ],
        }
    ]


def test_r7_chat_completion_and_stream_agree(chat: OpenAI) -> None:
    msgs = [{"role": "system", "content": [{"text": "Beckett"}]}, *audio_message()]
    r = chat.chat.completions.create(
        model="qwen3-asr-flash", messages=msgs, extra_body={"asr_options": {"enable_itn": False}}
    )
    assert r.object == "chat.completion" and isinstance(r.choices[0].message.content, str)
    assert words(r.choices[0].message.content) == EXPECTED
    ann = r.choices[0].message.annotations[0]
    assert ann.type == "audio_info" and ann.language == "en"
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    assert r.usage.model_extra["seconds"] == 10 and r.usage.prompt_tokens_details.audio_tokens == 250
    chunks = list(
        chat.chat.completions.create(
            model="qwen3-asr-flash", messages=msgs, stream=True, stream_options={"include_usage": True}
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == r.choices[0].message.content
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens == r.usage.total_tokens
    assert any(c.choices and c.choices[0].finish_reason == "stop" for c in chunks)


def test_chat_stream_without_usage_and_without_asr_options(chat: OpenAI) -> None:
    chunks = list(chat.chat.completions.create(model="qwen3-asr-flash", messages=audio_message(), stream=True))
    assert all(c.choices for c in chunks), "no usage chunk unless include_usage"
    assert words("".join(c.choices[0].delta.content or "" for c in chunks)) == EXPECTED


def test_raw_chat_stream_ends_with_done(base: str) -> None:
    r = requests.post(
        f"{base}/compatible-mode/v1/chat/completions",
        stream=True,
        headers={"Authorization": f"Bearer {KEY}"},
        json={"model": "qwen3-asr-flash", "messages": audio_message(), "stream": True},
    )
    assert "text/event-stream" in r.headers["content-type"]
    events = [line.decode() for line in r.iter_lines() if line]
    assert events[-1] == "data: [DONE]"
    assert all(json.loads(e[6:])["object"] == "chat.completion.chunk" for e in events[:-1])


def test_openai_errors(base: str, chat: OpenAI) -> None:
    bad = OpenAI(api_key="sk-wrong", base_url=f"{base}/compatible-mode/v1", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as auth:
        bad.chat.completions.create(model="qwen3-asr-flash", messages=audio_message())
    assert auth.value.status_code == 401 and auth.value.code == "invalid_api_key"
    with pytest.raises(openai.BadRequestError) as bad_audio:
        chat.chat.completions.create(
            model="qwen3-asr-flash",
            messages=[
                {
                    "role": "user",
                    "content": [{"type": "input_audio", "input_audio": {"data": "data:audio/wav;base64,AAAA"}}],
                }
            ],
        )
    assert bad_audio.value.code == "invalid_parameter_error" and bad_audio.value.type == "invalid_request_error"
    with pytest.raises(openai.NotFoundError):
        chat.chat.completions.create(model="gpt-4o", messages=audio_message())
    with pytest.raises(openai.BadRequestError):
        chat.chat.completions.create(model="qwen3-asr-flash", messages=[{"role": "user", "content": "hello"}])


@pytest.fixture(scope="module")
def oa(base: str) -> OpenAI:
    return OpenAI(api_key=KEY, base_url=f"{base}/v1", max_retries=0)


def test_transcriptions_json_and_text(oa: OpenAI) -> None:
    for model in ("whisper-1", "whisper-base", "qwen3-asr-flash"):
        with BECKETT.open("rb") as f:
            r = oa.audio.transcriptions.create(model=model, file=f)
        assert words(r.text) == EXPECTED
    with BECKETT.open("rb") as f:
        text = oa.audio.transcriptions.create(model="whisper-1", file=f, response_format="text")
    assert isinstance(text, str) and words(text) == EXPECTED


def test_transcriptions_subtitles(oa: OpenAI) -> None:
    with BECKETT.open("rb") as f:
        srt = oa.audio.transcriptions.create(model="whisper-1", file=f, response_format="srt")
    blocks = srt.strip().split("\n\n")
    # Beckett's pauses give at least two sentences whatever marks Whisper writes (commas or full stops decide
    # on the CPU's int8 kernels, so cue counts beyond that are not asserted).
    assert len(blocks) >= 2 and blocks[0].startswith("1\n00:00:0") and " --> " in blocks[0]
    with BECKETT.open("rb") as f:
        vtt = oa.audio.transcriptions.create(model="whisper-1", file=f, response_format="vtt")
    cue_text = [line for line in vtt.splitlines()[1:] if line and " --> " not in line]
    assert vtt.startswith("WEBVTT") and words(" ".join(cue_text)) == EXPECTED


def test_transcriptions_verbose_json_with_words(oa: OpenAI) -> None:
    with BECKETT.open("rb") as f:
        r = oa.audio.transcriptions.create(
            model="whisper-1",
            file=f,
            response_format="verbose_json",
            timestamp_granularities=["word", "segment"],
        )
    assert r.language == "english" and 9.9 < r.duration < 10.0
    assert [words(w.word) for w in r.words] == EXPECTED.split()
    assert all(0 <= w.start <= w.end <= r.duration for w in r.words)
    assert len(r.segments) >= 2 and r.segments[0].start < r.segments[-1].start


def test_transcriptions_content_types(base: str) -> None:
    expected = {
        "json": "application/json",
        "verbose_json": "application/json",
        "text": "text/plain",
        "srt": "text/plain",
        "vtt": "text/vtt",
    }
    for fmt, content_type in expected.items():
        with BECKETT.open("rb") as f:
            r = requests.post(
                f"{base}/v1/audio/transcriptions",
                headers={"Authorization": f"Bearer {KEY}"},
                files={"file": ("beckett.wav", f)},
                data={"model": "whisper-1", "response_format": fmt},
            )
        assert r.status_code == 200 and r.headers["content-type"].startswith(content_type), (fmt, r.text)


def test_transcriptions_bad_input(oa: OpenAI, tmp_path: Path) -> None:
    junk = tmp_path / "notes.txt"
    junk.write_text("this is not audio")
    with pytest.raises(openai.BadRequestError) as exc, junk.open("rb") as f:
        oa.audio.transcriptions.create(model="whisper-1", file=f)
    assert exc.value.code == "invalid_parameter_error"
    with pytest.raises(openai.BadRequestError) as fmt, BECKETT.open("rb") as f:
        oa.audio.transcriptions.create(model="whisper-1", file=f, response_format="docx")  # type: ignore[arg-type]
    assert fmt.value.param == "response_format"
    with pytest.raises(openai.BadRequestError) as hot, BECKETT.open("rb") as f:
        oa.audio.transcriptions.create(model="whisper-1", file=f, temperature=1.5)
    assert hot.value.param == "temperature"
    with pytest.raises(openai.NotFoundError), BECKETT.open("rb") as f:
        oa.audio.transcriptions.create(model="no-such-model", file=f)


# ------------------------------------------------------------------ OpenAI clients as OpenAI documents them
BECKETT_CLIP = clip("beckett")
MANDARIN = clip("BAC009S0768W0290").path
PLAIN_B64 = base64.b64encode(BECKETT.read_bytes()).decode()


def plain_audio_message() -> list[dict]:
    """OpenAI's audio-input guide: bare base64 `data` and the container as `format`."""
    return [{"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": PLAIN_B64, "format": "wav"}}]}]


def han(text: str) -> int:
    return sum("\u4e00" <= ch <= "\u9fff" for ch in text)


@pytest.mark.parametrize("model", ["whisper-1", "whisper-base", "qwen3-asr-flash"])
def test_chat_takes_plain_base64_audio_with_its_format(oa: OpenAI, model: str) -> None:
    r = oa.chat.completions.create(model=model, messages=plain_audio_message())  # type: ignore[arg-type]
    choice = r.choices[0]
    assert words(choice.message.content or "") == words(BECKETT_CLIP.reference)
    assert choice.message.refusal is None and choice.logprobs is None
    assert choice.message.annotations and choice.message.annotations[0].type == "audio_info"


def test_the_format_hint_is_what_reads_headerless_pcm(oa: OpenAI) -> None:
    raw = clip("goforward")
    audio = {"data": base64.b64encode(raw.path.read_bytes()).decode(), "format": "pcm"}
    messages = [{"role": "user", "content": [{"type": "input_audio", "input_audio": audio}]}]
    r = oa.chat.completions.create(model="whisper-1", messages=messages)  # type: ignore[arg-type]
    assert score(raw.reference, r.choices[0].message.content or "", "en").rate <= 0.25


def test_chat_answers_carry_the_schemas_nulls_and_later_chunks_no_role(base: str) -> None:
    body = {"model": "whisper-1", "messages": plain_audio_message()}
    raw = requests.post(f"{base}/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {KEY}"})
    choice = raw.json()["choices"][0]
    assert raw.status_code == 200 and choice["logprobs"] is None and choice["message"]["refusal"] is None
    streamed = requests.post(
        f"{base}/v1/chat/completions", json={**body, "stream": True}, headers={"Authorization": f"Bearer {KEY}"}
    )
    chunks = [json.loads(line[6:]) for line in streamed.text.splitlines() if line.startswith("data: {")]
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert deltas[0]["role"] == "assistant" and all("role" not in d for d in deltas[1:]), deltas
    assert words("".join(d.get("content", "") for d in deltas)) == words(BECKETT_CLIP.reference)


def test_verbose_json_segments_carry_the_decoders_numbers(oa: OpenAI, cache_dir: Path) -> None:
    """The usual hallucination filter works on every segment, and each segment's tokens are those of
    the decoder segments it was cut from (they decode to text holding the segment's own)."""
    tokenizer = Tokenizer.from_file(str(bundled_model_dir("whisper-base", cache_dir) / "tokenizer.json"))
    with BECKETT.open("rb") as f:
        r = oa.audio.transcriptions.create(
            model="whisper-1", file=f, response_format="verbose_json", timestamp_granularities=["segment"]
        )
    segments = r.segments or []
    kept = [s for s in segments if not (s.no_speech_prob > 0.6 and s.avg_logprob < -1)]
    assert len(segments) >= 2 and kept == segments
    for s in segments:
        assert s.temperature == 0.0 and -5 < s.avg_logprob < 0 and s.compression_ratio > 0
        assert 0 <= s.no_speech_prob <= 1 and all(isinstance(t, int) for t in s.tokens)
        decoded = tokenizer.decode([t for t in s.tokens if t < 50257])
        assert words(s.text) in words(decoded), (s.text, decoded)


def test_transcriptions_need_a_model(base: str) -> None:
    with BECKETT.open("rb") as f:
        r = requests.post(
            f"{base}/v1/audio/transcriptions", headers={"Authorization": f"Bearer {KEY}"}, files={"file": f}
        )
    error = r.json()["error"]
    assert r.status_code == 400 and error["param"] == "model" and "model is required" in error["message"]
    assert error["type"] == "invalid_request_error" and error["code"] == "invalid_parameter_error"


def test_models_list_the_served_names_with_their_surfaces(oa: OpenAI, chat: OpenAI) -> None:
    cards = {m.id: m for m in oa.models.list()}
    assert {"whisper-1", "whisper-base", "qwen3-asr-flash", "qwen3-asr-flash-filetrans"} <= set(cards)
    assert {m.id for m in chat.models.list()} == set(cards)
    assert all(m.object == "model" and m.owned_by == "openasr" for m in cards.values())
    openai_surfaces = ["chat.completions", "audio.transcriptions", "audio.translations"]
    assert cards["whisper-1"].model_extra["surfaces"] == openai_surfaces
    assert cards["qwen3-asr-flash-filetrans"].model_extra["surfaces"] == ["dashscope.file_transcription"]
    chat_names = [name for name, m in cards.items() if "chat.completions" in m.model_extra["surfaces"]]
    assert "whisper-1" in chat_names and "qwen3-asr-flash-filetrans" not in chat_names
    for name in ("whisper-1", "qwen3-asr-flash-filetrans"):  # `models.retrieve`: the same card
        assert oa.models.retrieve(name) == chat.models.retrieve(name) == cards[name]
    with pytest.raises(NotFoundError) as missing:
        oa.models.retrieve("gpt-4o-transcribe-nonexistent")
    assert missing.value.code == "model_not_found" and "does not exist" in missing.value.message


def test_translations_in_every_format(oa: OpenAI) -> None:
    """Mandarin speech becomes English text (no Han, where its transcription is all Han)."""
    with MANDARIN.open("rb") as f:
        transcribed = oa.audio.transcriptions.create(model="whisper-1", file=f)
    assert han(transcribed.text) >= 10
    answers = {}
    for fmt in ("json", "text", "srt", "vtt", "verbose_json"):
        with MANDARIN.open("rb") as f:
            answers[fmt] = oa.audio.translations.create(model="whisper-1", file=f, response_format=fmt)  # type: ignore[call-overload]
    text = answers["json"].text
    assert han(text) == 0 and sum(ch.isalpha() for ch in text) >= 10
    assert answers["text"].strip() == text
    assert answers["srt"].startswith("1\n00:00:0") and answers["vtt"].startswith("WEBVTT")
    verbose = answers["verbose_json"]
    assert verbose.language == "english" and verbose.model_extra["task"] == "translate" and verbose.text == text
    assert verbose.segments and all(s.tokens and s.compression_ratio > 0 for s in verbose.segments)


def test_english_speech_translates_to_about_its_own_words(oa: OpenAI) -> None:
    english = clip("0870")
    with english.path.open("rb") as f:
        r = oa.audio.translations.create(model="whisper-base", file=f)
    assert score(english.reference, r.text, "en").rate <= 0.25


def test_a_model_that_cannot_translate_is_a_400_saying_so(oa: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as refused, MANDARIN.open("rb") as f:
        oa.audio.translations.create(model="whisper-tiny.en", file=f)
    assert refused.value.code == "invalid_parameter_error"
    assert isinstance(refused.value.body, dict) and refused.value.body["param"] == "model"
    assert "cannot translate" in refused.value.body["message"]
