"""`openasr task submit | status | wait | result`: the async API from the command line."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from openasr.cli.client import ServerError, TaskClient
from openasr.postprocess.formats import RESULT_FORMATS, parse_json, render
from openasr.server.dashscope.task_protocol import TaskResponse, TranscriptionParameters, dump

app = typer.Typer(no_args_is_help=True, help="Async file transcription on a server (up to 12 h / 2 GB).")
_err = Console(stderr=True)

Server = Annotated[str, typer.Option(help="Server base URL.", envvar="OPENASR_SERVER")]
ApiKeyOption = Annotated[
    str, typer.Option("--api-key", help="API key (env DASHSCOPE_API_KEY).", envvar="DASHSCOPE_API_KEY")
]
DEFAULT_SERVER = "http://127.0.0.1:8000"
DEFAULT_KEY = os.environ.get("OPENASR_API_KEY", "sk-openasr-local")


@contextmanager
def client_for(server: str, api_key: str) -> Iterator[TaskClient]:
    client = TaskClient(server, api_key)
    try:
        yield client
    except ServerError as exc:
        _err.print(f"[bold red]error:[/] {exc.code}: {exc.message}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    finally:
        client.close()


@app.command()
def submit(
    source: Annotated[str, typer.Argument(help="http(s) URL, oss:// key, or a local file (uploaded).")],
    language: Annotated[str | None, typer.Option(help="Force the language.")] = None,
    itn: Annotated[bool, typer.Option("--itn", help="Inverse text normalisation (zh, en).")] = False,
    words: Annotated[bool, typer.Option("--words", help="Word timestamps in the result.")] = False,
    context: Annotated[str | None, typer.Option(help="Context biasing text.")] = None,
    channel: Annotated[list[int] | None, typer.Option(help="Channel to transcribe (repeatable).")] = None,
    server: Server = DEFAULT_SERVER,
    api_key: ApiKeyOption = DEFAULT_KEY,
) -> None:
    """Queue a file and print its task id."""
    parameters = TranscriptionParameters(
        language=language or None,
        enable_itn=itn,
        enable_words=words,
        text=context or None,
        channel_id=channel or [0],
    )
    with client_for(server, api_key) as client:
        print(client.submit(source, parameters))


@app.command()
def status(task_id: str, server: Server = DEFAULT_SERVER, api_key: ApiKeyOption = DEFAULT_KEY) -> None:
    """Print the task's status as JSON (E5's output, with progress)."""
    with client_for(server, api_key) as client:
        print(json.dumps(status_json(client.status(task_id)), ensure_ascii=False, indent=2))


@app.command()
def wait(
    task_id: str,
    timeout: Annotated[float | None, typer.Option(help="Give up after this many seconds.")] = None,
    server: Server = DEFAULT_SERVER,
    api_key: ApiKeyOption = DEFAULT_KEY,
) -> None:
    """Wait for the task to end, with a progress bar; exit 1 unless it SUCCEEDED."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
    )
    with client_for(server, api_key) as client, Progress(*columns, console=_err, transient=True) as bar:
        row = bar.add_task(task_id[:8], total=1.0)
        final = client.wait(
            task_id,
            timeout_s=timeout,
            on_progress=lambda answer: bar.update(row, completed=answer.output.progress or 0.0),
        )
    print(json.dumps(status_json(final), ensure_ascii=False, indent=2))
    if final.output.task_status != "SUCCEEDED":
        raise typer.Exit(1)


@app.command()
def result(
    task_id: str,
    fmt: Annotated[str, typer.Option("--format", "-f", help="json, srt, vtt or text.")] = "json",
    server: Server = DEFAULT_SERVER,
    api_key: ApiKeyOption = DEFAULT_KEY,
) -> None:
    """Print a finished task's result: the result JSON, or subtitles / text rendered from it."""
    if fmt not in RESULT_FORMATS:
        _err.print(f"[bold red]error:[/] unknown format {fmt!r}: use {', '.join(RESULT_FORMATS)}")
        raise typer.Exit(1)
    with client_for(server, api_key) as client:
        document = client.result(task_id)
    body = json.dumps(document, ensure_ascii=False, indent=2) if fmt == "json" else render(parse_json(document), fmt)
    sys.stdout.write(body if body.endswith("\n") else body + "\n")


def status_json(answer: TaskResponse) -> dict[str, Any]:
    """What `status` and `wait` print: E5's output, with the task's usage once it has one."""
    output = dump(answer.output)
    if answer.usage is not None:
        output["usage"] = dump(answer.usage)
    return output
