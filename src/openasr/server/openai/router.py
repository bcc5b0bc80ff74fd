"""OpenAI-compatible routes: chat/completions ASR (E9), POST /audio/transcriptions and /audio/translations,
GET /models.

All are mounted under `/compatible-mode/v1` (DashScope's compatible mode) and `/v1` (OpenAI's own
base path), so either base URL works for either client.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Header, UploadFile
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from openasr.core.billing import charge
from openasr.core.errors import AsrError, AudioTooLargeError, ModelNotFoundError
from openasr.core.options import TranscribeOptions
from openasr.core.types import Transcript
from openasr.engines.weights import BUNDLED
from openasr.server.annotations import audio_annotations
from openasr.server.deps import ApiKey, AppContext, Context, RequestId, header_enabled
from openasr.server.errors import openai_body
from openasr.server.models import DIARIZE_MODEL
from openasr.server.observe import Observation, Observed
from openasr.server.openai.chat_protocol import (
    CHAT_RESPONSES,
    ChatRequest,
    chat_chunk,
    chat_context,
    chat_to_options,
    chat_to_response,
    chat_usage,
)
from openasr.server.openai.diarized import DIARIZED_FORMAT, diarized_segments
from openasr.server.openai.known_speakers import (
    NAMES,
    REFERENCE_FIELD_BYTES,
    REFERENCES,
    check_known_speakers,
    known_speakers,
)
from openasr.server.openai.models_protocol import ModelCard, ModelList, model_list
from openasr.server.openai.protocol import (
    TRANSCRIPTION_RESPONSES,
    TRANSLATION_RESPONSES,
    check_chunking,
    strict_flag,
    transcript_delta_event,
    transcript_done_event,
    transcription_to_options,
    transcription_to_response,
    translation_to_options,
)
from openasr.server.sse import OPENAI_DONE, openai_event
from openasr.server.streaming import billed_steps, event_stream, open_stream
from openasr.server.surface import FORM_AUDIO_BYTES, JSON_AUDIO_BYTES, Surface, gated
from openasr.service import MB, OPENAI_FILE_LIMITS, AudioRequest, StreamUpdate

router = APIRouter(tags=["OpenAI-compatible"])
_COPY_BLOCK = 1 * MB
CHAT = Surface("openai", invocation=True, sync=True, max_body_bytes=JSON_AUDIO_BYTES)
TRANSCRIPTION = Surface("openai", invocation=True, sync=True, max_body_bytes=FORM_AUDIO_BYTES)
MODELS = Surface("openai")
_STARTED = int(time.time())


@router.post("/compatible-mode/v1/chat/completions", response_model=None, responses=CHAT_RESPONSES)
@router.post("/v1/chat/completions", response_model=None, include_in_schema=False)
@gated(CHAT)
async def chat_completions(
    body: ChatRequest,
    ctx: Context,
    api_key: ApiKey,
    rid: RequestId,
    obs: Observed,
    x_dashscope_ossresourceresolve: str | None = Header(default=None),
) -> JSONResponse | StreamingResponse:
    """Recognise the one `input_audio` of the user message; stream when `stream` is true. An upload's
    `oss://` key is taken with the same header as on DashScope's own surface (spec: compat chat)."""
    ref, options = chat_to_options(body, ctx.catalog)
    obs.model = body.model
    audio = AudioRequest(ref, api_key=api_key, oss_resolve=header_enabled(x_dashscope_ossresourceresolve))
    context = chat_context(body.messages)
    completion_id = f"chatcmpl-{rid}"
    if not body.stream:
        t = await run_in_threadpool(ctx.service.transcribe_now, audio, options)
        count = ctx.service.token_counter(options.model)
        obs.bill(t.audio.duration_s, context=context, text=t.text, count=count)
        return JSONResponse(chat_to_response(completion_id, body.model, t, context, count))
    updates = ctx.service.stream(audio, options)
    first = await open_stream(obs, updates)
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    counter = ctx.service.token_counter(options.model)

    def frames() -> Iterator[str]:
        yield openai_event(chat_chunk(completion_id, body.model, delta={"role": "assistant", "content": ""}))
        last: StreamUpdate = first
        text = ""
        for step in billed_steps(first, updates, obs, context=context, count=counter):
            last, text = step.update, step.text
            if step.delta:
                annotations = audio_annotations(step.language, step.emotion)
                delta = {"content": step.delta, "annotations": annotations}
                yield openai_event(chat_chunk(completion_id, body.model, delta=delta))
        yield openai_event(chat_chunk(completion_id, body.model, delta={}, finish_reason="stop"))
        if include_usage:
            usage = chat_usage(charge(last.audio.duration_s, context=context, text=text, count=counter))
            yield openai_event(chat_chunk(completion_id, body.model, usage=usage))
        yield OPENAI_DONE

    return event_stream(frames(), openai_error_event(rid), rid)


