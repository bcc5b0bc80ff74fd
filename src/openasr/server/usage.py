"""`GET /api/v1/usage`: billed audio seconds and tokens per UTC day and model, from the task store.

A key sees its own usage; a key listed in `OPENASR_ADMIN_KEYS` sees every key's, each named by its
key id (a hash prefix, the same id the task list uses), never the key itself.
"""

from __future__ import annotations

import datetime as dt
import hmac
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from openasr.core.errors import AccessDeniedError, InvalidParameterError
from openasr.core.keys import key_id
from openasr.jobs.usage import UsageTotal
from openasr.server.deps import ApiKey, Context, RequestId
from openasr.server.surface import Surface, gated

router = APIRouter(prefix="/api/v1", tags=["ops"])
USAGE = Surface("ops")
DEFAULT_DAYS = 30


class UsageRow(BaseModel):
    day: str = Field(description="UTC date, YYYY-MM-DD")
    api_key_id: str = Field(description="the key's id: a stable hash prefix, never the key")
    model: str
    requests: int = Field(description="billable calls: sync, streamed, OpenAI and finished tasks")
    seconds: int = Field(description="billed audio seconds (each call rounded up, per channel)")
    input_tokens: int = Field(description="audio at 25 tokens/s plus context text")
    output_tokens: int = Field(description="recognised text")


class UsageTotals(BaseModel):
    requests: int = 0
    seconds: int = 0
    input_tokens: int = 0
    output_tokens: int = 0


class UsageResponse(BaseModel):
    request_id: str
    start: str
    end: str
    scope: str = Field(description="`own`: the caller's key; `all`: every key; `key`: one other key (admin keys)")
    usage: list[UsageRow]
    total: UsageTotals


def day_range(start: str | None, end: str | None, today: dt.date) -> tuple[str, str]:
    """Inclusive UTC days; default the last 30 days up to today."""
    last = _day(end, "end") if end else today
    first = _day(start, "start") if start else last - dt.timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise InvalidParameterError("start is after end", param="start")
    return first.isoformat(), last.isoformat()


def _day(value: str, param: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InvalidParameterError(f"{param} must be a date YYYY-MM-DD, got {value!r}", param=param) from None


def is_admin(api_key: str | None, admin_keys: tuple[str, ...]) -> bool:
    return bool(api_key) and any(hmac.compare_digest(str(api_key), k) for k in admin_keys)


def to_response(rid: str, start: str, end: str, scope: str, rows: list[UsageTotal]) -> UsageResponse:
    total = UsageTotals()
    for r in rows:
        total.requests += r.requests
        total.seconds += r.seconds
        total.input_tokens += r.input_tokens
        total.output_tokens += r.output_tokens
    usage = [UsageRow(**vars(r)) for r in rows]
    return UsageResponse(request_id=rid, start=start, end=end, scope=scope, usage=usage, total=total)


@router.get("/usage")
@gated(USAGE)
async def get_usage(
    ctx: Context,
    api_key: ApiKey,
    rid: RequestId,
    start: Annotated[str | None, Query(description="first UTC day, YYYY-MM-DD (default: 29 days before end)")] = None,
    end: Annotated[str | None, Query(description="last UTC day, YYYY-MM-DD (default: today)")] = None,
    api_key_id: Annotated[str | None, Query(description="admin keys: only this key id")] = None,
) -> UsageResponse:
    """Usage by day, key and model: your own key's, or with an admin key every key's."""
    first, last = day_range(start, end, dt.datetime.now(dt.UTC).date())
    own = key_id(api_key)
    admin = is_admin(api_key, ctx.settings.admin_keys)
    if api_key_id not in (None, own) and not admin:
        raise AccessDeniedError("only admin keys (OPENASR_ADMIN_KEYS) may read another key's usage")
    wanted = api_key_id if admin else own
    assert ctx.tasks is not None, "the app builds the task store"
    rows = await run_in_threadpool(ctx.tasks.store.usage_totals, first, last, api_key_id=wanted)
    scope = "all" if wanted is None else "own" if wanted == own else "key"
    return to_response(rid, first, last, scope, rows)
