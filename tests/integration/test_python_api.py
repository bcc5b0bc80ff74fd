"""The library API against the CLI on real clips: `openasr.transcribe` gives the JSON of
`openasr transcribe FILE --format json` (same flags), from a path or from bytes; `transcribe_stream`
yields the same sentences; `import openasr` loads nothing heavy; the public names are pinned."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import openasr
import openasr.audio.decode
import openasr.core.options
import openasr.pipeline.transcription
from openasr.postprocess.formats import render
from speech_clips import clip

pytestmark = pytest.mark.usefixtures("engine")  # weights assembled and verified before the first call

ENGLISH, CHINESE = clip("0880"), clip("BAC009S0724W0121")


@pytest.fixture(scope="module", autouse=True)
def release_engine() -> Iterator[None]:
    yield
    openasr.close()


def cli_json(*args: str | Path) -> list[dict[str, Any]]:
    result = subprocess.run(
        ["openasr", "transcribe", *map(str, args), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def api_json(transcript: openasr.Transcript) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(render(transcript, "json"))
    return document


def test_transcribe_gives_the_cli_json_from_a_path_and_from_bytes() -> None:
    english, chinese = cli_json(ENGLISH.path, CHINESE.path, "--words")
    assert api_json(openasr.transcribe(ENGLISH.path, words=True)) == english
    assert api_json(openasr.transcribe(str(CHINESE.path), words=True)) == chinese
    assert api_json(openasr.transcribe(CHINESE.path.read_bytes(), words=True)) == chinese
    assert english["transcripts"][0]["sentences"][0]["words"]


def test_options_reach_the_pipeline_as_the_cli_passes_them() -> None:
    (expected,) = cli_json(CHINESE.path, "--language", "zh", "--itn", "--context", "北京 上海")
    got = openasr.transcribe(CHINESE.path, language="zh", itn=True, context="北京 上海")
    assert api_json(got) == expected
    assert got.options.itn and got.options.language == "zh"


def test_transcribe_stream_yields_the_sentences_of_transcribe() -> None:
    streamed = list(openasr.transcribe_stream(ENGLISH.path, words=True))
    assert streamed and streamed == list(openasr.transcribe(ENGLISH.path, words=True).channels[0].sentences)


def test_a_call_probes_validates_and_checks_the_engine_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The stages run once per call, as for a sync request (tests/contract/test_stage_counts.py)."""
    calls: Counter[str] = Counter()
    for module, name in (
        (openasr.audio.decode, "probe_audio"),
        (openasr.core.options, "validate_options"),
        (openasr.pipeline.transcription, "check_engine"),
    ):
        monkeypatch.setattr(module, name, counting(calls, name, getattr(module, name)))
    assert openasr.transcribe(ENGLISH.path, language="en").text
    assert calls == {"probe_audio": 1, "validate_options": 1, "check_engine": 1}


def counting(calls: Counter[str], name: str, real: Callable[..., Any]) -> Callable[..., Any]:
    def counted(*args: Any, **kwargs: Any) -> Any:
        calls[name] += 1
        return real(*args, **kwargs)

    return counted


def test_bad_input_raises_the_documented_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"not audio at all")
    with pytest.raises(openasr.AsrError) as caught:
        openasr.transcribe(junk)
    assert caught.value.http_status == 400


def test_import_is_cheap_and_the_public_names_are_pinned() -> None:
    probe = (
        "import sys, openasr; print(sorted(m for m in ('numpy', 'fastapi', 'av', 'ctranslate2') if m in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"
    assert sorted(openasr.__all__) == [
        "AsrError",
        "Sentence",
        "Transcript",
        "Word",
        "__version__",
        "close",
        "transcribe",
        "transcribe_stream",
    ]
    assert (Path(openasr.__file__).parent / "py.typed").is_file()
