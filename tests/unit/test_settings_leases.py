"""Task lease settings: a stale bound that a live worker's heartbeats could miss is refused at start."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from openasr.settings import Settings


def test_lease_timings_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENASR_TASK_HEARTBEAT_S", "0.5")
    monkeypatch.setenv("OPENASR_TASK_STALE_AFTER_S", "5")
    monkeypatch.setenv("OPENASR_TASK_POLL_S", "0.2")
    settings = Settings()
    assert (settings.task_heartbeat_s, settings.task_stale_after_s, settings.task_poll_s) == (0.5, 5.0, 0.2)


@pytest.mark.parametrize(("heartbeat_s", "stale_after_s"), [(5.0, 6.0), (0.0, 60.0), (30.0, 30.0)])
def test_a_lease_that_would_lapse_between_heartbeats_is_refused(heartbeat_s: float, stale_after_s: float) -> None:
    with pytest.raises(ValidationError, match="OPENASR_TASK_STALE_AFTER_S must be at least twice"):
        Settings(task_heartbeat_s=heartbeat_s, task_stale_after_s=stale_after_s)
