"""`OPENASR_RAY_*` settings become the engine pool's Ray config, and without them Ray is never imported."""

from __future__ import annotations

import subprocess
import sys

import pytest

from openasr.engines.whisper import WhisperConfig
from openasr.settings import Settings


def test_ray_settings_reach_the_engine_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENASR_RAY_ADDRESS", "ray://head:10001")
    monkeypatch.setenv("OPENASR_RAY_ACTORS", "3")
    monkeypatch.setenv("OPENASR_RAY_ACTOR_CPUS", "4")
    monkeypatch.setenv("OPENASR_ENGINE_WORKERS", "2")
    config = Settings().engine_config()
    assert config.ray is not None
    assert (config.ray.address, config.ray.actors, config.ray.actor_cpus) == ("ray://head:10001", 3, 4.0)
    assert config.ray.namespace == "openasr" and config.ray.max_restarts == -1
    whisper = config.backend(WhisperConfig)
    assert whisper is not None and whisper.cpu_threads == 4  # the actor's 4 CPUs, not this machine's cores


def test_without_an_address_engines_stay_in_process() -> None:
    assert Settings().engine_config().ray is None
    code = (
        "import sys; from openasr.server.app import create_app; from openasr.runtime.engine_pool import EnginePool;"
        "from openasr.settings import Settings; s = Settings(); EnginePool(s.cache_dir, s.engine_config());"
        "assert 'ray' not in sys.modules, 'ray imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
