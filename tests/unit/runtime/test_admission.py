"""Admission of sync work by the audio seconds already waiting (openasr.runtime.admission)."""

from __future__ import annotations

import pytest

from openasr.core.errors import ServerBusyError
from openasr.runtime.admission import DEFAULT_RATE, Admission


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
        admission.check("m")  # 40 s queued: under the bound, a new request may come in
    with admission.reserve("m", 80):
        pass


def test_check_refuses_before_the_body_only_when_the_queue_is_over() -> None:
    admission = Admission(30)
    with admission.reserve("m", 44):
        with pytest.raises(ServerBusyError):
            admission.check("m")
        admission.check("other-model")
    admission.check("m")


def test_zero_turns_admission_control_off() -> None:
    admission = Admission(0)
    with admission.reserve("m", 10_000), admission.reserve("m", 10_000):
        admission.check("m")