@router.post(
    "/v1/audio/transcriptions",
    response_model=None,
    responses=TRANSCRIPTION_RESPONSES,
    form_limits={"max_part_size": REFERENCE_FIELD_BYTES},
)
@router.post(
    "/compatible-mode/v1/audio/transcriptions",
    response_model=None,
    include_in_schema=False,
    form_limits={"max_part_size": REFERENCE_FIELD_BYTES},
)
@gated(TRANSCRIPTION)  # form_limits: a known speaker's reference (a data URL) outgrows Starlette's 1 MB field
async def transcriptions(
    ctx: Context,
    api_key: ApiKey,
    obs: Observed,
    rid: RequestId,
    file: Annotated[UploadFile, File(description="Audio or video, up to 25 MB / 30 min.")],
    model: Annotated[str | None, Form(description="required: whisper-1 or a name /v1/models lists")] = None,
    language: Annotated[str | None, Form()] = None,
    prompt: Annotated[str | None, Form()] = None,
    response_format: Annotated[str, Form()] = "json",
    temperature: Annotated[
        float | None, Form(description="0–1; decoding is always deterministic beam search (temperature 0).")
    ] = None,
    timestamp_granularities: Annotated[list[str] | None, Form(alias="timestamp_granularities[]")] = None,
    stream: Annotated[str | None, Form(description="true: OpenAI's transcript.text.delta … done events")] = None,
    speaker_names: Annotated[
        list[str] | None, Form(alias=NAMES, description="up to 4 names, one per known_speaker_references[]")
    ] = None,
    speaker_references: Annotated[
        list[str] | None, Form(alias=REFERENCES, description="data URLs of 2–10 s clips, one per known speaker")
    ] = None,
    chunking_strategy: Annotated[str | None, Form(description="auto or server_vad: accepted, always VAD")] = None,
    chunking_type: Annotated[str | None, Form(alias="chunking_strategy[type]")] = None,
) -> Response:
    """OpenAI's transcription API; `model` takes whisper-1, openasr's model names, the service's, or
    gpt-4o-transcribe-diarize (speakers, with `response_format=diarized_json`)."""
    streaming = strict_flag(stream, "stream")
    check_chunking(chunking_strategy, chunking_type)
    options = transcription_to_options(
        ctx.catalog,
        model=model,
        language=language,
        prompt=prompt,
        response_format=response_format,
        granularities=timestamp_granularities or [],
        temperature=temperature,
        stream=streaming,
    )
    names, references = speaker_names or [], speaker_references or []
    check_known_speakers(names, references, diarize=options.diarize, model=DIARIZE_MODEL)
    if names:
        speakers = await run_in_threadpool(known_speakers, names, references, ctx.settings.data_dir / "tmp")
        options = dataclasses.replace(options, known_speakers=speakers)
    obs.model = model or ""
    return await _recognise_upload(ctx, obs, rid, file, options, response_format, streaming=streaming)


@router.post("/v1/audio/translations", response_model=None, responses=TRANSLATION_RESPONSES)
@router.post("/compatible-mode/v1/audio/translations", response_model=None, include_in_schema=False)
@gated(TRANSCRIPTION)
async def translations(
    ctx: Context,
    api_key: ApiKey,
    obs: Observed,
    rid: RequestId,
    file: Annotated[UploadFile, File(description="Audio or video in any language, up to 25 MB / 30 min.")],
    model: Annotated[str | None, Form(description="required: a model whose engine translates (Whisper)")] = None,
    prompt: Annotated[str | None, Form(description="English text to steer the wording")] = None,
    response_format: Annotated[str, Form()] = "json",
    temperature: Annotated[
        float | None, Form(description="0–1; decoding is always deterministic beam search (temperature 0).")
    ] = None,
) -> Response:
    """OpenAI's translation API: English text from speech in any language, by Whisper's own `translate`
    task. A model whose engine cannot translate (Qwen3-ASR, English-only Whisper) is a 400 naming `model`."""
    options = translation_to_options(
        ctx.catalog, model=model, prompt=prompt, response_format=response_format, temperature=temperature
    )
    obs.model = model or ""
    return await _recognise_upload(ctx, obs, rid, file, options, response_format, streaming=False)


@router.get("/v1/models", response_model=ModelList)
@router.get("/compatible-mode/v1/models", response_model=ModelList, include_in_schema=False)
@gated(MODELS)
async def list_models(ctx: Context, api_key: ApiKey) -> JSONResponse:
    """Every model name this server takes, with its engine and the surfaces that accept it."""
    return JSONResponse(_models(ctx))


