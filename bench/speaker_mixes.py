"""Multi-speaker recordings built from real single-speaker clips, with their reference turns.

Each speaker's clips are trimmed of leading and trailing silence and joined into one stream of their
speech; a mix alternates speakers (never the same one twice in a row) with turns of 2–15 s cut from each
speaker's stream in order (wrapping round when it runs out) and gaps of 0–1 s of silence, no overlap.
The reference turns are exact (the mix is built from them), so a diarization can be scored against
them (`score`): sentence attribution and DER under the best label mapping, and the speaker count.
Used by tests/integration/test_diarization*.py (the committed clips of tests/data) and
bench/diarization.py (those plus ../shared/fixtures).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from openasr.audio.decode import decode_audio

RATE = 16_000
DATA = Path(__file__).resolve().parents[1] / "tests" / "data"

TEST_SPEAKERS: dict[str, tuple[str, ...]] = {
    "austen": tuple(f"en/sense_and_sensibility_01_austen_64kb-0{n}.wav" for n in (870, 880, 890, 920, 930)),
    "dickens": ("en/two_cities.flac",),
    "aishell_768": ("zh/aishell1_BAC009S0768W0290.wav",),
    "cards": tuple(f"en/cards_00{n}.wav" for n in range(1, 6)),
}
"""Different speakers among the committed clips (tests/data), by the clips of each. beckett.wav is left
out: CAM++ puts it at cosine 0.71 to two_cities.flac (both Moonshine's LibriVox assets, very likely one
reader), where different speakers score below 0.3."""

FIXTURE_SPEAKERS: dict[str, tuple[str, ...]] = {
    "qwen3_raokouling": ("zh/qwen3_raokouling.wav",),
    "qwen3_cantonese": ("yue/qwen3_cantonese.wav",),
    "sensevoice_en": ("en/sensevoice_en.wav",),
    "qwen3_de": ("de/qwen3_de.wav",),
    "funasr_far": ("zh/funasr_nano_far_4.wav",),
    "sensevoice_ja": ("ja/sensevoice_ja.wav",),
}
"""Further different speakers in ../shared/fixtures (evaluation only: never copied into the project)."""


@dataclass(frozen=True)
class Mix:
    samples: np.ndarray
    turns: tuple[tuple[float, float, str], ...]
    """(start_s, end_s, speaker) of each turn, in order."""

    @property
    def speakers(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(t[2] for t in self.turns))


def trim(samples: np.ndarray, floor_db: float = -35.0) -> np.ndarray:
    """The clip without its leading and trailing silence (20 ms frames below `floor_db` of its peak)."""
    frames = samples[: len(samples) // 320 * 320].reshape(-1, 320)
    level = 20 * np.log10(np.sqrt((frames**2).mean(axis=1)) + 1e-9)
    loud = np.flatnonzero(level > level.max() + floor_db)
    return samples[loud[0] * 320 : (loud[-1] + 1) * 320] if len(loud) else samples[:0]


def speaker_streams(speakers: Mapping[str, Sequence[str]], root: Path = DATA) -> dict[str, np.ndarray]:
    return {name: np.concatenate([trim(decode_audio(root / f)) for f in files]) for name, files in speakers.items()}


def build_mix(streams: Mapping[str, np.ndarray], total_s: float, seed: int) -> Mix:
    """A mix of about `total_s` seconds alternating the given speakers (each speaks at least once)."""
    rng = np.random.default_rng(seed)
    names = list(streams)
    cursor = dict.fromkeys(names, 0)
    parts: list[np.ndarray] = []
    turns: list[tuple[float, float, str]] = []
    at, previous = 0, None
    while at < total_s * RATE or len({t[2] for t in turns}) < len(names):
        unused = [n for n in names if n not in {t[2] for t in turns}]
        speaker = str(rng.choice(unused or [n for n in names if n != previous]))
        length = int(rng.uniform(2.0, 15.0) * RATE)
        stream = streams[speaker]
        piece = np.take(stream, np.arange(cursor[speaker], cursor[speaker] + length), mode="wrap")
        cursor[speaker] = (cursor[speaker] + length) % len(stream)
        gap = np.zeros(int(rng.uniform(0.0, 1.0) * RATE), dtype=np.float32)
        parts += [piece.astype(np.float32), gap]
        turns.append((at / RATE, (at + length) / RATE, speaker))
        at += length + len(gap)
        previous = speaker
    return Mix(np.concatenate(parts), tuple(turns))


def _speaker_at(turns: Sequence[tuple[float, float, object]], begin_s: float, end_s: float) -> object | None:
    overlap: dict[object, float] = {}
    for a, b, who in turns:
        shared = min(b, end_s) - max(a, begin_s)
        if shared > 0:
            overlap[who] = overlap.get(who, 0.0) + shared
    return max(overlap, key=lambda k: overlap[k]) if overlap else None


def _frames(turns: Sequence[tuple[float, float, object]], length: int, codes: Mapping[object, int]) -> np.ndarray:
    """Speaker code per 10 ms frame (-1: nobody)."""
    frames = np.full(length, -1, dtype=np.int64)
    for a, b, who in turns:
        frames[round(a * 100) : round(b * 100)] = codes[who]
    return frames


def _collar(turns: Sequence[tuple[float, float, object]], length: int, collar_s: float) -> np.ndarray:
    scored = np.ones(length, dtype=bool)
    for a, b, _ in turns:
        for edge in (a, b):
            scored[max(0, round((edge - collar_s) * 100)) : round((edge + collar_s) * 100)] = False
    return scored


@dataclass(frozen=True)
class Score:
    sentence_accuracy: float
    der: float
    found: int
    expected: int


def _mappings(labels: Sequence[int], names: Sequence[str]) -> list[dict[int, str | None]]:
    """Every one-to-one mapping of labels onto speakers (labels beyond the speakers map to nobody)."""
    slots: list[str | None] = [*names, *([None] * max(0, len(labels) - len(names)))]
    return [dict(zip(labels, perm, strict=True)) for perm in itertools.permutations(slots, len(labels))]


def sentence_accuracy(mix: Mix, sentences: Sequence[tuple[float, float, int | None]]) -> float:
    """The share of sentences (begin_s, end_s, speaker_id) given the speaker who spoke most of it, under
    the best mapping of speaker ids to speakers."""
    truth = [_speaker_at(mix.turns, min(a, b - 0.05), max(b, a + 0.05)) for a, b, _ in sentences]  # 0 ms ones too
    labels = sorted({s for _, _, s in sentences if s is not None})
    best = 0
    for mapping in _mappings(labels, mix.speakers):
        right = sum(1 for (_, _, s), t in zip(sentences, truth, strict=True) if s is not None and mapping[s] == t)
        best = max(best, right)
    return best / max(1, len(sentences))


def diarization_error_rate(mix: Mix, turns: Sequence[tuple[float, float, int]], collar_s: float = 0.25) -> float:
    """Missed + false-alarm + confused speech over reference speech, 10 ms frames, not scored within
    `collar_s` of a reference turn's edge (as NIST's md-eval), under the best mapping of labels."""
    names = list(mix.speakers)
    length = int(len(mix.samples) / RATE * 100) + 1
    ref = _frames(mix.turns, length, {n: i for i, n in enumerate(names)})
    scored = _collar(mix.turns, length, collar_s)
    total = max(1, np.count_nonzero((ref >= 0) & scored))
    best = np.inf
    for mapping in _mappings(sorted({s for _, _, s in turns}), names):
        codes = {label: (names.index(n) if n is not None else len(names) + label) for label, n in mapping.items()}
        hyp = _frames(turns, length, codes)
        best = min(best, np.count_nonzero((ref != hyp) & scored) / total)
    return float(best)


def score(
    mix: Mix, sentences: Sequence[tuple[float, float, int | None]], turns: Sequence[tuple[float, float, int]]
) -> Score:
    """Sentence attribution, DER and the number of speakers found, against the mix's turns."""
    found = len({s for _, _, s in turns})
    return Score(sentence_accuracy(mix, sentences), diarization_error_rate(mix, turns), found, len(mix.speakers))


def write_wav(path: Path, samples: np.ndarray) -> Path:
    """16-bit mono 16 kHz WAV, written in blocks (a 2-hour mix never exists twice in memory)."""
    import av

    with av.open(str(path), "w", format="wav") as out:
        stream = out.add_stream("pcm_s16le", rate=RATE, layout="mono")
        for a in range(0, len(samples), 60 * RATE):
            pcm = (np.clip(samples[a : a + 60 * RATE], -1.0, 1.0) * 32767).astype("<i2").reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
            frame.sample_rate = RATE
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path
