"""Admission of sync work by its predicted wait (openasr.runtime.admission)."""

from __future__ import annotations

import math

import pytest

from openasr.core.errors import ServerBusyError
from openasr.runtime.admission import (
    DEFAULT_RATE,
    DEFAULT_REQUEST_S,
    RATE_WEIGHT,
    Admission,
    RecognitionRate,
)


def test_the_rate_is_the_prior_until_measured_then_the_first_measurement() -> None:
    rate = RecognitionRate(prior=8.0)
    assert rate.value == 8.0 and rate.wait_s(80) == 10.0
    rate.busy(100.0)
    rate.recognised(28.0, 100.4)  # a batch within the first second: not a measurement yet
    assert rate.value == 8.0
    rate.recognised(28.0, 102.0)  # 56 s of audio in 2 s of busy time
    assert rate.value == 28.0


def test_the_rate_moves_by_its_weight_and_counts_only_busy_time() -> None:
    rate = RecognitionRate(prior=8.0)
    rate.busy(0.0)
    rate.recognised(20.0, 2.0)  # 10 audio s per s
    rate.idle()  # an hour without work is not a slow engine
    rate.busy(3600.0)
    rate.recognised(40.0, 3602.0)  # 20 audio s per s
    assert rate.value == pytest.approx(10.0 + RATE_WEIGHT * (20.0 - 10.0))


def test_a_request_alone_may_raise_the_rate_but_never_lower_it() -> None:
    """One request alone does not fill the batches: its pace is a lower bound of the capacity."""
    rate = RecognitionRate(prior=8.0)
    rate.busy(0.0)
    rate.recognised(5.0, 2.0, backlogged=False)  # 2.5 s/s: ignored
    assert rate.value == 8.0
    rate.recognised(40.0, 4.0, backlogged=False)  # 20 s/s: a capacity of at least that
    assert rate.value == 20.0
    rate.recognised(10.0, 6.0, backlogged=True)  # 5 s/s with work waiting: the engine's real pace
    assert rate.value == pytest.approx(20.0 + RATE_WEIGHT * (5.0 - 20.0))


def test_an_empty_queue_admits_even_a_request_over_the_bound() -> None:
    admission = Admission(10)  # 300 s of audio is 37.5 s of work at the prior rate
    with admission.reserve("m", 300):
        assert admission.queued_s("m") == 300
    assert admission.queued_s("m") == 0


def test_over_the_predicted_wait_is_refused_with_a_retry_after_from_the_prediction() -> None:
    admission = Admission(60)  # at the prior 8 audio s/s: 480 s of audio fit
    with admission.reserve("m", 300):
        with admission.reserve("m", 180):  # 300 ahead + 180 own = 60 s: admitted
            with pytest.raises(ServerBusyError) as refused, admission.reserve("m", 10):
                pass
            assert refused.value.retry_after_s == math.ceil(480 / DEFAULT_RATE)
            assert refused.value.http_status == 503 and refused.value.code == "Throttling"
            with admission.reserve("other-model", 400):  # each engine model has its own queue
                pass
        with admission.enter("m"):  # 300 s queued + the mean 10 s: 39 s predicted, admitted
            pass
    with admission.reserve("m", 600):
        pass


def test_recognised_audio_leaves_the_queue_and_the_measured_rate_decides() -> None:
    """A reservation's progress drains its audio from the queue and measures the rate; at a measured
    rate far above the prior, a request the prior would refuse is admitted."""
    now = [0.0]
    admission = Admission(60, clock=lambda: now[0])
    with admission.reserve("m", 300) as first:
        now[0] = 2.0
        first.progress(100)  # 100 s of audio in 2 s: 50 audio s per s
        assert admission.queued_s("m") == 200 and admission.rate("m") == 50
        with admission.reserve("m", 400):  # 600 s of audio: 12 s at 50 s/s, 75 s at the prior
            assert admission.predicted_wait_s("m", 0) == pytest.approx(600 / 50)
        first.progress(1000)  # capped at its own duration
        assert admission.queued_s("m") == 0
    assert admission.queued_s("m") == 0 and admission.rate("m") == 50  # the rate outlives the queue


def test_requests_not_yet_probed_count_as_the_mean_duration() -> None:
    """A burst is refused once its bodies are in: each admitted request counts before its duration is known."""
    admission = Admission(3 * DEFAULT_REQUEST_S / DEFAULT_RATE)  # room for three mean requests
    with admission.enter("m"), admission.enter("m"):
        assert admission.queued_s("m") == 2 * DEFAULT_REQUEST_S
        assert admission.predicted_wait_s("m") == pytest.approx(3 * DEFAULT_REQUEST_S / DEFAULT_RATE)
        with admission.enter("m"), pytest.raises(ServerBusyError), admission.enter("m"):  # the third fits
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
