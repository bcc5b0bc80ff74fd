"""`openasr models`: what each model offers, read from its backend without loading it, and with
`--server`, which models that server has in memory now (its `openasr_engine_loaded` metric)."""

from __future__ import annotations

import os
import re
import sys
from typing import Annotated

import httpx
import typer
from rich.console import Console
from rich.table import Table

from openasr.engines.registry import Registry
from openasr.settings import Settings

_LOADED = re.compile(r'^openasr_engine_loaded\{model="((?:[^"\\]|\\.)*)"\} (\S+)$', re.MULTILINE)


def models(
    server: Annotated[
        str | None,
        typer.Option(help="Also show which models this server has loaded now.", envvar="OPENASR_SERVER"),
    ] = None,
) -> None:
    """List the bundled models and the configured one (Qwen3-ASR, remote) with what each has active."""
    settings = Settings()
    loaded = server_models(server) if server else None
    piped = not sys.stdout.isatty() and "COLUMNS" not in os.environ
    console = Console(width=400 if piped else None)  # piped output is neither cut nor wrapped at 80 columns
    columns = ["model", "status", "size", "languages", "capabilities", "not available"]
    table = Table(*columns, *(["loaded"] if loaded is not None else []))
    registry = Registry(settings.engine_config().backends)
    for s in registry.statuses(settings.cache_dir, settings.default_model, settings.emotion_model):
        status = s.status if not s.detail else f"{s.status}: {s.detail}"
        row = [s.name, status, f"{s.size_bytes / 1e6:.0f} MB", s.languages, ", ".join(s.capabilities)]
        row.append(", ".join(s.missing))
        if loaded is not None:
            state = loaded.get(s.name)
            row.append("no" if state is None else "yes" if state else "no (unloaded while idle)")
        table.add_row(*row)
    console.print(table)
    console.print(
        "Also accepted as --model: a local CTranslate2 or Qwen3-ASR directory, or a model hub repo id "
        "(needs a model hub).",
        highlight=False,
    )


def server_models(server: str) -> dict[str, bool]:
    """The models `server` has opened, each True while loaded (from its `/metrics`)."""
    try:
        response = httpx.get(f"{server.rstrip('/')}/metrics", timeout=10.0)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        raise typer.BadParameter(f"cannot read {server}/metrics: {exc}", param_hint="--server") from None
    return {model: float(value) > 0 for model, value in _LOADED.findall(response.text)}
