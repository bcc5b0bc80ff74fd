"""The DashScope sync converters: `to_options` (request → audio reference and options, refusing what
cannot be honoured with the parameter named) and `to_response` (transcript → the documented answer)."""

from __future__ import annotations

import pytest

from openasr.core.errors import AsrError, InvalidParameterError, ModelNotFoundError
from openasr.core.options import TranscribeOptions
from openasr.server.dashscope.protocol import (
    GenerationRequest,
    GenerationResponse,
    LegacyGenerationResponse,
    to_options,
    to_response,
)
from openasr.server.models import ModelCatalog
from wire import assert_exact

CATALOG = ModelCatalog("whisper-base")
AUDIO = "https://example.org/board-meeting.wav"


def request(model: str = "qwen3-asr-flash", **asr_options: object) -> GenerationRequest:
    return GenerationRequest.model_validate(
        {
            "model": model,
            "input": {
                "messages": [
                    {"role": "system", "content": [{"text": "Dashwood"}]},
                    {"role": "system", "content": "Norland Park"},
                    {"role": "user", "content": [{"audio": AUDIO}]},
                ]
            },
            "parameters": {"asr_options": asr_options},
        }
    )


def test_a_request_becomes_the_audio_and_options_in_domain_terms() -> None:
    ref, options = to_options(request(language="en", enable_itn=True), CATALOG)
    assert ref == AUDIO
    assert options == TranscribeOptions(
        model="whisper-base", language="en", itn=True, context="Dashwood\nNorland Park", sentences=False
    )


def test_an_empty_language_means_detect_it_and_the_legacy_model_takes_no_context() -> None:
    _, options = to_options(request("qwen-audio-asr", language=""), CATALOG)
    assert options.language is None and options.context == ""


@pytest.mark.parametrize(
    ("body", "error", "param"),
    [
        (request(language="x"), InvalidParameterError, "language"),
        (request("qwen3-asr-flash-filetrans"), InvalidParameterError, "model"),
        (request("gpt-4o"), ModelNotFoundError, None),
        (
            GenerationRequest.model_validate(
                {"model": "qwen3-asr-flash", "input": {"messages": [{"role": "user", "content": [{"text": "hi"}]}]}}
            ),
            InvalidParameterError,
            "input.messages",
        ),
    ],
)
def test_what_cannot_be_honoured_is_refused_naming_the_parameter(
    body: GenerationRequest, error: type[AsrError], param: str | None
) -> None:
    with pytest.raises(error) as raised:
        to_options(body, CATALOG)
    assert raised.value.param == param and raised.value.http_status in (400, 404)


def test_the_answer_is_the_documented_shape_with_usage_counted() -> None:
    body = to_response(
        request_id="r1",
        model="qwen3-asr-flash",
        text="你好 world",
        language="zh",
        context="Dashwood",
        duration_s=3.2,
    )
    assert_exact(GenerationResponse, body)
    assert body["output"]["choices"][0]["message"]["content"] == [{"text": "你好 world"}]
    assert body["output"]["choices"][0]["message"]["annotations"] == [{"type": "audio_info", "language": "zh"}]
    assert body["usage"] == {
        "input_tokens_details": {"text_tokens": 1},
        "output_tokens_details": {"text_tokens": 3},  # two CJK characters and one word
        "seconds": 4,
    }


def test_emotion_is_there_only_when_classified_and_streams_bill_the_whole_text() -> None:
    body = to_response(
        request_id="r1",
        model="qwen3-asr-flash",
        text="world",
        language="en",
        context="",
        duration_s=1.0,
        finish_reason="null",
        emotion="happy",
        billed_text="hello world",
    )
    assert_exact(GenerationResponse, body)
    assert body["output"]["choices"][0]["finish_reason"] == "null"
    assert body["output"]["choices"][0]["message"]["annotations"][0]["emotion"] == "happy"
    assert body["usage"]["output_tokens_details"] == {"text_tokens": 2}


def test_the_legacy_model_answers_in_its_older_shape() -> None:
    body = to_response(
        request_id="r1", model="qwen-audio-asr", text="hello world", language="en", context="", duration_s=10.0
    )
    assert_exact(LegacyGenerationResponse, body)
    assert body["output"]["text"] is None and "annotations" not in body["output"]["choices"][0]["message"]
    assert body["usage"] == {"input_tokens": 250, "output_tokens": 2, "audio_tokens": 250}
