"""Usage bookkeeping in the task database: one row per billable call, totals per day, key and model.

The store writes a task's row in the same transaction that finishes the task (exactly once); sync calls
are recorded by the surface when they end.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from openasr.jobs.schema import usage


@dataclass(frozen=True)
class Usage:
    """What one call is billed: audio seconds (rounded up, per channel) and the tokens its response
    reported (input: audio at 25 tokens/s plus context text; output: recognised text)."""

    seconds: int
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass(frozen=True)
class UsageTotal:
    """Usage summed over one UTC day, one key (by its id, never the key) and one model."""

    day: str
    api_key_id: str
    model: str
    requests: int
    seconds: int
    input_tokens: int
    output_tokens: int


def usage_row(now_ms: int, api_key_id: str, model: str, surface: str, charge: Usage, request_id: str) -> sa.Insert:
    """The INSERT of one call's usage at `now_ms` (its UTC day stored alongside)."""
    return usage.insert().values(
        time_ms=now_ms,
        day=time.strftime("%Y-%m-%d", time.gmtime(now_ms / 1000)),
        api_key_id=api_key_id,
        model=model,
        surface=surface,
        seconds=charge.seconds,
        input_tokens=charge.input_tokens,
        output_tokens=charge.output_tokens,
        request_id=request_id[:64],
    )


def usage_totals(conn: Connection, start_day: str, end_day: str, api_key_id: str | None) -> list[UsageTotal]:
    """Totals per day, key and model for the UTC days `start_day`..`end_day` (YYYY-MM-DD, inclusive);
    only `api_key_id`'s when given. Ordered by day, key, model."""
    columns = (usage.c.day, usage.c.api_key_id, usage.c.model)
    conditions = [usage.c.day >= start_day, usage.c.day <= end_day]
    if api_key_id is not None:
        conditions.append(usage.c.api_key_id == api_key_id)
    query = (
        sa.select(
            *columns,
            sa.func.count(),
            sa.func.sum(usage.c.seconds),
            sa.func.sum(usage.c.input_tokens),
            sa.func.sum(usage.c.output_tokens),
        )
        .where(*conditions)
        .group_by(*columns)
        .order_by(*columns)
    )
    rows = conn.execute(query).all()
    return [UsageTotal(r[0], r[1], r[2], *(int(v or 0) for v in r[3:])) for r in rows]
