"""DashScope async file-transcription wire format (spec §7): the E4 request and the E4–E7 answers.

The response models are exact: the router documents them as each route's 200 answer, and the CLI
client (`openasr task …`) builds its requests and reads the answers with the same models. Keys that
the service leaves out (E5's times before they happen, `task_metrics` while PENDING …) are optional
fields that the converters leave unset, and `dump` drops them.

Times go out as the service writes them: `YYYY-MM-DD HH:MM:SS.mmm` (UTC) on E5, epoch ms on E7.
Beyond the service, E5 also reports `progress` (0–1) and `audio_seconds_done`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from openasr.core.errors import InvalidParameterError
from openasr.core.options import TranscribeOptions
from openasr.jobs.records import TaskFilter, TaskStatus
from openasr.jobs.tasks import TaskView


class TranscriptionInput(BaseModel):
    model_config = ConfigDict(extra="allow")
    file_url: str = Field(min_length=1)


class Corpus(BaseModel):
    model_config = ConfigDict(extra="allow")
    text: str = ""


class TranscriptionParameters(BaseModel):
    """Flat parameters (not `asr_options`); `corpus.text` is an older spelling of `text`.
    `diarization_enabled` and `speaker_count` are openasr's extension of the Qwen3-ASR API, spelt as
    Alibaba's Paraformer file transcription spells them: each sentence of the result gets `speaker_id`."""

    model_config = ConfigDict(extra="allow")
    language: str | None = None
    enable_itn: StrictBool = False
    enable_words: StrictBool = False
    text: str | None = None
    corpus: Corpus | None = None
    channel_id: list[int] = Field(default_factory=lambda: [0])
    diarization_enabled: StrictBool | None = Field(default=None, description="who spoke when: speaker_id per sentence")
    speaker_count: StrictInt | None = Field(
        default=None, description="with diarization_enabled: exactly this many speakers (1–20); else counted"
    )


class TranscriptionRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str = Field(min_length=1)
    input: TranscriptionInput
    parameters: TranscriptionParameters = Field(default_factory=TranscriptionParameters)


class SubmitOutput(BaseModel):
    task_id: str
    task_status: Literal["PENDING"]


class SubmitResponse(BaseModel):
    """E4's answer."""

    request_id: str
    output: SubmitOutput


TaskState = Literal["PENDING", "RUNNING", "SUCCEEDED", "FAILED", "CANCELED", "UNKNOWN"]


class TaskMetrics(BaseModel):
    TOTAL: int
    SUCCEEDED: int
    FAILED: int


class TaskResult(BaseModel):
    transcription_url: str = Field(description="signed, expiring URL of the result JSON (E8)")


class TaskOutput(BaseModel):
    """E5's `output`; `task_id` and `task_status` are always there (the SDK requires both), UNKNOWN for
    an id that does not exist for the caller."""

    task_id: str
    task_status: TaskState
    submit_time: str | None = None
    scheduled_time: str | None = None
    end_time: str | None = None
    task_metrics: TaskMetrics | None = None
    result: TaskResult | None = None
    code: str | None = None
    message: str | None = None
    progress: float | None = Field(default=None, description="share of the audio recognised, 0–1")
    audio_seconds_done: float | None = Field(default=None, description="seconds recognised, all channels")


class TaskUsage(BaseModel):
    seconds: int = Field(description="billed audio seconds: ceil(duration) × channels")


class TaskResponse(BaseModel):
    """E5's answer; `usage` once the task SUCCEEDED."""

    request_id: str
    output: TaskOutput
    usage: TaskUsage | None = None


class CancelResponse(BaseModel):
    """E6's answer."""

    request_id: str


class TaskListItem(BaseModel):
    task_id: str
    status: TaskState
    model_name: str
    request_id: str
    api_key_id: str
    region: str
    gmt_create: int = Field(description="submit time, epoch ms")
    start_time: int | None = Field(description="when a worker first took it, epoch ms")
    end_time: int | None = Field(description="epoch ms")
    user_api_unique_key: str


class TaskListResponse(BaseModel):
    """E7's answer."""

    request_id: str
    total: int
    total_page: int
    page_no: int
    page_size: int
    data: list[TaskListItem]


class ResultWord(BaseModel):
    begin_time: int
    end_time: int
    text: str
    punctuation: str


