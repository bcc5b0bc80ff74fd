"""The library API: recognise a file or bytes in this process, without a server.

`transcribe` runs exactly what `openasr transcribe FILE --format json` runs (the same options, the same
pipeline, the same engine settings from the environment), so `render(transcript, "json")` is the CLI's
output byte for byte. The engine is loaded once per process, on first use, and shared by every call
(and every thread) after that; `close()` releases it.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from openasr import pipeline
from openasr.core.options import TranscribeOptions
from openasr.core.types import Sentence, Transcript
from openasr.runtime.engine_pool import EnginePool
from openasr.settings import Settings

AudioInput = str | os.PathLike[str] | bytes
"""A path to an audio or video file, or the file's bytes (any container PyAV decodes)."""

_lock = threading.Lock()
_pool: EnginePool | None = None
_settings: Settings | None = None


def file_options(
    settings: Settings,
    *,
    model: str | None = None,
    language: str | None = None,
    itn: bool = False,
    context: str = "",
    words: bool = False,
    sentences: bool = True,
    channels: tuple[int, ...] | None = None,
) -> TranscribeOptions:
    """Options for recognising a whole local file, as the CLI and this API build them (validated as made)."""
    return TranscribeOptions(
        model=model or settings.default_model,
        language=language,
        itn=itn,
        context=context,
        words=words,
        sentences=sentences,
        channels=channels,
    )


def transcribe(
    audio: AudioInput,
    language: str | None = None,
    itn: bool = False,
    context: str = "",
    words: bool = False,
    model: str | None = None,
) -> Transcript:
    """Recognise a whole file (the mono mix; `Transcript.channels[0]`), with sentence timestamps and,
    with `words`, word timestamps. `language` None detects it. Raises `openasr.AsrError` on bad input."""
    settings, pool = _engines()
    options = file_options(settings, model=model, language=language, itn=itn, context=context, words=words)
    engine = pool.get(options.model)
    with _local_file(audio) as path:
        return pipeline.open(path, options, engine, emotion=pool.emotion()).run()


def transcribe_stream(
    audio: AudioInput,
    language: str | None = None,
    itn: bool = False,
    context: str = "",
    words: bool = False,
    model: str | None = None,
) -> Iterator[Sentence]:
    """Yield the sentences of the mono mix as each chunk is recognised (the first after about one chunk's
    work), the same sentences `transcribe` returns in `channels[0].sentences`."""
    settings, pool = _engines()
    options = file_options(settings, model=model, language=language, itn=itn, context=context, words=words)
    engine = pool.get(options.model)
    with _local_file(audio) as path:
        for chunk in pipeline.open(path, options, engine, emotion=pool.emotion()).stream():
            yield from chunk.resolved().sentences


def close() -> None:
    """Release the loaded engines (their threads and memory); the next call loads them again."""
    global _pool
    with _lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.close()


def _engines() -> tuple[Settings, EnginePool]:
    global _pool, _settings
    with _lock:
        if _pool is None or _settings is None:
            _settings = Settings()
            _pool = EnginePool(_settings.cache_dir, _settings.engine_config())
        return _settings, _pool


@contextmanager
def _local_file(audio: AudioInput) -> Iterator[Path]:
    if not isinstance(audio, bytes):
        yield Path(audio)
        return
    with tempfile.TemporaryDirectory(prefix="openasr-") as directory:
        path = Path(directory) / "audio"
        path.write_bytes(audio)
        yield path
