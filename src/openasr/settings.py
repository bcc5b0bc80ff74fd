"""Settings, read once from the environment (prefix OPENASR_) at start and passed down explicitly."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

from pydantic import field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OPENASR_", extra="ignore")

    cache_dir: Path = Path("~/.cache/openasr").expanduser()
    """Where bundled weights are assembled and verified (about 150 MB for whisper-base)."""

    data_dir: Path = Path("~/.local/share/openasr").expanduser()
    """Task database, uploads, results and the upload-signing secret."""

    default_model: str = "whisper-base"
    """Engine model behind the service's model names (qwen3-asr-flash …) and `whisper-1`."""

    cpu_threads: int = 0
    """CTranslate2 intra-op threads per engine worker; 0: the machine's cores shared among the workers."""

    engine_workers: int = 2
    """Batches that may run in parallel on one engine (CTranslate2 `num_workers`). On a CPU two batches
    of four on one thread each beat one batch of eight on two threads by a quarter (README, performance)."""

    batch_size: int = 4
    """Chunks (≤ 28 s each) recognised together in one encoder pass and one beam search."""

    batch_wait_ms: float = 20.0
    """How long a chunk may wait for others to fill its batch."""

    timestamp_tokens: bool = True
    """Decode with Whisper's timestamp tokens, exactly as faster-whisper's `transcribe` decodes a window.
    False decodes without them, as `BatchedInferencePipeline` does: about 1.3× the throughput on a CPU,
    at a small cost in accuracy on short clips (README, performance)."""

    emotion_model: str | None = None
    """An emotion classifier: a directory or hub id of a `transformers` audio-classification checkpoint
    (`openasr[emotion]`) or of emotion2vec+ (`openasr[emotion2vec]`). Unset: responses carry no `emotion`."""

    api_keys: Annotated[tuple[str, ...], NoDecode] = ()
    """Comma-separated keys, or `@/path/to/file` with one key per line. Empty: any key, loopback only."""

    admin_keys: Annotated[tuple[str, ...], NoDecode] = ()
    """Keys (same syntax as `api_keys`, and accepted as API keys) whose `GET /api/v1/usage` shows every
    key's usage, each key named by its id (a hash prefix), never in full."""

    log_format: str = "text"
    """`text`, or `json`: one JSON object per line (a line per request with its id, key id, status …)."""

    ready_max_queued_chunks: int = 256
    """`/ready` answers 503 while more chunks than this wait for the engine (about 2 h of speech queued):
    a load balancer then sends new work elsewhere."""

    shutdown_timeout_s: float = 30.0
    """On SIGTERM: how long open requests may take to finish, and then how long running tasks may take to
    checkpoint their current chunk and release their lease. The process ends within about twice this."""

    allow_private_urls: bool = False
    """Let audio URLs point at loopback/private/link-local addresses (tests, trusted networks)."""

    file_roots: Annotated[tuple[Path, ...], NoDecode] = ()
    """Directories whose files may be named as local paths in requests (colon- or comma-separated)."""

    public_url: str | None = None
    """Base URL clients reach this server at (for upload hosts and result links); else the request's Host."""

    rate_limit_per_minute: int = 100
    """Requests per API key per window; 0 turns the limit off (spec §11: 100 RPM)."""

    rate_limit_window_s: float = 60.0
    """The sliding window of the rate limit (a minute; shorter only for tests)."""

    workers: int = 1
    """Async transcription workers inside the server process."""

    @field_validator("log_format")
    @classmethod
    def _check_log_format(cls, value: str) -> str:
        if value not in ("text", "json"):
            raise ValueError("OPENASR_LOG_FORMAT must be text or json")
        return value

    database_url: str | None = None
    """Task store; default SQLite (WAL) in the data directory. `postgresql://…` for several servers."""

    task_retention_hours: float = 24.0
    """Finished task records (and their signed result links) are kept this long (spec: 24 h)."""

    upload_retention_hours: float = 48.0
    result_retention_hours: float = 24.0

    @field_validator("api_keys", "admin_keys", mode="before")
    @classmethod
    def _read_keys(cls, value: object) -> tuple[str, ...]:
        if isinstance(value, str):
            if value.startswith("@"):
                value = Path(value[1:]).expanduser().read_text()
            return tuple(k.strip() for k in value.replace("\n", ",").split(",") if k.strip())
        return tuple(value)  # type: ignore[arg-type]

    @field_validator("file_roots", mode="before")
    @classmethod
    def _read_roots(cls, value: object) -> tuple[Path, ...]:
        if isinstance(value, str):
            parts = value.replace(",", os.pathsep).split(os.pathsep)
            return tuple(Path(p).expanduser().resolve() for p in parts if p.strip())
        return tuple(value)  # type: ignore[arg-type]
