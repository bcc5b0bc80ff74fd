"""The OpenAI-compatible converters: chat requests and transcription form fields → options (refusing
what cannot be honoured, naming the parameter), and transcripts → each documented answer."""

from __future__ import annotations

import json
from typing import Any

import pytest

from openasr.core.errors import AsrError, InvalidParameterError, ModelNotFoundError
from openasr.core.options import TranscribeOptions
from openasr.server.models import ModelCatalog
from openasr.server.openai.chat_protocol import (
    ChatCompletion,
    ChatRequest,
    chat_chunk,
    chat_to_options,
    chat_to_response,
)
from openasr.server.openai.models_protocol import ModelList, model_list
from openasr.server.openai.protocol import (
    Transcription,
    Translation,
    VerboseTranscription,
    strict_flag,
    transcript_done_event,
    transcription_to_options,
    transcription_to_response,
    translation_to_options,
)
from unit.postprocess.test_formats import ENGLISH, transcript
from wire import assert_exact

CATALOG = ModelCatalog("whisper-base")
DATA_URI = "data:audio/wav;base64,UklGRg=="


def chat(model: str = "qwen3-asr-flash", **extra: object) -> ChatRequest:
    return ChatRequest.model_validate(
        {
            "model": model,
            "messages": [
                {"role": "system", "content": [{"type": "text", "text": "Dashwood"}]},
                {"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": DATA_URI}}]},
            ],
            **extra,
        }
    )


def test_a_chat_request_becomes_the_audio_and_options() -> None:
    ref, options = chat_to_options(chat(asr_options={"language": "zh", "enable_itn": True}), CATALOG)
    assert ref == DATA_URI
    assert options == TranscribeOptions(
        model="whisper-base", language="zh", itn=True, context="Dashwood", sentences=False
    )


@pytest.mark.parametrize(
    ("audio", "reference"),
    [
        ({"data": "UklGRg==", "format": "wav"}, "data:audio/wav;base64,UklGRg=="),
        ({"data": "SUQz", "format": "MP3"}, "data:audio/mpeg;base64,SUQz"),
        ({"data": "AAAA", "format": "pcm"}, "data:audio/pcm;base64,AAAA"),
        ({"data": "UklGRg=="}, "data:;base64,UklGRg=="),
        ({"data": DATA_URI, "format": "wav"}, DATA_URI),
        ({"data": "https://example.org/a.wav"}, "https://example.org/a.wav"),
        ({"data": "file:///srv/audio/a.wav"}, "file:///srv/audio/a.wav"),
    ],
)
def test_openais_plain_base64_becomes_a_typed_data_uri(audio: dict[str, str], reference: str) -> None:
    """OpenAI's form (plain base64 + format) and DashScope's (a URI or URL) both name the audio."""
    body = ChatRequest.model_validate(
        {"model": "qwen3-asr-flash", "messages": [{"role": "user", "content": [{"input_audio": audio}]}]}
    )
    assert chat_to_options(body, CATALOG)[0] == reference


def test_a_format_that_is_no_format_name_is_refused() -> None:
    audio = {"data": "UklGRg==", "format": "wav;base64,x"}
    body = ChatRequest.model_validate(
        {"model": "qwen3-asr-flash", "messages": [{"role": "user", "content": [{"input_audio": audio}]}]}
    )
    with pytest.raises(InvalidParameterError) as raised:
        chat_to_options(body, CATALOG)
    assert raised.value.param == "messages.content.input_audio.format"


@pytest.mark.parametrize("model", ["whisper-1", "whisper-base", "qwen3-asr-flash"])
def test_chat_takes_the_transcription_names(model: str) -> None:
    assert chat_to_options(chat(model), CATALOG)[1].model == "whisper-base"


def test_vllms_audio_url_part_is_read_too() -> None:
    body = ChatRequest.model_validate(
        {"model": "qwen3-asr-flash", "messages": [{"role": "user", "content": [{"audio_url": {"url": DATA_URI}}]}]}
    )
    assert chat_to_options(body, CATALOG)[0] == DATA_URI


