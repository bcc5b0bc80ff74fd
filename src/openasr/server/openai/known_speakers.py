"""`known_speaker_names[]` + `known_speaker_references[]`: OpenAI's way to name speakers, turned into
the diarization stage's `KnownSpeaker`s (a name and the embedding of the speaker's reference clip).

The lists are checked before any audio is touched (`check_known_speakers`: counts, names); each reference
is then decoded from its data URL, measured (2–10 s, as OpenAI requires) and embedded
(`known_speakers`). Every refusal is a 400 naming the list and the entry's position, never a 500: a
reference is the caller's audio, as untrusted as the file.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from openasr.audio.data_uri import decode_data_uri
from openasr.audio.decode import decode_audio
from openasr.core.errors import InvalidParameterError
from openasr.core.options import KnownSpeaker
from openasr.core.types import SAMPLE_RATE_HZ
from openasr.diarization.embeddings import embed_clip
from openasr.service import MB

NAMES = "known_speaker_names[]"
REFERENCES = "known_speaker_references[]"
MAX_KNOWN_SPEAKERS = 4
MIN_REFERENCE_S = 2.0
MAX_REFERENCE_S = 10.0
MAX_NAME_CHARS = 64
REFERENCE_FIELD_BYTES = 4 * MB
"""The largest form field the transcription route reads (`form_limits`): a data URL of
`MAX_REFERENCE_BYTES`, base64-encoded, fits."""
MAX_REFERENCE_BYTES = 3 * MB
"""A reference's decoded size: 10 s of 48 kHz stereo 16-bit WAV is 1.9 MB, compressed formats far less."""


def check_known_speakers(names: list[str], references: list[str], *, diarize: bool, model: str) -> None:
    """Refuse, naming the parameter, what no reference decoding can fix: known speakers with a model that
    does not diarize, more than four, a count mismatch, a blank, overlong or repeated name."""
    if not names and not references:
        return
    if not diarize:
        raise InvalidParameterError(f"known speakers need model {model}", param=NAMES)
    if len(names) > MAX_KNOWN_SPEAKERS:
        raise InvalidParameterError(f"at most {MAX_KNOWN_SPEAKERS} known speakers, not {len(names)}", param=NAMES)
    if len(references) != len(names):
        raise InvalidParameterError(
            f"{len(names)} known speaker names but {len(references)} references: give one reference per name",
            param=REFERENCES if len(references) > len(names) else NAMES,
        )
    for i, name in enumerate(names):
        if not name.strip() or len(name) > MAX_NAME_CHARS or any(ch in name for ch in "\r\n"):
            raise InvalidParameterError(
                f"known_speaker_names[{i}] must be 1–{MAX_NAME_CHARS} characters on one line", param=NAMES
            )
    if len({name.strip() for name in names}) != len(names):
        raise InvalidParameterError("known speaker names must differ from each other", param=NAMES)


def known_speakers(names: list[str], references: list[str], tmp_root: Path) -> tuple[KnownSpeaker, ...]:
    """Each name with the embedding of its reference clip (decoded in a scratch directory under
    `tmp_root`, removed before returning)."""
    tmp_root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=tmp_root, prefix="speakers-") as scratch:
        return tuple(
            KnownSpeaker(name.strip(), tuple(float(x) for x in embed_clip(_reference_samples(i, ref, Path(scratch)))))
            for i, (name, ref) in enumerate(zip(names, references, strict=True))
        )


def _reference_samples(index: int, reference: str, scratch: Path) -> np.ndarray:
    """The reference's 16 kHz mono samples; any failure is a 400 naming the list and the position."""
    where = f"known_speaker_references[{index}]"
    if not reference.startswith("data:"):
        raise InvalidParameterError(f"{where} must be a data URL (data:audio/…;base64,…)", param=REFERENCES)
    temps: list[Path] = []
    try:
        spooled = decode_data_uri(reference, MAX_REFERENCE_BYTES, scratch, temps)
        samples = decode_audio(spooled.path)
    except InvalidParameterError as exc:
        raise InvalidParameterError(f"{where}: {exc.message}", param=REFERENCES) from None
    seconds = len(samples) / SAMPLE_RATE_HZ
    if not MIN_REFERENCE_S <= seconds <= MAX_REFERENCE_S:
        raise InvalidParameterError(
            f"{where} is {seconds:.1f} s long; a reference must be {MIN_REFERENCE_S:g}–{MAX_REFERENCE_S:g} s",
            param=REFERENCES,
        )
    return samples
