"""Ogg-Opus in pieces (`realtime.ogg_opus`, DashScope's realtime `opus` format): the same samples as
FFmpeg's own Ogg demuxer decodes from the whole file, however the stream is cut, mono or stereo; and bad
streams refused with a reason, keeping nothing."""

from __future__ import annotations

import base64
import struct
from pathlib import Path

import av
import numpy as np
import pytest

from audio_files import ENCODINGS, write_audio
from openasr.audio.decode import decode_audio
from openasr.realtime.audio_in import FrameDecoder
from openasr.realtime.errors import INVALID_VALUE, RealtimeError
from openasr.realtime.ogg_opus import NotOggOpusError, OggOpusStream
from speech_clips import clip


def whole_file_decode(path: Path) -> np.ndarray:
    """Mono 48 kHz samples as FFmpeg's Ogg demuxer and Opus decoder give them for the whole file."""
    with av.open(str(path)) as container:
        frames = [f.to_ndarray().reshape(len(f.layout.channels), -1).mean(axis=0) for f in container.decode(audio=0)]
    return np.concatenate(frames).astype(np.float32)


def fed_in_pieces(data: bytes, seed: int, largest: int) -> np.ndarray:
    stream, rng, out, at = OggOpusStream(), np.random.default_rng(seed), [], 0
    while at < len(data):
        size = int(rng.integers(1, largest))
        out.append(stream.feed(data[at : at + size]))
        at += size
    return np.concatenate(out)


@pytest.mark.parametrize(("channels", "largest"), [(1, 7), (1, 4000), (2, 900)])
def test_a_stream_cut_anywhere_decodes_as_the_whole_file(tmp_path: Path, channels: int, largest: int) -> None:
    speech = decode_audio(clip("0880").path)
    samples = np.stack([speech, 0.5 * speech]) if channels == 2 else speech
    path = write_audio(tmp_path / "speech.opus", samples, ENCODINGS["opus"])
    expected = whole_file_decode(path)
    got = fed_in_pieces(path.read_bytes(), seed=channels, largest=largest)
    # the demuxer also trims the last page's end padding (at most one 20 ms frame), which a stream cannot know
    assert len(expected) <= len(got) <= len(expected) + 960
    assert np.array_equal(got[: len(expected)], expected)
    assert abs(len(expected) - 3 * len(speech)) <= 960


def test_the_session_decoder_resamples_the_stream_to_16k(tmp_path: Path) -> None:
    speech = decode_audio(clip("0880").path)
    data = write_audio(tmp_path / "speech.opus", speech, ENCODINGS["opus"]).read_bytes()
    decoder = FrameDecoder("opus", 16000)
    frames = [base64.b64encode(data[i : i + 3000]).decode() for i in range(0, len(data), 3000)]
    out = np.concatenate([decoder.decode(frame) for frame in frames])
    assert abs(len(out) - len(speech)) <= 400
    n = min(len(out), len(speech))
    assert np.corrcoef(out[:n], speech[:n])[0, 1] > 0.95  # lossy at 32 kb/s, but the same signal, in time


def test_bad_streams_are_refused_and_nothing_is_kept(tmp_path: Path) -> None:
    with pytest.raises(NotOggOpusError, match="not an Ogg stream"):
        OggOpusStream().feed(b"RIFF")
    vorbis = write_audio(tmp_path / "tone.ogg", np.zeros(16000, dtype=np.float32), ENCODINGS["ogg"]).read_bytes()
    with pytest.raises(NotOggOpusError, match="not Opus"):
        OggOpusStream().feed(vorbis)
    opus = write_audio(tmp_path / "a.opus", decode_audio(clip("0880").path), ENCODINGS["opus"]).read_bytes()
    other = write_audio(tmp_path / "b.opus", decode_audio(clip("0890").path), ENCODINGS["opus"]).read_bytes()
    stream = OggOpusStream()
    stream.feed(opus)
    with pytest.raises(NotOggOpusError, match="more than one Ogg stream"):
        stream.feed(other)  # a second stream (another serial number) in the same session
    assert not stream._pending and not stream._packet
    with pytest.raises(NotOggOpusError):
        stream.feed(b"\x00" * 100_000)  # garbage after a broken page: refused again, still nothing kept
    assert not stream._pending
    surround = bytearray(opus)
    surround[27 + surround[26] + 9] = 9  # the OpusHead's channel count, in the first page's body
    with pytest.raises(NotOggOpusError, match="9 channels"):
        OggOpusStream().feed(bytes(surround))
    for at, value in ((8, 99), (18, 255)):  # a version, a mapping family the decoder does not open
        odd = bytearray(opus)
        odd[27 + odd[26] + at] = value
        with pytest.raises(NotOggOpusError, match="not one the decoder takes"):
            OggOpusStream().feed(bytes(odd))
    with pytest.raises(RealtimeError) as raised:
        FrameDecoder("opus", 16000).decode(base64.b64encode(b"\x01\x02\x03\x04").decode())
    assert raised.value.code == INVALID_VALUE and raised.value.param == "audio" and "Ogg-Opus" in raised.value.message


def test_a_packet_that_never_ends_is_refused_before_it_grows_without_bound(tmp_path: Path) -> None:
    opus = write_audio(tmp_path / "a.opus", decode_audio(clip("0880").path), ENCODINGS["opus"]).read_bytes()
    stream = OggOpusStream()
    stream.feed(opus)
    serial = struct.unpack_from("<I", opus, 14)[0]
    endless = struct.pack("<4sBBqIIIB", b"OggS", 0, 1, -1, serial, 99, 0, 255) + bytes([255] * 255) + bytes(255 * 255)
    with pytest.raises(NotOggOpusError, match="runs past"):
        for _ in range(10):  # 650 kB of one packet's continuation pages
            stream.feed(endless)
    assert not stream._pending and not stream._packet