@router.get("/v1/models/{model:path}", response_model=ModelCard)
@router.get("/compatible-mode/v1/models/{model:path}", response_model=ModelCard, include_in_schema=False)
@gated(MODELS)
async def retrieve_model(model: str, ctx: Context, api_key: ApiKey) -> JSONResponse:
    """One model of the list (OpenAI's `models.retrieve`), or 404 `model_not_found`."""
    for card in _models(ctx)["data"]:
        if card["id"] == model:
            return JSONResponse(card)
    raise ModelNotFoundError(f"The model '{model}' does not exist", param="model")


def _models(ctx: AppContext) -> dict[str, Any]:
    engines = ctx.service.engines.opened()

    def can_translate(engine: str) -> bool:
        if engine in engines:
            return engines[engine].capabilities.translation
        return engine in BUNDLED and BUNDLED[engine].multilingual

    return model_list(ctx.catalog, list(engines), can_translate, _STARTED)


async def _recognise_upload(
    ctx: AppContext,
    obs: Observation,
    rid: str,
    file: UploadFile,
    options: TranscribeOptions,
    response_format: str,
    *,
    streaming: bool,
) -> Response:
    """Save the upload, recognise it (or stream it) and answer in `response_format`."""
    workdir = Path(tempfile.mkdtemp(dir=ctx.settings.data_dir / "tmp"))
    try:
        path = workdir / upload_name(file.filename)
        await run_in_threadpool(_save_upload, file, path, OPENAI_FILE_LIMITS.max_bytes)
        if streaming:
            diarized = response_format == DIARIZED_FORMAT
            return await _stream_transcription(ctx, obs, rid, path, options, workdir, diarized=diarized)
        t = await run_in_threadpool(ctx.service.transcribe_file, path, options, OPENAI_FILE_LIMITS)
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    shutil.rmtree(workdir, ignore_errors=True)
    obs.bill(t.audio.duration_s, context=options.context, text=t.text, count=ctx.service.token_counter(options.model))
    body, content_type = transcription_to_response(t, response_format)
    if isinstance(body, dict):
        return JSONResponse(body)
    return Response(body, media_type=content_type)


async def _stream_transcription(
    ctx: AppContext,
    obs: Observation,
    rid: str,
    path: Path,
    options: TranscribeOptions,
    workdir: Path,
    *,
    diarized: bool,
) -> StreamingResponse:
    """`stream=true`: a `transcript.text.delta` per recognised chunk, then `transcript.text.done` with
    the text and usage, for every model (chunks are recognised one after another whatever the engine).
    A diarized stream sends a `transcript.text.segment` per sentence before `done`: speakers are known
    only once the last chunk is in (they are clustered over the whole recording)."""
    updates = ctx.service.stream_file(path, options, OPENAI_FILE_LIMITS)
    first = await open_stream(obs, updates)
    count = ctx.service.token_counter(options.model)

    def frames() -> Iterator[str]:
        try:
            text, duration_s = "", first.audio.duration_s
            final: Transcript | None = None
            for step in billed_steps(first, updates, obs, context=options.context, count=count):
                text, duration_s = step.text, step.update.audio.duration_s
                final = step.update.transcript or final
                if step.delta:
                    yield openai_event(transcript_delta_event(step.delta))
            if diarized and final is not None:
                yield from (openai_event(segment) for segment in diarized_segments(final))
            yield openai_event(transcript_done_event(text, options.context, duration_s, count))
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    return event_stream(frames(), openai_error_event(rid), rid)


def openai_error_event(rid: str) -> Callable[[AsrError], str]:
    """A mid-stream failure as OpenAI's SDKs read it: an event whose data is the error envelope."""

    def on_error(exc: AsrError) -> str:
        return openai_event(openai_body(exc, rid))

    return on_error


def upload_name(filename: str | None) -> str:
    """A safe local name for the uploaded file: only its extension is kept (the decoder reads `.pcm`/`.raw`
    by it, and names the format by it); the client's name, which may be `..`, `/`, very long or hold a
    NUL, never reaches the file system."""
    suffix = Path((filename or "").replace("\0", "")).suffix.lower()
    if not (1 < len(suffix) <= 10 and suffix[1:].isalnum() and suffix.isascii()):
        suffix = ""
    return f"audio{suffix}"


def _save_upload(upload: UploadFile, target: Path, max_bytes: int) -> None:
    written = 0
    with target.open("wb") as out:
        while block := upload.file.read(_COPY_BLOCK):
            written += len(block)
            if written > max_bytes:
                raise AudioTooLargeError(f"the file is larger than {max_bytes // MB} MB", param="file")
            out.write(block)
