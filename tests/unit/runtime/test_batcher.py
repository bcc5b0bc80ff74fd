"""The batcher's scheduling, seen from the engine's side: which chunks arrive together and in what order.

The engine here records the batches it is handed and answers each chunk with its own marker, so the
rules (bounded wait, full batches, interactive first and alone, per-chunk failures, cancellation) are
checked exactly; recognition itself is covered on real speech in tests/integration/test_batching.py.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pytest

from openasr.core.errors import InvalidParameterError
from openasr.engines.base import (
    EngineCapabilities,
    Recognition,
    RecognitionItem,
    RecognitionRequest,
    RecognizedSegment,
)
from openasr.runtime.batcher import BatchingEngine, Priority


class RecordingEngine:
    """Answers each chunk with a segment naming it; holds every batch until `release` is set."""

    name = "recording"
    capabilities = EngineCapabilities(
        languages=frozenset({"en"}),
        language_id=False,
        word_timestamps=False,
        context_biasing=False,
        emotion=False,
        max_chunk_s=30.0,
        max_prompt_tokens=0,
        concurrent_calls=1,
    )

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.release = threading.Event()
        self.release.set()
        self.started = threading.Event()

    def recognize(self, items: Sequence[RecognitionItem]) -> list[Recognition]:
        names = [item.request.prompt for item in items]
        self.batches.append(names)
        self.started.set()
        self.release.wait(10)
        if any(item.request.language != "en" for item in items):
            raise InvalidParameterError("language not supported", param="language")
        return [Recognition((RecognizedSegment(0.0, 1.0, name),), "en") for name in names]


def item(name: str, language: str = "en") -> RecognitionItem:
    return RecognitionItem(np.zeros(16000, dtype=np.float32), RecognitionRequest(language=language, prompt=name))


@pytest.fixture
def recorder() -> RecordingEngine:
    return RecordingEngine()


def test_each_caller_gets_its_own_result_in_order(recorder: RecordingEngine) -> None:
    batcher = BatchingEngine(recorder, max_batch=4, max_wait_s=0.05)
    results = batcher.recognize([item(f"c{i}") for i in range(10)])
    batcher.close()
    assert [r.segments[0].text for r in results] == [f"c{i}" for i in range(10)]
    assert [len(b) for b in recorder.batches] == [4, 4, 2]
    assert batcher.stats.batches == 3 and batcher.stats.mean_batch == pytest.approx(10 / 3)


def test_a_lone_chunk_waits_only_the_bounded_time(recorder: RecordingEngine) -> None:
    batcher = BatchingEngine(recorder, max_batch=8, max_wait_s=0.05)
    start = time.monotonic()
    (result,) = batcher.recognize([item("alone")])
    waited_s = time.monotonic() - start
    batcher.close()
    assert result.segments[0].text == "alone" and recorder.batches == [["alone"]]
    assert 0.04 <= waited_s < 2.0


def test_interactive_chunks_go_first_and_alone(recorder: RecordingEngine) -> None:
    batcher = BatchingEngine(recorder, max_batch=4, max_wait_s=0.0)
    recorder.release.clear()
    running = batcher.submit(item("running"))
    assert recorder.started.wait(5)  # the dispatcher is busy; everything below queues behind it
    bulk = [batcher.submit(item(f"bulk{i}")) for i in range(6)]
    interactive = batcher.submit(item("stream"), Priority.INTERACTIVE)
    recorder.release.set()
    assert interactive.result(5).segments[0].text == "stream"
    assert [f.result(5).segments[0].text for f in bulk] == [f"bulk{i}" for i in range(6)]
    assert running.result(5).segments[0].text == "running"
    batcher.close()
    assert recorder.batches == [["running"], ["stream"], ["bulk0", "bulk1", "bulk2", "bulk3"], ["bulk4", "bulk5"]]


class TwoCallEngine(RecordingEngine):
    """The recorder with two dispatchers, noting which one ran each batch."""

    capabilities = replace(RecordingEngine.capabilities, concurrent_calls=2)

    def __init__(self) -> None:
        super().__init__()
        self.threads: list[str] = []

    def recognize(self, items: Sequence[RecognitionItem]) -> list[Recognition]:
        self.threads.append(threading.current_thread().name)
        return super().recognize(items)


def started(engine: RecordingEngine, batches: int) -> None:
    """Wait until the engine holds `batches` batches (each held until `release`)."""
    deadline = time.monotonic() + 5
    while len(engine.batches) < batches and time.monotonic() < deadline:
        time.sleep(0.01)


def test_chunks_that_arrive_together_are_shared_among_free_dispatchers() -> None:
    """Four finals at once on two free dispatchers: two each, not four on one while the other idles."""
    engine = TwoCallEngine()
    batcher = BatchingEngine(engine, max_batch=4, max_wait_s=0.2)
    engine.release.clear()  # each batch runs until both have started
    futures = [batcher.submit(item(f"f{i}"), Priority.INTERACTIVE) for i in range(4)]
    started(engine, batches=2)
    engine.release.set()
    assert [f.result(5).segments[0].text for f in futures] == ["f0", "f1", "f2", "f3"]
    batcher.close()
    assert engine.batches == [["f0", "f1"], ["f2", "f3"]] and len(set(engine.threads)) == 2


def test_a_dispatcher_running_a_caption_keeps_its_share_of_the_finals() -> None:
    """One dispatcher finishes a live caption (less urgent) while four finals wait: the free one takes
    two of them, not all four."""
    engine = TwoCallEngine()
    batcher = BatchingEngine(engine, max_batch=4, max_wait_s=0.2)
    engine.release.clear()
    caption = batcher.submit(item("caption"), Priority.PARTIAL)
    assert engine.started.wait(5)
    finals = [batcher.submit(item(f"f{i}"), Priority.INTERACTIVE) for i in range(4)]
    started(engine, batches=2)
    engine.release.set()
    assert [f.result(5).segments[0].text for f in finals] == ["f0", "f1", "f2", "f3"]
    assert caption.result(5).segments[0].text == "caption"
    batcher.close()
    assert engine.batches[:2] == [["caption"], ["f0", "f1"]]  # the rest: to whichever is free, shared again
    assert [name for batch in engine.batches[2:] for name in batch] == ["f2", "f3"]


def test_a_caption_waits_while_a_final_runs() -> None:
    """A free dispatcher does not start a live caption beside a running final (the final keeps the
    cores); the caption goes out as soon as the final is done."""
    engine = TwoCallEngine()
    batcher = BatchingEngine(engine, max_batch=4, max_wait_s=0.0)
    engine.release.clear()
    final = batcher.submit(item("final"), Priority.INTERACTIVE)
    assert engine.started.wait(5)
    caption = batcher.submit(item("caption"), Priority.PARTIAL)
    time.sleep(0.3)  # a free dispatcher had time to take it
    assert engine.batches == [["final"]]
    engine.release.set()
    assert final.result(5).segments[0].text == "final" and caption.result(5).segments[0].text == "caption"
    batcher.close()
    assert engine.batches == [["final"], ["caption"]]


def test_a_dispatcher_alone_takes_a_full_batch() -> None:
    """While the other dispatcher runs a batch as urgent, the free one takes up to `max_batch`."""
    engine = TwoCallEngine()
    batcher = BatchingEngine(engine, max_batch=4, max_wait_s=0.2)
    engine.release.clear()
    running = batcher.submit(item("running"))
    assert engine.started.wait(5)
    engine.started.clear()
    queued = [batcher.submit(item(f"b{i}")) for i in range(4)]
    assert engine.started.wait(5)
    engine.release.set()
    assert [f.result(5).segments[0].text for f in queued] == ["b0", "b1", "b2", "b3"]
    assert running.result(5).segments[0].text == "running"
    batcher.close()
    assert engine.batches == [["running"], ["b0", "b1", "b2", "b3"]]


def test_a_failing_chunk_fails_alone(recorder: RecordingEngine) -> None:
    batcher = BatchingEngine(recorder, max_batch=4, max_wait_s=0.05)
    futures = [batcher.submit(item("a")), batcher.submit(item("bad", language="xx")), batcher.submit(item("b"))]
    assert futures[0].result(5).segments[0].text == "a" and futures[2].result(5).segments[0].text == "b"
    with pytest.raises(InvalidParameterError):
        futures[1].result(5)
    batcher.close()
    assert recorder.batches[0] == ["a", "bad", "b"]  # tried together, then one by one
    assert sorted(recorder.batches[1:]) == [["a"], ["b"], ["bad"]]


def test_cancelled_chunks_are_never_recognised(recorder: RecordingEngine) -> None:
    batcher = BatchingEngine(recorder, max_batch=4, max_wait_s=0.0)
    recorder.release.clear()
    batcher.submit(item("running"))
    assert recorder.started.wait(5)
    abandoned = batcher.submit(item("abandoned"))
    kept = batcher.submit(item("kept"))
    assert abandoned.cancel()
    recorder.release.set()
    assert kept.result(5).segments[0].text == "kept"
    batcher.close()
    assert "abandoned" not in {name for batch in recorder.batches for name in batch}


def test_closing_finishes_the_running_batch_and_fails_what_waits(recorder: RecordingEngine) -> None:
    """Nobody waits forever on a closed engine; a chunk its caller cancelled stays cancelled."""
    batcher = BatchingEngine(recorder, max_batch=1, max_wait_s=0.0)
    recorder.release.clear()
    running = batcher.submit(item("running"))
    assert recorder.started.wait(5)
    waiting, abandoned = batcher.submit(item("waiting")), batcher.submit(item("abandoned"))
    assert abandoned.cancel()
    errors: list[BaseException] = []

    def close() -> None:
        try:
            batcher.close()
        except BaseException as error:  # reported by the assertion below
            errors.append(error)

    closing = threading.Thread(target=close)
    closing.start()
    recorder.release.set()
    closing.join(5)
    assert not closing.is_alive() and not errors and running.result(5).segments[0].text == "running"
    with pytest.raises(RuntimeError, match="engine is closed"):
        waiting.result(5)
    assert abandoned.cancelled()
    assert [name for batch in recorder.batches for name in batch] == ["running"]


def test_a_closed_batcher_refuses_work(recorder: RecordingEngine) -> None:
    batcher = BatchingEngine(recorder)
    batcher.close()
    with pytest.raises(RuntimeError):
        batcher.submit(item("late"))
