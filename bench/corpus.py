"""Long test recordings built from the committed real speech clips (tests/data), for the benchmarks.

A recording is the English clips in manifest order, each followed by a pause, repeated until it is long
enough; mostly-silent recordings (memory benchmark) spread the clips out with long pauses. The reference
text is the clips' references in the same order, so WER can be measured on the whole recording.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from openasr.audio.decode import decode_audio

RATE_HZ = 16_000
DATA = Path(__file__).resolve().parents[1] / "tests" / "data"


@dataclass(frozen=True)
class Clip:
    samples: np.ndarray
    reference: str


_PAUSE_S = 1.0


def english_clips() -> list[Clip]:
    manifest = json.loads((DATA / "manifest.json").read_text(encoding="utf-8"))["clips"]
    return [Clip(decode_audio(DATA / c["file"]), c["reference"]) for c in manifest if c["language"] == "en"]


def build_recording(path: Path, seconds: float) -> str:
    """Write a mono 16 kHz FLAC of about `seconds` of the clips, one after another with 1 s pauses; return
    its reference text."""
    clips = english_clips()
    references: list[str] = []
    with av.open(str(path), "w") as out:
        stream = out.add_stream("flac", rate=RATE_HZ, layout="mono")
        written = 0
        for piece, reference in _pieces(clips, seconds):
            if reference:
                references.append(reference)
            pcm = (np.clip(piece, -1, 1) * 32767).astype(np.int16)
            for start in range(0, len(pcm), RATE_HZ * 10):
                frame = av.AudioFrame.from_ndarray(pcm[None, start : start + RATE_HZ * 10], format="s16", layout="mono")
                frame.sample_rate = RATE_HZ
                frame.pts = written
                written += frame.samples
                for packet in stream.encode(frame):
                    out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return " ".join(references)


def _pieces(clips: list[Clip], seconds: float) -> Iterator[tuple[np.ndarray, str]]:
    total = 0.0
    i = 0
    while total < seconds:
        clip = clips[i % len(clips)]
        i += 1
        gap_s = min(_PAUSE_S, max(0.0, seconds - total - len(clip.samples) / RATE_HZ)) if total else _PAUSE_S
        yield clip.samples, clip.reference
        yield np.zeros(int(gap_s * RATE_HZ), np.float32), ""
        total += len(clip.samples) / RATE_HZ + gap_s
