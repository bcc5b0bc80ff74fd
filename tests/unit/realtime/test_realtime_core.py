"""The realtime core's pure parts: client audio decoding, turn detection (on probabilities, then on real
speech through Silero), the DashScope threshold mapping, LocalAgreement-2 captions and the audio buffer."""

from __future__ import annotations

import base64
import itertools

import numpy as np
import pytest

from openasr.audio.decode import decode_audio
from openasr.realtime.audio_in import MAX_FRAME_CHARS, FrameDecoder, decode_frame
from openasr.realtime.buffer import AudioBuffer
from openasr.realtime.errors import FRAME_TOO_LARGE, INVALID_VALUE, RealtimeError
from openasr.realtime.stabiliser import Stabiliser, tokens
from openasr.realtime.turns import TurnDetector, TurnEnd, TurnStart, dashscope_threshold
from openasr.vad.silero import FRAME_SAMPLES, SileroVad
from speech_clips import clip

RATE = 16000


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def sine(rate: int, seconds: float = 1.0) -> np.ndarray:
    return 0.5 * np.sin(2 * np.pi * 440 * np.arange(int(rate * seconds)) / rate)


@pytest.mark.parametrize("rate", [8000, 16000, 24000, 48000])
def test_pcm16_at_any_rate_arrives_as_the_same_16k_signal(rate: int) -> None:
    pcm = (sine(rate) * 32767).astype("<i2").tobytes()
    out = decode_frame(b64(pcm), "pcm16", rate)
    assert abs(len(out) - RATE) <= RATE // 500  # the filter's delay holds back at most 2 ms
    reference = sine(RATE)[: len(out)]
    assert np.abs(out[200:-200] - reference[200:-200]).max() < 1e-3


def test_frames_split_anywhere_decode_as_the_whole_stream() -> None:
    """Odd byte counts carry their last byte; the resampler carries its history."""
    pcm = (sine(24000) * 32767).astype("<i2").tobytes()
    whole = decode_frame(b64(pcm), "audio/pcm", 24000)
    decoder = FrameDecoder("audio/pcm", 24000)
    pieces = [decoder.decode(b64(pcm[i : i + 4801])) for i in range(0, len(pcm), 4801)]
    assert np.array_equal(np.concatenate(pieces), whole)


def test_g711_frames_decode_to_their_standard_values() -> None:
    """µ-law 0x00/0xFF/0x80 and A-law 0xD5/0x55/0xAA/0x2A (ITU-T G.711), at 8 kHz: a 440 Hz tone keeps
    its shape through the upsampling."""
    ulaw = FrameDecoder("g711_ulaw", 8000)
    assert (ulaw._samples(bytes([0x00, 0xFF, 0x80])) * 32768).tolist() == [-32124.0, 0.0, 32124.0]
    alaw = FrameDecoder("g711_alaw", 8000)
    assert (alaw._samples(bytes([0xD5, 0x55, 0xAA, 0x2A])) * 32768).tolist() == [8.0, -8.0, 32256.0, -32256.0]
    table = ulaw._samples(bytes(range(256)))
    tone = sine(8000)
    coded = bytes(int(np.abs(table - x).argmin()) for x in tone)
    out = decode_frame(b64(coded), "g711_ulaw", 8000)
    assert RATE - 40 <= len(out) <= RATE
    assert np.abs(out[200:-200] - sine(RATE)[200 : len(out) - 200]).max() < 0.05


@pytest.mark.parametrize(
    ("audio", "fmt", "rate", "code", "param"),
    [
        ("not base64!", "pcm", 16000, INVALID_VALUE, "audio"),
        ("AAAA", "speex", 16000, INVALID_VALUE, "format"),
        ("AAAA", "opus", 16000, INVALID_VALUE, "audio"),
        ("AAAA", "pcm", 11025, INVALID_VALUE, "sample_rate"),
        ("A" * (MAX_FRAME_CHARS + 4), "pcm", 16000, FRAME_TOO_LARGE, "audio"),
    ],
)
def test_bad_frames_raise_a_named_error(audio: str, fmt: str, rate: int, code: str, param: str) -> None:
    with pytest.raises(RealtimeError) as raised:
        decode_frame(audio, fmt, rate)
    assert raised.value.code == code and raised.value.param == param


def test_a_wav_header_on_the_first_frame_is_skipped() -> None:
    pcm = (sine(16000, 0.1) * 32767).astype("<i2").tobytes()
    header = b"RIFF" + b"\0" * 32 + b"data" + len(pcm).to_bytes(4, "little")
    assert np.array_equal(decode_frame(b64(header + pcm), "wav", 16000), decode_frame(b64(pcm), "pcm", 16000))


def test_dashscope_threshold_maps_the_sdk_default_to_silero_default() -> None:
    assert dashscope_threshold(0.2) == pytest.approx(0.5)
    assert dashscope_threshold(-1.0) == 0.05 and dashscope_threshold(1.0) == pytest.approx(0.9)
    values = [dashscope_threshold(t) for t in np.linspace(-1, 1, 21)]
    assert values == sorted(values)  # lower DashScope threshold = more sensitive


def frames(*runs: tuple[float, int]) -> np.ndarray:
    return np.concatenate([np.full(n, p, dtype=np.float32) for p, n in runs])