@pytest.mark.parametrize(
    ("body", "error", "param"),
    [
        (chat("qwen-audio-asr"), ModelNotFoundError, None),
        (chat("gpt-4o"), ModelNotFoundError, None),
        (chat("qwen3-asr-flash-filetrans"), InvalidParameterError, "model"),
        (chat(asr_options={"language": "x"}), InvalidParameterError, "language"),
        (
            ChatRequest.model_validate({"model": "qwen3-asr-flash", "messages": [{"role": "user"}]}),
            InvalidParameterError,
            "messages",
        ),
    ],
)
def test_chat_refusals_name_the_parameter(body: ChatRequest, error: type[AsrError], param: str | None) -> None:
    with pytest.raises(error) as raised:
        chat_to_options(body, CATALOG)
    assert raised.value.param == param


def test_a_chat_answer_is_the_documented_completion() -> None:
    body = chat_to_response("chatcmpl-1", "qwen3-asr-flash", transcript(ENGLISH), "Dashwood")
    assert_exact(ChatCompletion, body)
    choice = body["choices"][0]
    assert choice["message"]["content"] == "Good morning everyone. Let's begin."
    assert choice["message"]["annotations"] == [{"type": "audio_info", "language": "en"}]
    assert choice["logprobs"] is None and choice["message"]["refusal"] is None
    assert body["usage"]["prompt_tokens_details"] == {"audio_tokens": 100, "text_tokens": 1}  # 3.5 s → 4 s
    assert body["usage"]["total_tokens"] == 100 + 1 + 5 and body["usage"]["seconds"] == 4


def test_stream_chunks_and_the_done_event() -> None:
    first = chat_chunk("c", "m", delta={"role": "assistant", "content": ""})
    assert first["object"] == "chat.completion.chunk" and first["choices"][0]["delta"]["role"] == "assistant"
    assert first["choices"][0]["logprobs"] is None
    assert chat_chunk("c", "m", usage={"total_tokens": 3})["choices"] == []
    done = transcript_done_event("hello world", "", 2.1)
    assert done["usage"] == {
        "type": "tokens",
        "input_tokens": 75,
        "input_token_details": {"audio_tokens": 75, "text_tokens": 0},
        "output_tokens": 2,
        "total_tokens": 77,
    }


def test_transcription_fields_become_options() -> None:
    options = transcription_to_options(
        CATALOG,
        model="whisper-1",
        language="en",
        prompt="Dashwood",
        response_format="verbose_json",
        granularities=["word", "segment"],
        temperature=0.0,
    )
    assert options == TranscribeOptions(model="whisper-base", language="en", context="Dashwood", words=True)
    text_only = transcription_to_options(
        CATALOG, model="whisper-base", language=None, prompt=None, response_format="text", granularities=[]
    )
    assert not text_only.sentences and not text_only.words


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"temperature": 1.5}, "temperature"),
        ({"response_format": "docx"}, "response_format"),
        ({"response_format": "srt", "stream": True}, "response_format"),
        ({"granularities": ["char"], "response_format": "verbose_json"}, "timestamp_granularities[]"),
        ({"granularities": ["word"]}, "timestamp_granularities[]"),
    ],
)
def test_transcription_refusals_name_the_parameter(fields: dict[str, Any], param: str) -> None:
    args: dict[str, Any] = {"model": "whisper-1", "language": None, "prompt": None, "response_format": "json"}
    args["granularities"] = []
    args.update(fields)
    with pytest.raises(InvalidParameterError) as raised:
        transcription_to_options(CATALOG, **args)
    assert raised.value.param == param


@pytest.mark.parametrize("model", [None, "", "  "])
def test_a_transcription_or_translation_without_a_model_is_refused(model: str | None) -> None:
    with pytest.raises(InvalidParameterError) as raised:
        transcription_to_options(
            CATALOG, model=model, language=None, prompt=None, response_format="json", granularities=[]
        )
    assert raised.value.param == "model"
    with pytest.raises(InvalidParameterError) as refused:
        translation_to_options(CATALOG, model=model, prompt=None, response_format="json", temperature=None)
    assert refused.value.param == "model"


