"""Settings, read once from the environment (prefix OPENASR_) at start and passed down explicitly."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

if TYPE_CHECKING:
    from openasr.engines.remote import RemoteConfig
    from openasr.runtime.engine_config import EngineConfig, RayConfig
    from openasr.storage import StorageConfig


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OPENASR_", extra="ignore")

    cache_dir: Path = Path("~/.cache/openasr").expanduser()
    """Where bundled weights are assembled and verified (about 150 MB for whisper-base)."""

    data_dir: Path = Path("~/.local/share/openasr").expanduser()
    """Task database, uploads, results and the upload-signing secret."""

    default_model: str = "whisper-base"
    """Engine model behind the service's model names (qwen3-asr-flash …) and `whisper-1`."""

    cpu_threads: int = 0
    """CTranslate2 intra-op threads per engine worker; 0: every core for each worker. A lone batch (one
    request, one live final) then has the whole machine; busy workers share it (README, performance)."""

    engine_workers: int = 2
    """Batches that may run in parallel on one engine (CTranslate2 `num_workers`): while one finishes
    its batch, the other already decodes the next (README, performance: the workers' idle time)."""

    batch_size: int = 4
    """Chunks (≤ 28 s each) recognised together in one encoder pass and one beam search."""

    batch_wait_ms: float = 20.0
    """How long a chunk may wait for others to fill its batch."""

    timestamp_tokens: bool = True
    """Decode with Whisper's timestamp tokens, exactly as faster-whisper's `transcribe` decodes a window.
    False decodes without them, as `BatchedInferencePipeline` does: about 1.2× the throughput on a CPU
    with English as accurate, but 5 pp more CER on the fixtures' Mandarin (README, performance)."""

    device: str = "auto"
    """Where Qwen3-ASR runs: `cpu`, `cuda`, `cuda:1` … ; `auto` takes a CUDA GPU when torch sees one."""

    dtype: str = "auto"
    """Qwen3-ASR weights' dtype: `auto` is bfloat16 on CUDA and float32 on the CPU."""

    aligner_model: str | None = None
    """Qwen3-ForcedAligner (a directory or hub id): word and sentence times for Qwen3-ASR. Without it,
    sentences take their chunk's times and word timestamps are refused."""

    engine_url: str | None = None
    """An OpenAI-compatible ASR server (`vllm serve Qwen/Qwen3-ASR-1.7B`, another openasr) that recognises
    the chunks of the default model, e.g. `http://gpu-host:8000`. When set and `default_model` is not,
    the default model is named after `engine_model`."""

    engine_model: str = "Qwen/Qwen3-ASR-1.7B"
    """The model name the remote server knows (vLLM's served model name; `whisper-1` for an openasr)."""

    engine_api: Literal["chat", "transcriptions"] = "chat"
    """How the remote engine is called: `chat` is `POST /v1/chat/completions` with the model's own chat
    template, what `vllm serve Qwen/Qwen3-ASR-1.7B` needs (its transcription endpoint drops the context,
    the forced language and the detected language); `transcriptions` is `POST /v1/audio/transcriptions`,
    for a far side that is another openasr."""

    engine_api_key: str | None = None
    engine_timeout_s: float = 120.0
    """Per chunk request to the remote engine; a hung far side becomes a retry, then a 503."""

    engine_concurrency: int = 8
    """Chunks in flight to the remote engine at once (its own batching does the rest)."""

    engine_retries: int = 4
    """Retries of a chunk after a 429, a 5xx or a connection failure, with backoff 0.5, 1, 2, 4 s."""

    model_idle_s: float = 0.0
    """A model unused this long is unloaded, its memory (host and GPU) freed, and loaded again by the next
    request that needs it (a few seconds). A chunk queued or being recognised counts as use, so a running
    batch is never cut. 0: models stay loaded for the life of the process."""

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

    max_wait_s: float = 60.0
    """Back-pressure: a sync request (DashScope sync and stream, chat, OpenAI transcription) is accepted
    only while its predicted completion (the audio queued ahead of it and its own, divided by the
    recognition rate measured as chunks finish) is within this many seconds; otherwise 503 (DashScope) or
    429 (OpenAI) with a `Retry-After` from the same prediction. An empty queue always admits. 0 turns
    admission control off; async tasks are never refused (they wait in the task store)."""

    request_header_timeout_s: float = 10.0
    """A connection must send its request line and headers within this; else it is closed."""

    request_body_timeout_s: float = 30.0
    """A body may pause at most this long between two reads; else 408 (or closed)."""

    request_body_min_rate: float = 240.0
    """Bytes per second a body must average once `request_body_rate_grace_s` has passed since it began;
    else 408. A trickling client cannot hold a connection for hours; 0 turns the check off."""

    request_body_rate_grace_s: float = 5.0
    """How long a body may arrive slower than `request_body_min_rate` at its start."""

    keep_alive_timeout_s: float = 15.0
    """An idle keep-alive connection is closed after this."""

    max_connections: int = 1000
    """Open connections beyond this are answered 503 at once (uvicorn's `limit_concurrency`)."""

    shutdown_timeout_s: float = 30.0
    """On SIGTERM: how long open requests may take to finish, and then how long running tasks may take to
    checkpoint their current chunk and release their lease. The process ends within about twice this."""

    allow_private_urls: bool = False
    """Let audio URLs point at loopback/private/link-local addresses (tests, trusted networks)."""

    file_roots: Annotated[tuple[Path, ...], NoDecode] = ()
    """Directories whose files may be named as local paths in requests (colon- or comma-separated)."""

    signing_secret: SecretStr | None = None
    """Hex (at least 32 digits) of the secret that signs upload policies and result links; unset, a random
    one is kept in the data directory. Nodes that do not share a data directory (blobs in S3) must share
    this, or a link or upload policy one node hands out is refused by the others."""

    public_url: str | None = None
    """Base URL clients reach this server at (for upload hosts and result links); else the request's Host."""

    rate_limit_per_minute: int = 100
    """Requests per API key per window; 0 turns the limit off (spec §11: 100 RPM)."""

    rate_limit_window_s: float = 60.0
    """The sliding window of the rate limit (a minute; shorter only for tests)."""

    max_realtime_sessions: int = 8
    """Realtime WebSocket sessions open at once; the next one is refused at its handshake (503 with
    `Retry-After`), so the running ones never degrade. 0 turns the cap off."""

    realtime_idle_timeout_s: float = 60.0
    """A realtime session that receives no frame for this long gets an `idle_timeout` error and is closed."""

    realtime_max_session_s: float = 3600.0
    """A realtime session's longest life (OpenAI's limit): then its open item is finished and it is closed."""

    workers: int = 1
    """Async transcription workers inside the server process."""

    task_heartbeat_s: float = 5.0
    """How often a running task's worker proves it is alive (one UPDATE of the task row)."""

    task_stale_after_s: float = 60.0
    """A RUNNING task whose heartbeat is older than this is taken over by another worker (or node) and
    resumed from its checkpoints: a dozen heartbeats, so a busy machine is not mistaken for a dead one.
    With several nodes on one database this is how long the tasks of a node that died wait."""

    task_poll_s: float = 0.5
    """How often an idle worker asks the task store for a pending task (two statements each time)."""

    task_recover_every_s: float = 30.0
    """How often each worker looks for stale tasks; a dead node's task resumes within about
    `task_stale_after_s` plus this."""

    ray_address: str | None = None
    """A Ray cluster for the engines: `auto` (the cluster this machine belongs to), `ray://head:10001`
    (Ray Client) or `head:6379`. The models then load in engine actors there (`openasr[cluster]`), and
    sync requests, streams and task chunks all go to them; a long task's chunks run on many at once.
    Unset: engines run in this process."""

    ray_actors: int = 0
    """Engine actors; 0: one per GPU of the cluster, or, on a cluster without GPUs, one per
    `ray_actor_cpus` of its CPUs. The first node to start them decides; later nodes attach to them."""

    ray_actor_cpus: float = 1.0
    """CPUs each engine actor reserves, and (with `cpu_threads` 0) the threads its workers share."""

    ray_namespace: str = "openasr"
    """The Ray namespace of the engine actors: API nodes with the same one share the same actors."""

    ray_max_restarts: int = -1
    """How often Ray restarts a dead engine actor; -1: always. Its chunks are resent to another actor."""

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

    @field_validator("signing_secret")
    @classmethod
    def _check_signing_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        try:
            raw = bytes.fromhex(value.get_secret_value().strip())
        except ValueError:
            raise ValueError("OPENASR_SIGNING_SECRET must be hex digits (e.g. `openssl rand -hex 32`)") from None
        if len(raw) < 16:
            raise ValueError("OPENASR_SIGNING_SECRET must hold at least 16 bytes (32 hex digits)")
        return SecretStr(raw.hex())

    @model_validator(mode="after")
    def _check_task_lease(self) -> Settings:
        if self.task_heartbeat_s <= 0 or self.task_stale_after_s < 2 * self.task_heartbeat_s:
            raise ValueError(
                "OPENASR_TASK_STALE_AFTER_S must be at least twice OPENASR_TASK_HEARTBEAT_S (> 0): "
                "else a running task's lease lapses between two heartbeats and another worker takes it over"
            )
        return self

    storage_url: str | None = None
    """Where uploads, task audio and results live: unset, the data directory; `s3://bucket/prefix` for an
    S3-compatible store shared by several servers (`openasr[cluster]`; credentials and endpoint from the
    standard `AWS_*` settings, e.g. `AWS_ENDPOINT_URL` for MinIO)."""

    storage_presigned_links: bool = False
    """On S3: result links (`transcription_url`) are presigned bucket URLs, fetched from the bucket
    directly. Off: openasr's own signed links to `/results/…`, served by any node from the bucket."""

    @field_validator("storage_url")
    @classmethod
    def _check_storage_url(cls, value: str | None) -> str | None:
        url = (value or "").strip()
        if not url:
            return None
        if not url.startswith("s3://") or not url.removeprefix("s3://").split("/")[0]:
            raise ValueError("OPENASR_STORAGE_URL must be s3://bucket[/prefix], or unset for the data directory")
        if importlib.util.find_spec("boto3") is None:
            raise ValueError('OPENASR_STORAGE_URL=s3://… needs boto3: pip install "openasr[cluster]"')
        return url

    @model_validator(mode="after")
    def _name_the_remote_model(self) -> Settings:
        if self.engine_url and "default_model" not in self.model_fields_set:
            self.default_model = self.engine_model
        return self

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

    def storage_config(self) -> StorageConfig:
        """The blob store's plain config (read here, handed down like `engine_config`)."""
        from openasr.storage import StorageConfig

        return StorageConfig(data_dir=self.data_dir, url=self.storage_url, presigned_links=self.storage_presigned_links)

    def engine_config(self) -> EngineConfig:
        """The engine pool's plain config, each backend's settings apart: read here, at the top, and
        handed down."""
        from openasr.engines.qwen3_backend import Qwen3Config
        from openasr.engines.whisper import WhisperConfig
        from openasr.runtime.engine_config import EngineConfig, RayConfig

        whisper = WhisperConfig(
            cpu_threads=self.cpu_threads, workers=self.engine_workers, timestamp_tokens=self.timestamp_tokens
        )
        qwen3 = Qwen3Config(device=self.device, dtype=self.dtype, aligner_model=self.aligner_model)
        remote = (self._remote_config(),) if self.engine_url else ()
        return EngineConfig.resolve(
            whisper,
            qwen3,
            *remote,
            max_batch=self.batch_size,
            max_wait_s=self.batch_wait_ms / 1000,
            idle_s=self.model_idle_s,
            emotion_model=self.emotion_model,
            ray=self._ray_config(RayConfig),
        )

    def _remote_config(self) -> RemoteConfig:
        from openasr.engines.remote import RemoteConfig

        assert self.engine_url is not None
        return RemoteConfig(
            url=self.engine_url,
            model=self.engine_model,
            api_key=self.engine_api_key,
            timeout_s=self.engine_timeout_s,
            concurrency=max(1, self.engine_concurrency),
            retries=max(0, self.engine_retries),
            api=self.engine_api,
            served_as=self.default_model,
        )

    def _ray_config(self, config: type[RayConfig]) -> RayConfig | None:
        if not self.ray_address:
            return None
        return config(
            address=self.ray_address,
            actors=max(0, self.ray_actors),
            actor_cpus=self.ray_actor_cpus,
            namespace=self.ray_namespace,
            max_restarts=self.ray_max_restarts,
        )
