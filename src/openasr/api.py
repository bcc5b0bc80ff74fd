"""The library API: recognise a file, its bytes or live audio in this process, without a server.

`transcribe` runs exactly what `openasr transcribe FILE --format json` runs (the same options, the same
pipeline, the same engine settings from the environment), so `render(transcript, "json")` is the CLI's
output byte for byte. Live audio (an iterable of float32 mono 16 kHz numpy blocks: a microphone, a
generator) goes through the same recognition as a file and gives the same text for the same samples,
whatever the block sizes. The engine is loaded once per process, on first use, and shared by every call
(and every thread) after that; `close()` releases it.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from openasr import pipeline
from openasr.core.options import TranscribeOptions
from openasr.core.types import Sentence, Transcript
from openasr.runtime.engine_pool import EnginePool
from openasr.settings import Settings

AudioInput = str | os.PathLike[str] | bytes | Iterable[np.ndarray]
"""A path to an audio or video file, the file's bytes (any container PyAV decodes), or live audio: 1-D
float32 blocks of 16 kHz mono samples, of any sizes, read as the iterable yields them."""

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
    diarize: bool = False,
    speakers: int | None = None,
) -> TranscribeOptions:
    """Options for recognising a whole local file, as the CLI and this API build them (validated as made).
    Diarization labels sentences, so it turns sentence timing on."""
    return TranscribeOptions(
        model=model or settings.default_model,
        language=language,
        itn=itn,
        context=context,
        words=words,
        sentences=sentences or diarize,
        channels=channels,
        diarize=diarize,
        speaker_count=speakers,
    )


def transcribe(
    audio: AudioInput,
    language: str | None = None,
    itn: bool = False,
    context: str = "",
    words: bool = False,
    model: str | None = None,
    diarize: bool = False,
    speakers: int | None = None,
) -> Transcript:
    """Recognise a whole file or live audio (the mono mix; `Transcript.channels[0]`), with sentence
    timestamps and, with `words`, word timestamps. `language` None detects it. With `diarize`, each
    sentence (and word) has a `speaker_id` from 0 in order of first appearance; `speakers` fixes their
    number (1–20), else it is estimated. Raises `openasr.AsrError` on bad input."""
    settings, pool = _engines()
    options = file_options(
        settings,
        model=model,
        language=language,
        itn=itn,
        context=context,
        words=words,
        diarize=diarize or speakers is not None,
        speakers=speakers,
    )
    with _source(audio) as source:
        return pipeline.start(source, options, pool).run()


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
    with _source(audio) as source:
        for chunk in pipeline.start(source, options, pool).stream():
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
def _source(audio: AudioInput) -> Iterator[pipeline.AudioInput]:
    """A path as itself, live blocks as they come, and bytes as a file in a temporary directory."""
    if isinstance(audio, str | os.PathLike):
        yield Path(audio)
        return
    if not isinstance(audio, bytes):
        yield audio
        return
    with tempfile.TemporaryDirectory(prefix="openasr-") as directory:
        path = Path(directory) / "audio"
        path.write_bytes(audio)
        yield path
