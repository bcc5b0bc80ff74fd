"""Admission of sync work by the audio seconds already waiting (openasr.runtime.admission)."""

from __future__ import annotations

import pytest

from openasr.core.errors import ServerBusyError
from openasr.runtime.admission import DEFAULT_RATE, DEFAULT_REQUEST_S, Admission


def test_an_empty_queue_admits_even_a_request_over_the_bound() -> None:
    admission = Admission(60)
    with admission.reserve("m", 300):
        assert admission.queued_s("m") == 300
    assert admission.queued_s("m") == 0


def test_over_the_bound_is_refused_with_a_retry_after_from_the_queue() -> None:
    admission = Admission(60)
    with admission.reserve("m", 40):
        with admission.reserve("m", 20):  # exactly at the bound: admitted
            with pytest.raises(ServerBusyError) as refused, admission.reserve("m", 80):
                pass
            assert refused.value.retry_after_s == -(-60 // DEFAULT_RATE)  # 60 s waiting, at the assumed rate
            assert refused.value.http_status == 503 and refused.value.code == "Throttling"
            with admission.reserve("other-model", 80):  # each engine model has its own queue
                pass
        with admission.enter("m"):  # 40 s queued: under the bound, a new request may come in
            pass
    with admission.reserve("m", 80):
        pass


def test_requests_not_yet_probed_count_as_the_mean_duration() -> None:
    """A burst is refused from its headers: each admitted request counts before its duration is known."""
    admission = Admission(30)
    with admission.enter("m"), admission.enter("m"), admission.enter("m"):  # 3 × 10 s (the default mean)
        assert admission.queued_s("m") == 3 * DEFAULT_REQUEST_S
        with pytest.raises(ServerBusyError), admission.enter("m"):
            pass
        with admission.enter("other-model"):
            pass
    with admission.enter("m"):  # all answered: room again
        pass
    assert admission.queued_s("m") == 0


def test_the_memory_hook_runs_when_the_last_request_ends() -> None:
    calls = []
    admission = Admission(30, on_idle=lambda: calls.append(1))
    with admission.enter("m"):
        with admission.enter("m"), admission.reserve("m", 5):
            pass
        assert calls == []  # one request still runs
    assert calls == [1]


def test_zero_turns_admission_control_off() -> None:
    admission = Admission(0)
    with admission.reserve("m", 10_000), admission.reserve("m", 10_000), admission.enter("m"):
        pass