def test_translation_fields_become_the_translate_task() -> None:
    options = translation_to_options(CATALOG, model="whisper-1", prompt="Tires", response_format="srt", temperature=0)
    assert options == TranscribeOptions(model="whisper-base", context="Tires", task="translate")
    with pytest.raises(InvalidParameterError) as raised:
        translation_to_options(CATALOG, model="whisper-1", prompt=None, response_format="docx", temperature=None)
    assert raised.value.param == "response_format"


def test_a_translations_answers() -> None:
    t = transcript(ENGLISH)
    t = type(t)(t.channels, t.audio, TranscribeOptions(task="translate"), t.model)
    body, _ = transcription_to_response(t, "json")
    assert isinstance(body, dict)
    assert_exact(Translation, body)
    verbose, _ = transcription_to_response(t, "verbose_json")
    assert isinstance(verbose, dict) and verbose["task"] == "translate"
    assert_exact(VerboseTranscription, json.loads(json.dumps(verbose)))


def test_the_model_list_names_every_surface() -> None:
    body = model_list(CATALOG, ["whisper-base", "whisper-tiny.en"], lambda engine: engine == "whisper-base", 7)
    assert_exact(ModelList, body)
    cards = {card["id"]: card for card in body["data"]}
    assert cards["whisper-1"]["surfaces"] == ["chat.completions", "audio.transcriptions", "audio.translations"]
    assert cards["whisper-tiny.en"]["surfaces"] == ["chat.completions", "audio.transcriptions"]
    legacy = ["audio.transcriptions", "audio.translations", "dashscope.recognition"]
    assert cards["qwen-audio-asr"]["surfaces"] == legacy  # not in compatible mode's chat
    assert cards["qwen3-asr-flash-filetrans"]["surfaces"] == ["dashscope.file_transcription"]
    assert cards["qwen3-asr-flash"]["engine"] == "whisper-base"
    assert "chat.completions" in cards["qwen3-asr-flash"]["surfaces"]


def test_an_unknown_transcription_model_is_404() -> None:
    with pytest.raises(ModelNotFoundError):
        transcription_to_options(
            CATALOG, model="gpt-4o", language=None, prompt=None, response_format="json", granularities=[]
        )


def test_every_response_format_answers_its_documented_body() -> None:
    t = transcript(ENGLISH, words=True)
    body, content_type = transcription_to_response(t, "json")
    assert isinstance(body, dict) and content_type == "application/json"
    assert_exact(Transcription, body)
    assert body == {"text": "Good morning everyone. Let's begin.", "usage": {"type": "duration", "seconds": 4}}
    verbose, _ = transcription_to_response(t, "verbose_json")
    assert isinstance(verbose, dict)
    assert_exact(VerboseTranscription, json.loads(json.dumps(verbose)))
    assert verbose["language"] == "english" and len(verbose["words"]) == 5
    srt, srt_type = transcription_to_response(t, "srt")
    assert isinstance(srt, str) and srt.startswith("1\n00:00:00,320 --> ") and srt_type.startswith("text/plain")
    vtt, vtt_type = transcription_to_response(t, "vtt")
    assert isinstance(vtt, str) and vtt.startswith("WEBVTT") and vtt_type.startswith("text/vtt")
    text = ("Good morning everyone. Let's begin.\n", "text/plain; charset=utf-8")
    assert transcription_to_response(t, "text") == text


@pytest.mark.parametrize(("value", "expected"), [(None, False), ("false", False), (" TRUE ", True)])
def test_form_flags_take_true_or_false_only(value: str | None, expected: bool) -> None:
    assert strict_flag(value, "stream") is expected


def test_a_form_flag_that_is_neither_is_refused() -> None:
    with pytest.raises(InvalidParameterError) as raised:
        strict_flag("yes", "stream")
    assert raised.value.param == "stream"
