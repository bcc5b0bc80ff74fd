"""`openasr usage`: the server's usage table (`GET /api/v1/usage`) for your key, or every key's with an
admin key: one row per UTC day, key id and model, and the total."""

from __future__ import annotations

import json
import os
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from openasr.cli.tasks import DEFAULT_KEY, DEFAULT_SERVER, ApiKeyOption, Server, client_for
from openasr.server.usage import UsageResponse

COLUMNS = ("day", "api_key_id", "model", "requests", "seconds", "input_tokens", "output_tokens")


def usage(
    start: Annotated[str | None, typer.Option(help="First UTC day, YYYY-MM-DD (default: 29 days before end).")] = None,
    end: Annotated[str | None, typer.Option(help="Last UTC day, YYYY-MM-DD (default: today).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the server's JSON instead of a table.")] = False,
    server: Server = DEFAULT_SERVER,
    api_key: ApiKeyOption = DEFAULT_KEY,
) -> None:
    """Billed audio seconds and tokens per day, key and model, from a server."""
    with client_for(server, api_key) as client:
        body = client.usage(start, end)
    if as_json:
        print(json.dumps(body.model_dump(mode="json"), ensure_ascii=False, indent=2))
        return
    piped = not sys.stdout.isatty() and "COLUMNS" not in os.environ
    console = Console(width=200 if piped else None)
    console.print(render_table(body))


def render_table(body: UsageResponse) -> Table:
    table = Table(*COLUMNS, title=f"usage {body.start} … {body.end} ({body.scope})")
    for row in body.usage:
        table.add_row(*(str(getattr(row, c)) for c in COLUMNS))
    table.add_row("total", "", "", *(str(getattr(body.total, c)) for c in COLUMNS[3:]), style="bold")
    return table
