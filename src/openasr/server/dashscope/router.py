"""DashScope native sync recognition (E1), JSON or SSE (`X-DashScope-SSE: enable`)."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import APIRouter, Header
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from openasr.core.errors import AsrError
from openasr.server.dashscope.protocol import (
    GENERATION_RESPONSES,
    GenerationRequest,
    context_of,
    to_options,
    to_response,
)
from openasr.server.deps import ApiKey, Context, RequestId, header_enabled
from openasr.server.errors import dashscope_body
from openasr.server.observe import Observed
from openasr.server.sse import dashscope_error, dashscope_event
from openasr.server.streaming import billed_steps, event_stream, open_stream
from openasr.server.surface import JSON_AUDIO_BYTES, Surface, gated
from openasr.service import AudioRequest

router = APIRouter(prefix="/api/v1", tags=["DashScope"])
SYNC = Surface("dashscope", invocation=True, sync=True, max_body_bytes=JSON_AUDIO_BYTES)


@router.post("/services/aigc/multimodal-generation/generation", response_model=None, responses=GENERATION_RESPONSES)
@gated(SYNC)
async def generate(
    body: GenerationRequest,
    ctx: Context,
    api_key: ApiKey,
    rid: RequestId,
    obs: Observed,
    x_dashscope_sse: str | None = Header(default=None),
    x_dashscope_ossresourceresolve: str | None = Header(default=None),
) -> JSONResponse | StreamingResponse:
    """Sync recognition of audio ≤ 10 MB / 5 min: http(s) URL, data URI, or oss:// upload key."""
    ref, options = to_options(body, ctx.catalog)
    obs.model = body.model
    audio = AudioRequest(ref, api_key=api_key, oss_resolve=header_enabled(x_dashscope_ossresourceresolve))
    context = context_of(body.input.messages)
    if not header_enabled(x_dashscope_sse):
        t = await run_in_threadpool(ctx.service.transcribe_now, audio, options)
        count = ctx.service.token_counter(options.model)
        obs.bill(t.audio.duration_s, context=context, text=t.text, count=count)
        return JSONResponse(
            to_response(
                request_id=rid,
                model=body.model,
                text=t.text,
                language=t.language,
                emotion=t.emotion,
                context=context,
                duration_s=t.audio.duration_s,
                count=count,
            )
        )
    updates = ctx.service.stream(audio, options)
    first = await open_stream(obs, updates)
    incremental = bool(body.parameters.incremental_output)
    counter = ctx.service.token_counter(options.model)

    def frames() -> Iterator[str]:
        steps = billed_steps(first, updates, obs, context=context, count=counter)
        for n, step in enumerate(steps, start=1):
            if not step.final and not step.delta:
                continue
            payload = to_response(
                request_id=rid,
                model=body.model,
                text=step.delta if incremental else step.text,
                language=step.language,
                emotion=step.emotion,
                context=context,
                duration_s=step.update.audio.duration_s,
                finish_reason="stop" if step.final else "null",
                count=counter,
                billed_text=step.text,
            )
            yield dashscope_event(n, payload)

    def on_error(exc: AsrError) -> str:
        return dashscope_error(0, exc.http_status, dashscope_body(exc, rid))

    return event_stream(frames(), on_error, rid)
