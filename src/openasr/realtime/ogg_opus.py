"""Ogg-Opus arriving in pieces, as a realtime session receives it, to mono samples at 48 kHz.

DashScope's realtime `opus` format (spec §1, `session.input_audio_format`) is an Ogg-Opus stream (RFC
7845) cut into frames anywhere: what `opusenc`, a browser's Ogg recorder or `ffmpeg -c:a libopus -f ogg`
write. PyAV demuxes Ogg only from a whole file, so the pages (RFC 3533: "OggS", a 27-byte header, a
segment table whose 255-lacing joins segments into packets, a packet running on into the next page) are
taken apart here as the bytes come, and each packet goes to FFmpeg's Opus decoder through PyAV. The
first packet is the `OpusHead`, handed to the decoder as FFmpeg's own Ogg demuxer hands it (channels,
mapping, and the pre-skip: the encoder's look-ahead, which the decoder drops); the second is the
`OpusTags`. The last page's few milliseconds of end padding are not trimmed: a live stream has no end
known in advance, and they are silence. Raw Opus packets without Ogg framing cannot be told apart on the
wire and are refused (`NotOggOpusError`), never guessed at.
"""

from __future__ import annotations

import struct

import av
import numpy as np

OPUS_RATE_HZ = 48_000
"""Opus always decodes at 48 kHz, whatever rate the encoder was given."""
_CAPTURE = b"OggS"
_HEADER = struct.Struct("<4sBBqIIIB")
"""Capture pattern, version, header type, granule position, serial, sequence number, CRC, segments."""
MAX_PACKET_BYTES = 256 * 1024
"""An Opus packet of one coded stream (mono or stereo) holds at most 61,440 bytes (120 ms; RFC 6716
§3.2.5); this leaves room for four. A packet whose lacing never ends is refused, not buffered without
bound while it decodes to nothing."""


class NotOggOpusError(ValueError):
    """The bytes are not an Ogg-Opus stream, or a packet in it does not decode."""


class OggOpusStream:
    """One Ogg-Opus stream, fed in arbitrary pieces; `feed` returns the new samples (mono, 48 kHz)."""

    def __init__(self) -> None:
        self._pending = bytearray()
        self._packet = bytearray()
        self._serial: int | None = None
        self._decoder: av.AudioCodecContext | None = None

    def feed(self, data: bytes) -> np.ndarray:
        """The samples of the packets `data` completes. After a `NotOggOpusError` nothing is kept: what
        follows a broken page cannot be resynchronised, and a client sending garbage grows no buffer."""
        self._pending += data
        try:
            out = [self._decode(packet) for packet in self._packets()]
        except NotOggOpusError:
            self._pending.clear()
            self._packet.clear()
            raise
        return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)

    def _packets(self) -> list[bytes]:
        """The packets completed by the whole pages now buffered; a partial page waits for its rest."""
        packets = []
        while self._pending:
            if not _CAPTURE.startswith(bytes(self._pending[:4])):
                raise NotOggOpusError("the audio is not an Ogg stream (no 'OggS' page where one should begin)")
            if len(self._pending) < _HEADER.size:
                break
            _, version, _, _, serial, _, _, count = _HEADER.unpack_from(self._pending)
            if version != 0:
                raise NotOggOpusError(f"Ogg page version {version}; only version 0 exists")
            if self._serial is None:
                self._serial = serial
            elif serial != self._serial:
                raise NotOggOpusError("the audio holds more than one Ogg stream; send one Opus stream per session")
            if len(self._pending) < _HEADER.size + count:
                break
            lacing = self._pending[_HEADER.size : _HEADER.size + count]
            body_at = _HEADER.size + count
            if len(self._pending) < body_at + sum(lacing):
                break
            at = body_at
            for size in lacing:
                self._packet += self._pending[at : at + size]
                at += size
                if len(self._packet) > MAX_PACKET_BYTES:
                    raise NotOggOpusError(f"an Opus packet runs past {MAX_PACKET_BYTES} bytes")
                if size < 255:  # a segment shorter than 255 bytes ends its packet
                    packets.append(bytes(self._packet))
                    self._packet.clear()
            del self._pending[:at]
        return packets

    def _decode(self, packet: bytes) -> np.ndarray:
        if self._decoder is None:
            self._decoder = self._open(packet)
            return np.zeros(0, dtype=np.float32)
        # The comment header. No audio packet begins so (a TOC byte 'O' then 'p' would announce 48 frames),
        # which is how FFmpeg's own Ogg demuxer tells it apart too.
        if packet.startswith(b"OpusTags"):
            return np.zeros(0, dtype=np.float32)
        try:
            frames = self._decoder.decode(av.Packet(packet))
        except av.error.FFmpegError as exc:
            raise NotOggOpusError(f"an Opus packet does not decode: {exc}") from None
        samples = [f.to_ndarray().reshape(len(f.layout.channels), -1).mean(axis=0) for f in frames]
        return np.concatenate(samples).astype(np.float32) if samples else np.zeros(0, dtype=np.float32)

    def _open(self, head: bytes) -> av.AudioCodecContext:
        """The decoder for the stream that `head`, its first packet, describes."""
        if len(head) < 19 or not head.startswith(b"OpusHead"):
            raise NotOggOpusError("the Ogg stream is not Opus (its first packet is not an OpusHead)")
        if head[9] not in (1, 2):  # surround streams also decode to planes PyAV cannot read safely from 8 on
            raise NotOggOpusError(f"the Opus stream has {head[9]} channels; send mono or stereo")
        decoder = av.CodecContext.create("opus", "r")
        decoder.extradata = head
        decoder.sample_rate = OPUS_RATE_HZ
        decoder.layout = "stereo" if head[9] == 2 else "mono"
        try:
            decoder.open()
        except av.error.FFmpegError as exc:  # a header FFmpeg refuses (another version, a mapping family)
            raise NotOggOpusError(f"the OpusHead is not one the decoder takes: {exc}") from None
        return decoder
