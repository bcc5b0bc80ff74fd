"""`openasr transcribe | models | serve | task …`.

`transcribe` runs the pipeline in this process; every failure a user can cause prints one line on
stderr (`error: CODE: message`) and exits 1, never a traceback.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from openasr import pipeline
from openasr.api import file_options
from openasr.cli import db, models, tasks, usage
from openasr.core.errors import AsrError
from openasr.core.options import TranscribeOptions
from openasr.core.types import Transcript
from openasr.postprocess.formats import render
from openasr.runtime.engine_pool import EnginePool
from openasr.settings import Settings

app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="Self-hosted Qwen3-ASR-compatible speech recognition."
)
app.add_typer(tasks.app, name="task")
app.add_typer(db.app, name="db")
_err = Console(stderr=True)

PROGRESS_MIN_S = 30.0
"""Files shorter than this finish too fast for a progress bar to help."""

_SUFFIXES = {"text": "txt", "json": "json", "srt": "srt", "vtt": "vtt", "verbose_json": "verbose.json"}


_EMOTION_HELP = (
    "Emotion classifier (per sentence in --format json): a transformers audio-classification or emotion2vec+ "
    "directory or hub id; default OPENASR_EMOTION_MODEL, else none."
)


def fail(error: AsrError | str) -> typer.Exit:
    message = f"{error.task_code}: {error.message}" if isinstance(error, AsrError) else error
    _err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(1)


@contextmanager
def _progress_bar(path: Path, enabled: bool) -> Iterator[pipeline.Progress | None]:
    if not enabled:
        yield None
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=_err, transient=True) as bar:
        task = bar.add_task(path.name, total=1.0)
        yield lambda done, total: bar.update(task, completed=done / total if total else 1.0)


def _read_context(context: str | None, context_file: Path | None) -> str:
    if context and context_file:
        raise fail("use either --context or --context-file, not both")
    if context_file is not None:
        try:
            return context_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise fail(f"cannot read context file {context_file}: {exc}") from exc
    return context or ""


@app.command()
def transcribe(
    files: Annotated[list[Path], typer.Argument(help="Audio or video files.", show_default=False)],
    model: Annotated[
        str, typer.Option(help="whisper-base, whisper-tiny.en, a CTranslate2 or Qwen3-ASR directory, or a hub id.")
    ] = "",
    language: Annotated[str | None, typer.Option(help="Force the language (zh, en, ja …); default: detect.")] = None,
    itn: Annotated[bool, typer.Option("--itn", help="Inverse text normalisation (zh, en): numbers as digits.")] = False,
    context: Annotated[str | None, typer.Option(help="Context biasing text: names, terms, background.")] = None,
    context_file: Annotated[Path | None, typer.Option(help="Read the context from a UTF-8 file.")] = None,
    words: Annotated[bool, typer.Option("--words", help="Word timestamps in the JSON output.")] = False,
    channel: Annotated[list[int] | None, typer.Option(help="Transcribe this channel on its own (repeatable).")] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="text, json, srt, vtt or verbose_json.")] = "text",
    output_dir: Annotated[Path | None, typer.Option(help="Write FILE.<format> here instead of stdout.")] = None,
    emotion_model: Annotated[str | None, typer.Option(help=_EMOTION_HELP)] = None,
    diarize: Annotated[
        bool, typer.Option("--diarize", help="Who spoke when: speaker_id per sentence (json), speaker in srt/vtt.")
    ] = False,
    speakers: Annotated[
        int | None, typer.Option(help="The number of speakers (1–20; implies --diarize); default: estimated.")
    ] = None,
) -> None:
    """Transcribe files offline (the bundled Whisper model unless --model names another)."""
    settings = _with_emotion_model(Settings(), emotion_model)
    if fmt not in _SUFFIXES:
        raise fail(f"unknown format {fmt!r}: use one of {', '.join(_SUFFIXES)}")
    try:
        options = file_options(
            settings,
            model=model,
            language=language,
            itn=itn,
            context=_read_context(context, context_file),
            words=words,
            sentences=fmt != "text",
            channels=tuple(channel) if channel else None,
            diarize=diarize or speakers is not None,
            speakers=speakers,
        )
        engines = EnginePool(settings.cache_dir, settings.engine_config())
        try:
            for path in files:
                transcript = _transcribe_one(path, options, engines)
                _write(transcript, path, fmt, output_dir, many=len(files) > 1)
        finally:
            engines.close()
    except AsrError as exc:
        raise fail(exc) from None


def _with_emotion_model(settings: Settings, emotion_model: str | None) -> Settings:
    return settings.model_copy(update={"emotion_model": emotion_model}) if emotion_model else settings


def _transcribe_one(path: Path, options: TranscribeOptions, engines: EnginePool) -> Transcript:
    transcription = pipeline.start(path, options, engines)
    with _progress_bar(path, transcription.audio.duration_s > PROGRESS_MIN_S) as progress:
        return transcription.run(progress)


def _write(transcript: Transcript, path: Path, fmt: str, output_dir: Path | None, *, many: bool) -> None:
    body = render(transcript, fmt)
    if output_dir is not None:
        output_dir.mkdir(parents=True, exist_ok=True)
        target = output_dir / f"{path.stem}.{_SUFFIXES[fmt]}"
        target.write_text(body if body.endswith("\n") else body + "\n", encoding="utf-8")
        _err.print(f"wrote {target}", highlight=False)
        return
    if many and fmt in ("text", "srt", "vtt"):
        sys.stdout.write(f"==> {path} <==\n")
    sys.stdout.write(body if body.endswith("\n") else body + "\n")
    sys.stdout.flush()


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    insecure: Annotated[bool, typer.Option("--insecure", help="Allow a public interface with no API keys.")] = False,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
    emotion_model: Annotated[str | None, typer.Option(help=_EMOTION_HELP)] = None,
) -> None:
    """Serve the DashScope (/api/v1) and OpenAI (/compatible-mode/v1, /v1) APIs; docs at /docs."""
    import uvicorn

    from openasr.server.app import create_app
    from openasr.server.http_limits import uvicorn_options
    from openasr.server.logs import configure_logging

    settings = _with_emotion_model(Settings(), emotion_model)
    if not settings.api_keys and not _is_loopback(host) and not insecure:
        raise fail(
            f"refusing to serve on {host} without API keys: set OPENASR_API_KEYS, bind to 127.0.0.1, or pass --insecure"
        )
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_level=log_level,
        log_config=configure_logging(settings.log_format, log_level),
        access_log=False,  # openasr.access logs each request without its query string (signed links)
        **uvicorn_options(settings),  # header/keep-alive timeouts, 431, the connection cap
        timeout_graceful_shutdown=math.ceil(settings.shutdown_timeout_s),
    )


app.command("models")(models.models)
app.command("usage")(usage.usage)

if __name__ == "__main__":
    app()