class ResultSentence(BaseModel):
    sentence_id: int
    begin_time: int = Field(description="ms")
    end_time: int = Field(description="ms")
    text: str
    language: str
    emotion: str | None = Field(default=None, description="only when an emotion classifier is active")
    speaker_id: int | None = Field(
        default=None, description="with diarization_enabled: the speaker, from 0 in order of first appearance"
    )
    words: list[ResultWord] | None = Field(default=None, description="with enable_words")


class ResultTranscript(BaseModel):
    channel_id: int
    text: str
    sentences: list[ResultSentence]


class ResultAudioInfo(BaseModel):
    format: str
    sample_rate: int


class ResultDocument(BaseModel):
    """E8: the result file at `transcription_url` (`postprocess.formats.render_json`)."""

    file_url: str | None = None
    audio_info: ResultAudioInfo
    transcripts: list[ResultTranscript]
    language: str


def dump(model: BaseModel) -> dict[str, Any]:
    """The JSON body of an answer: fields left unset are absent, as the service leaves them out."""
    return model.model_dump(mode="json", exclude_unset=True)


def to_options(request: TranscriptionRequest, engine_model: str) -> TranscribeOptions:
    """E4's parameters as the options the task runs with (validated when the task is queued)."""
    p = request.parameters
    context = p.text if p.text is not None else (p.corpus.text if p.corpus else "")
    return TranscribeOptions(
        model=engine_model,
        language=p.language or None,
        itn=p.enable_itn,
        context=context,
        words=p.enable_words,
        sentences=True,
        channels=tuple(p.channel_id),
        diarize=bool(p.diarization_enabled),
        speaker_count=p.speaker_count,
    )


def service_time(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def task_output(view: TaskView, transcription_url: str | None) -> TaskOutput:
    """E5's `output` for a task the caller may see."""
    out = TaskOutput(task_id=view.task_id, task_status=cast(TaskState, view.status.value))
    times = {"submit_time": view.submit_time_ms, "scheduled_time": view.scheduled_time_ms, "end_time": view.end_time_ms}
    for name, ms in times.items():
        if ms is not None:
            setattr(out, name, service_time(ms))
    if view.status is not TaskStatus.PENDING:
        done = view.status is TaskStatus.SUCCEEDED
        out.task_metrics = TaskMetrics(TOTAL=1, SUCCEEDED=int(done), FAILED=int(view.status is TaskStatus.FAILED))
    if transcription_url is not None:
        out.result = TaskResult(transcription_url=transcription_url)
    if view.status is TaskStatus.FAILED:
        out.code = view.code or "INTERNAL_ERROR"
        out.message = view.message or out.code
    out.progress = round(view.progress, 4)
    out.audio_seconds_done = round(view.audio_seconds_done, 3)
    return out


def unknown_output(task_id: str) -> TaskOutput:
    return TaskOutput(task_id=task_id, task_status="UNKNOWN")


def list_item(view: TaskView, region: str) -> TaskListItem:
    return TaskListItem(
        task_id=view.task_id,
        status=cast(TaskState, view.status.value),
        model_name=view.model_name,
        request_id=view.request_id,
        api_key_id=view.api_key_id,
        region=region,
        gmt_create=view.submit_time_ms,
        start_time=view.scheduled_time_ms,
        end_time=view.end_time_ms,
        user_api_unique_key=f"apikey:v1:audio:asr:transcription:{view.model_name}",
    )


def parse_list_time(value: str | None, name: str) -> int | None:
    """E7 takes `YYYYMMDDhhmmss` (UTC); returns epoch ms."""
    if not value:
        return None
    try:
        moment = datetime.strptime(value, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError as exc:
        raise InvalidParameterError(f"{name} must be YYYYMMDDhhmmss", param=name) from exc
    return int(moment.timestamp() * 1000)


def list_filter(
    *,
    api_key_id: str,
    status: str | None,
    model_name: str | None,
    task_id: str | None,
    start_time: str | None,
    end_time: str | None,
) -> TaskFilter:
    if status is not None and status.upper() not in TaskStatus.__members__:
        raise InvalidParameterError(f"unknown status {status!r}", param="status")
    return TaskFilter(
        status=TaskStatus(status.upper()) if status else None,
        model_name=model_name or None,
        api_key_id=api_key_id,
        task_id=task_id or None,
        start_ms=parse_list_time(start_time, "start_time"),
        end_ms=parse_list_time(end_time, "end_time"),
    )
