"""`GET /api/v1/usage`'s converters: the day window it reads and the answer it writes from store totals."""

from __future__ import annotations

import datetime as dt

import pytest

from openasr.core.errors import InvalidParameterError
from openasr.jobs.usage import UsageTotal
from openasr.server.usage import UsageResponse, day_range, to_response
from wire import assert_exact

TODAY = dt.date(2026, 1, 31)


def test_the_window_defaults_to_the_last_30_days_and_takes_explicit_days() -> None:
    assert day_range(None, None, TODAY) == ("2026-01-02", "2026-01-31")
    assert day_range(None, "2026-01-10", TODAY) == ("2025-12-12", "2026-01-10")
    assert day_range("2026-01-05", "2026-01-05", TODAY) == ("2026-01-05", "2026-01-05")


@pytest.mark.parametrize(
    ("start", "end", "param"), [("yesterday", None, "start"), ("2026-02-02", "2026-02-01", "start"), (None, "x", "end")]
)
def test_a_bad_window_names_the_parameter(start: str | None, end: str | None, param: str) -> None:
    with pytest.raises(InvalidParameterError) as raised:
        day_range(start, end, TODAY)
    assert raised.value.param == param


def test_the_answer_lists_the_rows_and_their_total() -> None:
    rows = [
        UsageTotal("2026-01-01", "a", "qwen3-asr-flash", 2, 20, 500, 30),
        UsageTotal("2026-01-02", "a", "qwen3-asr-flash-filetrans", 1, 61, 1525, 120),
    ]
    body = to_response("r1", "2026-01-01", "2026-01-02", "own", rows).model_dump(mode="json")
    assert_exact(UsageResponse, body)
    assert body["usage"][1] == {
        "day": "2026-01-02",
        "api_key_id": "a",
        "model": "qwen3-asr-flash-filetrans",
        "requests": 1,
        "seconds": 61,
        "input_tokens": 1525,
        "output_tokens": 120,
    }
    assert body["total"] == {"requests": 3, "seconds": 81, "input_tokens": 2025, "output_tokens": 150}
    empty = to_response("r2", "2026-01-01", "2026-01-02", "all", []).model_dump(mode="json")
    assert empty["usage"] == []
    assert empty["total"] == {"requests": 0, "seconds": 0, "input_tokens": 0, "output_tokens": 0}
