"""Live blocks as the VAD receives them: consecutive start times, float32, the duration cap as audio
arrives, and a clear error for blocks that are not mono float samples."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from openasr.audio.live import PushedAudio, live_blocks
from openasr.core.errors import AudioDecodeError, AudioTooLongError


def test_blocks_follow_each_other_in_time_and_come_out_float32() -> None:
    given = [np.full(8_000, 0.5, dtype=np.float32), np.zeros(0, dtype=np.float32), np.full(1_600, 0.25)]
    out = list(live_blocks(given))
    assert [(b.start_s, b.duration_s) for b in out] == [(0.0, 0.5), (0.5, 0.1)]  # the empty block is skipped
    assert all(b.samples.dtype == np.float32 for b in out) and out[1].samples[0] == np.float32(0.25)


def test_the_block_that_passes_the_cap_raises_before_it_is_handed_on() -> None:
    second = np.zeros(16_000, dtype=np.float32)
    handed = []
    with pytest.raises(AudioTooLongError, match="runs past the limit of 2 s"):
        for block in live_blocks([second, second, second[:8_000]], max_s=2.0):
            handed.append(block)
    assert len(handed) == 2


@pytest.mark.parametrize(
    "block", [np.zeros(160, dtype=np.int16), np.zeros((2, 160), dtype=np.float32)], ids=["int16", "stereo"]
)
def test_blocks_that_need_a_guess_are_refused(block: np.ndarray) -> None:
    with pytest.raises(AudioDecodeError, match="1-D float32 blocks of 16 kHz mono samples"):
        list(live_blocks([block]))


def test_pushed_audio_is_read_in_order_until_it_ends() -> None:
    pushed = PushedAudio(max_blocks=2)
    sent = [np.full(160, i, dtype=np.float32) for i in range(10)]

    def produce() -> None:
        for block in sent:
            pushed.push(block)
        pushed.end()

    producer = threading.Thread(target=produce)
    producer.start()
    received = list(pushed)
    producer.join(timeout=10)
    assert [b[0] for b in received] == list(range(10))
    with pytest.raises(AudioDecodeError):
        pushed.push(np.zeros(160, dtype=np.int16))
