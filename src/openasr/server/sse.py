"""Server-sent event framing for both surfaces (spec §5.2, §8.3).

DashScope's SDK parses line by line and compares `event:` text exactly, so there is no space after the
colon, JSON stays on one `data:` line, and errors carry a `status:` line (the only place the SDK reads an
in-stream status from). OpenAI's SDK reads standard `data: …` events and stops at `data: [DONE]`.
"""

from __future__ import annotations

import json
from typing import Any

EVENT_STREAM = "text/event-stream;charset=UTF-8"
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def _dumps(payload: dict[str, Any]) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def dashscope_event(event_id: int, payload: dict[str, Any]) -> str:
    return f"id:{event_id}\nevent:result\n:HTTP_STATUS/200\ndata:{_dumps(payload)}\n\n"


def dashscope_error(event_id: int, status: int, payload: dict[str, Any]) -> str:
    return f"id:{event_id}\nevent:error\n:HTTP_STATUS/{status}\nstatus:{status}\ndata:{_dumps(payload)}\n\n"


def openai_event(payload: dict[str, Any]) -> str:
    return f"data: {_dumps(payload)}\n\n"


OPENAI_DONE = "data: [DONE]\n\n"
