"""`openasr transcribe` and `openasr models` run as a user runs them: the installed console script in a
subprocess, real files, the bundled model; stdout parsed, stderr and exit codes checked."""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from asr_metrics import score

from audio_files import load_clip, write_audio, write_video_only
from speech_clips import clip

pytestmark = pytest.mark.usefixtures("engine")  # weights assembled and verified before the first call

_TIMESTAMP = r"(\d\d):(\d\d):(\d\d)[,.](\d\d\d)"


def openasr(*args: str | Path, columns: int | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if columns is not None:
        env["COLUMNS"] = str(columns)
    return subprocess.run(
        ["openasr", *map(str, args)], capture_output=True, text=True, timeout=600, env=env, check=False
    )


def ok(*args: str | Path) -> str:
    result = openasr(*args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _ms(match: tuple[str, ...]) -> int:
    h, m, s, ms = map(int, match)
    return ((h * 60 + m) * 60 + s) * 1000 + ms


def test_json_output_has_text_sentences_and_language_for_each_file() -> None:
    english, chinese = clip("0880"), clip("BAC009S0724W0121")
    lines = ok("transcribe", english.path, chinese.path, "--format", "json").splitlines()
    documents = [json.loads(line) for line in lines if line.strip()]
    assert [d["language"] for d in documents] == ["en", "zh"]
    for document, source in zip(documents, (english, chinese), strict=True):
        (channel,) = document["transcripts"]
        assert score(source.reference, channel["text"], source.language).rate <= 0.2
        assert channel["sentences"] and all("words" not in s for s in channel["sentences"])
        assert "".join(s["text"] for s in channel["sentences"]).replace(" ", "") == channel["text"].replace(" ", "")
        assert document["audio_info"] == {"format": "wav", "sample_rate": 16000}


def test_words_flag_adds_timed_words_that_spell_each_sentence() -> None:
    document = json.loads(ok("transcribe", clip("0880").path, "--format", "json", "--words"))
    sentences = document["transcripts"][0]["sentences"]
    assert sentences, document
    for sentence in sentences:
        words = sentence["words"]
        assert words
        assert "".join(w["text"] + w["punctuation"] for w in words) == sentence["text"]
        times = [(w["begin_time"], w["end_time"]) for w in words]
        assert all(b <= e for b, e in times)
        assert all(e1 <= b2 for (_, e1), (b2, _) in itertools.pairwise(times))
        assert sentence["begin_time"] <= times[0][0] and times[-1][1] <= sentence["end_time"]


@pytest.mark.parametrize("fmt", ["srt", "vtt"])
def test_subtitles_are_valid_cues_written_to_the_output_directory(fmt: str, tmp_path: Path) -> None:
    source = clip("beckett")  # six short sentences with pauses between them
    result = openasr("transcribe", source.path, "--format", fmt, "--output-dir", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    target = tmp_path / "out" / f"{source.path.stem}.{fmt}"
    assert str(target) in result.stderr.replace("\n", "")
    body = target.read_text(encoding="utf-8")
    if fmt == "vtt":
        assert body.startswith("WEBVTT\n\n")
        body = body.removeprefix("WEBVTT\n\n")
    blocks = [b.splitlines() for b in body.strip().split("\n\n")]
    assert len(blocks) >= 2  # Beckett's pauses; whether Whisper marks them with commas or stops varies by CPU
    previous_end = -1
    for i, block in enumerate(blocks, start=1):
        if fmt == "srt":
            assert block[0] == str(i)
            block = block[1:]
        separator = "," if fmt == "srt" else r"\."
        match = re.fullmatch(rf"{_TIMESTAMP} --> {_TIMESTAMP}".replace("[,.]", separator), block[0])
        assert match, block[0]
        begin, end = _ms(match.groups()[:4]), _ms(match.groups()[4:])
        assert previous_end <= begin < end
        previous_end = end
        assert block[1].strip() and len(block) == 2
    text = " ".join(b[-1] for b in blocks)
    assert score(source.reference, text, "en").rate <= 0.1


@pytest.fixture(scope="module")
def stereo_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Left: "he was not an ill disposed young man"; right: "he might even have been made amiable himself"."""
    left, right = load_clip(clip("0880").path), load_clip(clip("0930").path)
    n = max(len(left), len(right))
    planes = np.zeros((2, n), dtype=np.float32)
    planes[0, : len(left)], planes[1, : len(right)] = left, right
    return write_audio(tmp_path_factory.mktemp("stereo") / "two_speakers.wav", planes, "wav")


def test_channel_option_transcribes_each_requested_channel_on_its_own(stereo_file: Path) -> None:
    second = json.loads(ok("transcribe", stereo_file, "--channel", "1", "--format", "json"))
    (channel,) = second["transcripts"]
    assert channel["channel_id"] == 1
    assert score(clip("0930").reference, channel["text"], "en").rate <= 0.1
    assert score(clip("0880").reference, channel["text"], "en").rate >= 0.5

    both = json.loads(ok("transcribe", stereo_file, "--channel", "0", "--channel", "1", "--format", "json"))
    assert [c["channel_id"] for c in both["transcripts"]] == [0, 1]
    assert score(clip("0880").reference, both["transcripts"][0]["text"], "en").rate <= 0.1
    assert both["transcripts"][1]["text"] == channel["text"]


def _one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def test_missing_channel_is_a_clean_error(stereo_file: Path) -> None:
    line = _one_line_error(openasr("transcribe", stereo_file, "--channel", "5"))
    assert "INVALID_CHANNEL" in line and "channel 5" in line and "2 channel" in line


def _bad_input(kind: str, directory: Path) -> Path:
    path = (
        directory
        / {
            "random": "noise.mp3",
            "truncated": "cut.mp3",
            "empty": "empty.wav",
            "text": "notes.txt",
            "video": "silent.mp4",
            "missing": "nowhere.flac",
        }[kind]
    )
    if kind == "random":
        path.write_bytes(np.random.default_rng(7).bytes(50_000))
    elif kind == "truncated":
        data = write_audio(directory / "full.mp3", load_clip(clip("two_cities").path), "mp3").read_bytes()
        path.write_bytes(data[: len(data) // 4])
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("Minutes of the meeting\n\n1. budget\n2. hiring\n", encoding="utf-8")
    elif kind == "video":
        write_video_only(path, "mp4")
    return path


@pytest.mark.parametrize(
    ("kind", "phrase"),
    [
        ("random", "not a readable audio or video file"),
        ("truncated", "truncated"),
        ("empty", "empty"),
        ("text", "not a readable audio or video file"),
        ("video", "no audio stream"),
        ("missing", "does not exist"),
    ],
)
def test_broken_input_is_a_one_line_error(kind: str, phrase: str, tmp_path: Path) -> None:
    line = _one_line_error(openasr("transcribe", _bad_input(kind, tmp_path)))
    assert "DECODE_ERROR" in line and phrase in line


def test_unknown_model_is_a_one_line_error() -> None:
    line = _one_line_error(openasr("transcribe", clip("0880").path, "--model", "whisper-gigantic"))
    assert "MODEL_NOT_FOUND" in line and "whisper-gigantic" in line


def test_itn_writes_spoken_numbers_as_digits() -> None:
    """cards_003 is "seven of clubs"; with the context "clubs" whisper-base spells the number out."""
    source = clip("cards_003")
    spoken = ok("transcribe", source.path, "--context", "clubs").strip()
    written = ok("transcribe", source.path, "--context", "clubs", "--itn").strip()
    assert "seven" in spoken.lower() and "7" not in spoken
    assert "7" in written and "seven" not in written.lower()
    assert score(source.reference, written, "en").edits == score(source.reference, spoken, "en").edits


def test_models_lists_both_bundled_models_as_ready_and_says_emotion_is_unavailable() -> None:
    # Wide terminal: with rich's default 80 columns for a pipe, the table truncates model names
    # ("whisper-tin…"); reported as a CLI bug.
    result = openasr("models", columns=250)
    assert result.returncode == 0, result.stderr
    rows: dict[str, Any] = {}
    for line in result.stdout.splitlines():
        cells = [c.strip() for c in re.split(r"[│┃]", line)[1:-1]]
        if cells and cells[0] in ("whisper-base", "whisper-tiny.en"):
            rows[cells[0]] = cells
    assert set(rows) == {"whisper-base", "whisper-tiny.en"}
    for cells in rows.values():
        assert cells[1] == "ready"
        assert "emotion" in cells[-1]
    assert "language identification" in rows["whisper-base"][4]
    assert "language identification" not in rows["whisper-tiny.en"][4]
    assert "translation (English-only model)" in rows["whisper-tiny.en"][-1]
