"""OpenAI's diarized transcription on the wire: `response_format=diarized_json` and the
`transcript.text.segment` stream events of `gpt-4o-transcribe-diarize`.

The diarization stage numbers speakers from 0 in order of first appearance and names those that matched a
known speaker's reference; OpenAI's wire labels a segment with that name, else with a capital letter
(`A`, `B`, … in order of first appearance among the unnamed speakers), so this module only maps the one
onto the other. Segments are the transcript's sentences, time-ordered across channels.
"""

from __future__ import annotations

from typing import Any

from openasr.core.billing import billed_seconds
from openasr.core.types import Sentence, Transcript

DIARIZED_FORMAT = "diarized_json"
SEGMENT_TYPE = "transcript.text.segment"
UNATTRIBUTED = "unknown"
"""The label of a sentence the stage left without a speaker (none of its windows overlapped it); OpenAI's
schema requires a string, and a letter would claim a speaker that was never heard."""


def letters(index: int) -> str:
    """0 → A, 25 → Z, 26 → AA: spreadsheet-column letters, as OpenAI labels unnamed speakers."""
    label = ""
    index += 1
    while index > 0:
        index, rest = divmod(index - 1, 26)
        label = chr(ord("A") + rest) + label
    return label


def speaker_labels(sentences: list[Sentence]) -> dict[int, str]:
    """Each speaker id's wire label: the known speaker's name, else the next letter."""
    labels: dict[int, str] = {}
    unnamed = 0
    for sentence in sentences:
        speaker = sentence.speaker_id
        if speaker is None or speaker in labels:
            continue
        if sentence.speaker_name:
            labels[speaker] = sentence.speaker_name
        else:
            labels[speaker] = letters(unnamed)
            unnamed += 1
    return labels


def diarized_segments(t: Transcript) -> list[dict[str, Any]]:
    """The transcript's sentences as OpenAI's diarized segments (also the stream's segment events)."""
    sentences = sorted(
        (s for channel in t.channels for s in channel.sentences if s.text.strip()),
        key=lambda s: (s.begin_ms, s.end_ms),
    )
    labels = speaker_labels(sentences)
    return [
        {
            "type": SEGMENT_TYPE,
            "id": f"seg_{n:03d}",
            "start": round(s.begin_ms / 1000, 3),
            "end": round(s.end_ms / 1000, 3),
            "text": " ".join(s.text.split()),
            "speaker": UNATTRIBUTED if s.speaker_id is None else labels[s.speaker_id],
        }
        for n, s in enumerate(sentences, start=1)
    ]


def render_diarized_json(t: Transcript) -> dict[str, Any]:
    """`response_format=diarized_json`: OpenAI's `TranscriptionDiarized`, usage in seconds as `json`'s."""
    return {
        "task": "transcribe",
        "duration": t.audio.duration_s,
        "text": t.text,
        "segments": diarized_segments(t),
        "usage": {"type": "duration", "seconds": billed_seconds(t.audio.duration_s)},
    }
