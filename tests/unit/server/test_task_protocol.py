"""The DashScope async converters: E4's request → the task's options, and a task → the E4–E7 answers
(exactly their documented models), plus E7's filter parsing. The CLI builds E4 with the same models."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from openasr.core.errors import InvalidParameterError
from openasr.core.options import TranscribeOptions
from openasr.jobs.records import TaskFilter, TaskStatus
from openasr.jobs.tasks import TaskView
from openasr.postprocess.formats import render_json
from openasr.server.dashscope.task_protocol import (
    ResultDocument,
    TaskListItem,
    TaskOutput,
    TranscriptionParameters,
    TranscriptionRequest,
    dump,
    list_filter,
    list_item,
    task_output,
    to_options,
    unknown_output,
)
from unit.postprocess.test_formats import ENGLISH, transcript
from wire import assert_exact

T0_MS = 1_767_261_600_000  # 2026-01-01 10:00:00 UTC
VIEW = TaskView(
    task_id="t1",
    status=TaskStatus.PENDING,
    model_name="qwen3-asr-flash-filetrans",
    request_id="req-1",
    api_key_id="abc123",
    file_url="https://example.org/a.wav",
    submit_time_ms=T0_MS,
    scheduled_time_ms=None,
    end_time_ms=None,
    code=None,
    message=None,
    progress=0.0,
    audio_seconds_done=0.0,
    audio_seconds_total=None,
    audio_duration_s=None,
    usage_seconds=None,
    result_key=None,
    result_expires_at_s=None,
)


def test_the_e4_parameters_become_the_tasks_options() -> None:
    body = {
        "model": "qwen3-asr-flash-filetrans",
        "input": {"file_url": "https://example.org/a.wav"},
        "parameters": {
            "language": "en",
            "enable_itn": True,
            "enable_words": True,
            "text": "Dashwood",
            "channel_id": [1, 0],
        },
    }
    options = to_options(TranscriptionRequest.model_validate(body), "whisper-base")
    assert options == TranscribeOptions(
        model="whisper-base", language="en", itn=True, context="Dashwood", words=True, channels=(1, 0)
    )


def test_defaults_and_the_older_corpus_spelling() -> None:
    body = {"model": "m", "input": {"file_url": "u"}, "parameters": {"corpus": {"text": "Norland"}}}
    options = to_options(TranscriptionRequest.model_validate(body), "whisper-base")
    assert (options.context, options.channels, options.language, options.itn, options.words) == (
        "Norland",
        (0,),
        None,
        False,
        False,
    )


def test_the_cli_request_reads_back_as_the_same_options() -> None:
    """The CLI serialises E4 with these models; the server reads it into the options the flags meant."""
    parameters = TranscriptionParameters(language="en", enable_words=True, text="Dashwood", channel_id=[1])
    sent = TranscriptionRequest.model_validate(
        {"model": "qwen3-asr-flash-filetrans", "input": {"file_url": "oss://k/a.wav"}, "parameters": parameters}
    ).model_dump(mode="json", exclude_none=True)
    assert sent["parameters"] == {
        "language": "en",
        "enable_itn": False,
        "enable_words": True,
        "text": "Dashwood",
        "channel_id": [1],
    }
    received = to_options(TranscriptionRequest.model_validate(sent), "whisper-base")
    assert received == TranscribeOptions(
        model="whisper-base", language="en", context="Dashwood", words=True, channels=(1,)
    )


def test_a_pending_task_leaves_out_what_has_not_happened() -> None:
    body = dump(task_output(VIEW, None))
    assert_exact(TaskOutput, body)
    assert body == {
        "task_id": "t1",
        "task_status": "PENDING",
        "submit_time": "2026-01-01 10:00:00.000",
        "progress": 0.0,
        "audio_seconds_done": 0.0,
    }


def test_a_succeeded_and_a_failed_task() -> None:
    done = replace(
        VIEW,
        status=TaskStatus.SUCCEEDED,
        scheduled_time_ms=T0_MS + 1500,
        end_time_ms=T0_MS + 61_001,
        progress=1.0,
        audio_seconds_done=61.23456,
        usage_seconds=62,
    )
    body = dump(task_output(done, "http://h/results/t1.json?Expires=1&Signature=s"))
    assert_exact(TaskOutput, body)
    assert body["task_metrics"] == {"TOTAL": 1, "SUCCEEDED": 1, "FAILED": 0}
    assert body["end_time"] == "2026-01-01 10:01:01.001" and body["audio_seconds_done"] == 61.235
    assert body["result"] == {"transcription_url": "http://h/results/t1.json?Expires=1&Signature=s"}
    assert "code" not in body

    failed = dump(task_output(replace(VIEW, status=TaskStatus.FAILED, end_time_ms=T0_MS, code="DECODE_ERROR"), None))
    assert_exact(TaskOutput, failed)
    assert (failed["code"], failed["message"]) == ("DECODE_ERROR", "DECODE_ERROR")
    assert failed["task_metrics"] == {"TOTAL": 1, "SUCCEEDED": 0, "FAILED": 1} and "result" not in failed


def test_an_unknown_task_has_only_its_id_and_state() -> None:
    assert dump(unknown_output("nope")) == {"task_id": "nope", "task_status": "UNKNOWN"}


def test_a_list_item_keeps_times_it_lacks_as_null() -> None:
    body = dump(list_item(VIEW, "local"))
    assert_exact(TaskListItem, body)
    assert body["gmt_create"] == T0_MS and body["start_time"] is None and body["end_time"] is None
    assert body["user_api_unique_key"] == "apikey:v1:audio:asr:transcription:qwen3-asr-flash-filetrans"


def test_list_filters_parse_the_service_time_format() -> None:
    f = list_filter(
        api_key_id="k",
        status="running",
        model_name="",
        task_id=None,
        start_time="20260101100000",
        end_time="20260101100001",
    )
    assert f == TaskFilter(status=TaskStatus.RUNNING, api_key_id="k", start_ms=T0_MS, end_ms=T0_MS + 1000)


@pytest.mark.parametrize(
    ("field", "value", "param"),
    [("status", "DONE", "status"), ("start_time", "2026-01-01", "start_time"), ("end_time", "x", "end_time")],
)
def test_bad_list_filters_name_the_parameter(field: str, value: str, param: str) -> None:
    args: dict[str, Any] = {
        "api_key_id": "k",
        "status": None,
        "model_name": None,
        "task_id": None,
        "start_time": None,
        "end_time": None,
    }
    args[field] = value
    with pytest.raises(InvalidParameterError) as raised:
        list_filter(**args)
    assert raised.value.param == param


def test_the_result_document_model_matches_the_rendered_result() -> None:
    assert_exact(ResultDocument, render_json(transcript(ENGLISH, words=True), file_url="https://example.org/a.m4a"))
    assert_exact(ResultDocument, render_json(transcript(ENGLISH)))