def test_a_turn_starts_after_three_voiced_frames_with_its_prefix_and_ends_after_the_silence() -> None:
    detector = TurnDetector(0.5, silence_ms=320, prefix_padding_ms=64)
    turns = detector.feed(frames((0.1, 20), (0.9, 2), (0.1, 1), (0.9, 30), (0.1, 12)))
    first_voiced = 23 * FRAME_SAMPLES
    assert turns[0] == TurnStart(first_voiced - 64 * RATE // 1000)
    assert turns[1] == TurnEnd(53 * FRAME_SAMPLES + 200 * RATE // 1000)  # the last voiced frame + 200 ms tail
    assert len(turns) == 2 and not detector.in_turn


@pytest.mark.parametrize("silence_ms", [64, 150, 320, 800])
def test_the_tentative_end_is_known_once_the_tail_has_arrived_and_is_where_the_turn_ends(silence_ms: int) -> None:
    detector = TurnDetector(0.5, silence_ms=silence_ms, prefix_padding_ms=0)
    detector.feed(frames((0.9, 10)))
    tentative = []
    ended = None
    for _ in range(40):
        turns = detector.feed(frames((0.1, 1)))
        if turns:
            ended = turns[0]
            break
        tentative.append(detector.tentative_end())
    known = [t for t in tentative if t is not None]
    assert isinstance(ended, TurnEnd) and set(known) <= {ended.sample}
    # known before the turn ends only where the silence outlasts the 200 ms tail a turn keeps
    assert bool(known) == (silence_ms > 200)
    assert tentative[0] is None, "one quiet frame is not yet the tail"
    assert ended.sample <= detector.frames * FRAME_SAMPLES, "the samples up to it have arrived"
    detector.feed(frames((0.9, 3)))
    assert detector.tentative_end() is None


def test_speech_before_the_silence_runs_out_withdraws_the_tentative_end() -> None:
    detector = TurnDetector(0.5, silence_ms=800, prefix_padding_ms=0)
    detector.feed(frames((0.9, 10), (0.1, 10)))
    assert detector.tentative_end() == 10 * FRAME_SAMPLES + 200 * RATE // 1000
    assert detector.feed(frames((0.9, 1))) == [] and detector.tentative_end() is None


def test_brief_dips_do_not_end_a_turn_and_the_prefix_stops_at_the_previous_turn() -> None:
    detector = TurnDetector(0.5, silence_ms=320, prefix_padding_ms=1000)
    turns = detector.feed(frames((0.9, 10), (0.2, 10), (0.9, 10), (0.1, 4), (0.9, 10)))
    assert [type(t) for t in turns] == [TurnStart, TurnEnd, TurnStart]
    assert turns[0] == TurnStart(0)
    assert isinstance(turns[2], TurnStart) and turns[2].sample == turns[1].sample  # clamped at the end


def test_a_turn_longer_than_30_s_is_split_at_its_quietest_recent_frame() -> None:
    detector = TurnDetector(0.5, silence_ms=800, prefix_padding_ms=0)
    probabilities = frames((0.9, 900), (0.4, 1), (0.9, 100))
    turns = detector.feed(probabilities)
    assert [type(t) for t in turns] == [TurnStart, TurnEnd, TurnStart]
    assert turns[1] == TurnEnd(900 * FRAME_SAMPLES) and turns[2] == TurnStart(900 * FRAME_SAMPLES)
    assert detector.in_turn


def test_real_speech_with_a_pause_makes_two_turns() -> None:
    """Two committed clips with a second of silence between them, through Silero in 100 ms frames."""
    first, second = decode_audio(clip("0880").path), decode_audio(clip("0890").path)
    gap = np.zeros(RATE, dtype=np.float32)
    audio = np.concatenate([first, gap, second, gap])
    stream, detector = SileroVad().stream(), TurnDetector(0.5, silence_ms=500, prefix_padding_ms=300)
    turns = [t for i in range(0, len(audio), 1600) for t in detector.feed(stream.feed(audio[i : i + 1600]))]
    assert [type(t) for t in turns] == [TurnStart, TurnEnd, TurnStart, TurnEnd]
    second_start = len(first) + RATE
    assert turns[0].sample < RATE // 2 and len(first) - RATE // 2 < turns[1].sample <= second_start
    assert second_start - RATE // 2 < turns[2].sample < second_start + RATE // 4
    assert turns[3].sample > second_start + len(second) - RATE // 2


def test_confirmed_text_only_grows_and_the_stash_holds_the_rest() -> None:
    stabiliser = Stabiliser()
    hypotheses = ["It was", "It was the best", "It was the beast of", "It was the best of times", "It was a"]
    results = [stabiliser.update(h) for h in hypotheses]
    confirmed = [r.confirmed for r in results]
    assert all(b.startswith(a) for a, b in itertools.pairwise(confirmed))
    assert confirmed[1] == "It" and confirmed[-1] == confirmed[-2]
    assert "".join(r.delta for r in results) == confirmed[-1]
    assert results[-1].stash == " a"  # a disagreeing hypothesis only fills the stash
    assert all((r.confirmed + r.stash).startswith(r.confirmed) for r in results)


def test_chinese_confirms_character_by_character() -> None:
    assert tokens("今天 天气ok") == ["今", "天", " 天", "气", "ok"]
    stabiliser = Stabiliser()
    stabiliser.update("今天天气")
    assert stabiliser.update("今天天气怎么样").confirmed == "今天天"


def test_the_buffer_keeps_positions_after_dropping_old_audio() -> None:
    buffer = AudioBuffer()
    for i in range(5):
        buffer.append(np.full(100, i, dtype=np.float32))
    buffer.drop_before(250)
    assert buffer.start == 250 and buffer.end == 500
    assert buffer.slice(200, 310).tolist() == [2.0] * 50 + [3.0] * 10
