"""Use-cases shared by the CLI and every API, with no HTTP types: recognise now, or stream.

A surface hands in an audio reference and `TranscribeOptions`; this module resolves the reference to a
local file, picks the engine and opens the pipeline's recognition with the surface's limits (sync:
10 MB / 5 min, spec §11). The service's public model names (qwen3-asr-flash …) belong to the surfaces
(`server/models.py`): options arrive here naming the engine model.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from openasr import pipeline
from openasr.audio.sources import SourcePolicy, UploadResolver, fetch_audio
from openasr.core.options import TokenCounter, TranscribeOptions
from openasr.core.types import AudioInfo, Transcript
from openasr.pipeline import Limits
from openasr.runtime.admission import Admission
from openasr.runtime.batcher import Priority
from openasr.runtime.engine_pool import EnginePool

MB = 1024 * 1024

SYNC_LIMITS = Limits(10 * MB, 5 * 60.0)
"""DashScope sync recognition and compatible-mode chat (spec §11)."""
OPENAI_FILE_LIMITS = Limits(25 * MB, 30 * 60.0)
"""OpenAI's transcription endpoint: OpenAI's own 25 MB upload limit; 30 min bounds one request's CPU time."""


@dataclass(frozen=True)
class AudioRequest:
    """Where the audio comes from and on whose behalf (upload keys are bound to the API key)."""

    ref: str
    api_key: str | None = None
    oss_resolve: bool = False


@dataclass(frozen=True)
class StreamUpdate:
    """One step of a streamed recognition: a chunk's result, and at the end the whole transcript."""

    chunk: pipeline.ChunkResult | None
    transcript: Transcript | None
    audio: AudioInfo


class TranscriptionService:
    def __init__(
        self,
        engines: EnginePool,
        policy: SourcePolicy,
        workdir: Path,
        uploads: UploadResolver | None = None,
        admission: Admission | None = None,
    ) -> None:
        self.engines = engines
        self.admission = admission or Admission(0)
        self._policy = policy
        self._workdir = workdir
        self._uploads = uploads

    def token_counter(self, model: str) -> TokenCounter:
        """How `model` counts text tokens (its tokenizer, where it has one): what usage reports."""
        return self.engines.get(model).count_tokens

    def transcribe_now(self, audio: AudioRequest, options: TranscribeOptions) -> Transcript:
        """Sync recognition of a reference (URL, data URI, oss:// key, allowed path)."""
        with self._fetched(audio) as path:
            return self.transcribe_file(path, options)

    def transcribe_file(self, path: Path, options: TranscribeOptions, limits: Limits = SYNC_LIMITS) -> Transcript:
        """Sync recognition of a file already on disk (OpenAI multipart uploads)."""
        transcription = self._open(path, options, limits)
        with self.admission.reserve(options.model, transcription.total_s) as reserved:
            return transcription.run(progress=lambda done_s, _total_s: reserved.progress(done_s))

    def stream(self, audio: AudioRequest, options: TranscribeOptions) -> Iterator[StreamUpdate]:
        """Yield a `StreamUpdate` per recognised chunk as soon as it is ready, then the final transcript.

        Validation (limits, decoding the header, engine capabilities) happens before the first yield, so a
        caller can still answer with a plain error status.
        """
        with self._fetched(audio) as path:
            yield from self.stream_file(path, options, SYNC_LIMITS)

    def stream_file(
        self, path: Path, options: TranscribeOptions, limits: Limits = SYNC_LIMITS
    ) -> Iterator[StreamUpdate]:
        """`stream` of a file already on disk (OpenAI multipart uploads with `stream=true`)."""
        transcription = self._open(path, options, limits)
        info = transcription.audio
        results = []
        with self.admission.reserve(options.model, info.duration_s) as reserved:
            for chunk in transcription.stream():
                reserved.progress(chunk.end_s)
                results.append(chunk)
                yield StreamUpdate(chunk, None, info)
        yield StreamUpdate(None, transcription.assemble([results]), info)

    def _open(self, path: Path, options: TranscribeOptions, limits: Limits) -> pipeline.Transcription:
        """The recognition of a sync request: interactive priority, the surface's limits."""
        return pipeline.start(path, options, self.engines, limits=limits, priority=Priority.INTERACTIVE)

    @contextmanager
    def _fetched(self, audio: AudioRequest) -> Iterator[Path]:
        """The reference as a local file; a downloaded or decoded copy is removed afterwards."""
        with fetch_audio(
            audio.ref,
            self._policy,
            self._workdir,
            uploads=self._uploads,
            api_key=audio.api_key,
            oss_resolve=audio.oss_resolve,
        ) as local:
            yield local.path


def sync_policy(allow_private_urls: bool, file_roots: tuple[Path, ...]) -> SourcePolicy:
    return SourcePolicy(
        max_size_bytes=SYNC_LIMITS.max_bytes, allow_private_urls=allow_private_urls, file_roots=file_roots
    )
