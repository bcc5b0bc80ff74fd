"""Accuracy of the full openasr pipeline over a directory of clips with reference transcripts.

    python bench/eval.py tests/data
    python bench/eval.py /work/shared/fixtures --manifest /work/shared/fixtures/manifest.json
    python bench/eval.py DIR [--model whisper-base] [--language-forced] [--plain]

Each clip runs through `openasr.pipeline.run` exactly as `openasr transcribe` would run it (language
detected unless `--language-forced` passes the reference language), then is scored with the
normalisation of `bench/asr_metrics.py` (the one the tests use): CER for unspaced languages (zh, yue,
ja, ko, th …), WER otherwise. Clips without a reference, or whose "language" is not a language (music,
event), are listed with the detected language and whether any text came out, but not scored.

Two manifest shapes are read:
- `{"clips": [{"file", "language", "reference"}, ...]}` (tests/data/manifest.json);
- `[{"dest", "lang", "ref", ...}, ...]` (the shared fixtures manifest; `ref` may be null).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from asr_metrics import ErrorCount, metric_name, primary_language, score

from openasr import pipeline
from openasr.core.errors import AsrError
from openasr.core.options import TranscribeOptions
from openasr.engines.base import Engine
from openasr.runtime.engine_pool import EnginePool
from openasr.settings import Settings

_LANGUAGE_CODE = re.compile(r"^[a-z]{2,3}$")


@dataclass(frozen=True)
class Item:
    path: Path
    language: str
    """As the manifest gives it: "en", "zh (Sichuanese dialect)", "music", "event" …"""
    reference: str | None


@dataclass
class Row:
    item: Item
    detected: str = ""
    probability: float | None = None
    hypothesis: str = ""
    errors: ErrorCount | None = None
    seconds: float = 0.0
    audio_s: float = 0.0
    failure: str = ""

    @property
    def reference_language(self) -> str | None:
        code = primary_language(self.item.language)
        return code if _LANGUAGE_CODE.match(code) else None


@dataclass
class Totals:
    errors: ErrorCount = field(default_factory=lambda: ErrorCount(0, 0))
    clips: int = 0
    language_hits: int = 0
    language_checked: int = 0


def read_manifest(manifest: Path, root: Path) -> list[Item]:
    data = json.loads(manifest.read_text(encoding="utf-8"))
    entries = data["clips"] if isinstance(data, dict) else data
    items = []
    for e in entries:
        file = e.get("file") or e.get("dest")
        language = e.get("language") or e.get("lang") or ""
        reference = e.get("reference", e.get("ref"))
        items.append(Item(root / file, language, reference or None))
    return items


def evaluate(item: Item, engine: Engine, *, force_language: bool) -> Row:
    row = Row(item)
    forced = None
    if force_language and row.reference_language in engine.capabilities.languages:
        forced = row.reference_language
    started = time.perf_counter()
    try:
        transcript = pipeline.run(item.path, TranscribeOptions(language=forced, sentences=False), engine)
    except AsrError as exc:
        row.failure = f"{exc.task_code}: {exc.message}"
        return row
    row.seconds = time.perf_counter() - started
    row.audio_s = transcript.audio.duration_s
    row.hypothesis = transcript.text
    row.detected = transcript.language
    row.probability = transcript.channels[0].language_probability if transcript.channels else None
    if item.reference and row.reference_language:
        row.errors = score(item.reference, row.hypothesis, row.reference_language)
    return row


def summarize(rows: list[Row]) -> tuple[dict[str, Totals], dict[str, Totals]]:
    """Pooled totals per reference language and per metric (WER, CER)."""
    by_language: dict[str, Totals] = defaultdict(Totals)
    by_metric: dict[str, Totals] = defaultdict(Totals)
    for row in rows:
        language = row.reference_language
        if language is None:
            continue
        for totals in (by_language[language], by_metric[metric_name(language)]):
            if row.errors is not None:
                totals.errors += row.errors
                totals.clips += 1
            if row.detected and row.probability is not None:  # detected, not forced
                totals.language_checked += 1
                totals.language_hits += row.detected == language
    return dict(sorted(by_language.items())), dict(sorted(by_metric.items()))


def _percent(errors: ErrorCount | None) -> str:
    return "-" if errors is None or errors.reference_tokens == 0 else f"{100 * errors.rate:.1f}%"


def short(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _clip_rows(rows: list[Row], root: Path) -> list[list[str]]:
    out = []
    for row in rows:
        detected = row.detected + (f" {row.probability:.2f}" if row.probability is not None else "")
        if row.failure:
            result, text = "error", row.failure
        elif row.errors is None:
            result, text = ("text" if row.hypothesis.strip() else "no text"), row.hypothesis
        else:
            result, text = f"{metric_name(row.item.language)} {_percent(row.errors)}", row.hypothesis
        rtf = f"{row.seconds / row.audio_s:.2f}" if row.audio_s else "-"
        name = str(row.item.path.relative_to(root)) if row.item.path.is_relative_to(root) else str(row.item.path)
        out.append(
            [
                name,
                row.item.language,
                detected,
                result,
                f"{row.errors.edits}/{row.errors.reference_tokens}" if row.errors else "",
                rtf,
                short(text),
            ]
        )
    return out


def _total_rows(totals: dict[str, Totals], *, per_language: bool) -> list[list[str]]:
    out = []
    for key, t in totals.items():
        lid = f"{t.language_hits}/{t.language_checked}" if t.language_checked else "-"
        cells = [
            str(t.clips),
            f"{t.errors.edits}/{t.errors.reference_tokens}",
            _percent(t.errors) if t.clips else "-",
            lid,
        ]
        out.append([key, metric_name(key), *cells] if per_language else [key, *cells])
    return out


def render(rows: list[Row], root: Path, *, plain: bool, title: str) -> None:
    clip_header = ["file", "ref lang", "detected (p)", "score", "edits/ref", "RTF", "hypothesis"]
    total_header_lang = ["language", "metric", "scored clips", "edits/ref", "rate", "LID ok"]
    total_header_metric = ["metric", "scored clips", "edits/ref", "rate", "LID ok"]
    by_language, by_metric = summarize(rows)
    tables = [
        (title, clip_header, _clip_rows(rows, root)),
        ("per language (pooled)", total_header_lang, _total_rows(by_language, per_language=True)),
        ("overall (pooled per metric)", total_header_metric, _total_rows(by_metric, per_language=False)),
    ]
    print_tables(tables, plain=plain)


Tables = list[tuple[str, list[str], list[list[str]]]]
"""(title, header, rows) per table."""


def print_tables(tables: Tables, *, plain: bool) -> None:
    """Rich tables on a terminal, tab-separated text with `plain` (for files and diffs)."""
    if plain:
        for name, header, body in tables:
            print(f"\n{name}")
            print("\t".join(header))
            for line in body:
                print("\t".join(line))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console(width=200)
    for name, header, body in tables:
        table = Table(*header, title=name, title_justify="left")
        for line in body:
            table.add_row(*line)
        console.print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("directory", type=Path, help="directory the manifest's paths are relative to")
    parser.add_argument("--manifest", type=Path, help="default: DIRECTORY/manifest.json")
    parser.add_argument("--model", default="whisper-base")
    parser.add_argument(
        "--language-forced", action="store_true", help="pass each clip's reference language instead of detecting it"
    )
    parser.add_argument("--plain", action="store_true", help="tab-separated tables instead of rich ones")
    args = parser.parse_args(argv)
    root = args.directory.resolve()
    items = read_manifest((args.manifest or root / "manifest.json").resolve(), root)
    settings = Settings()
    try:
        engine = EnginePool(settings.cache_dir, settings.engine_config()).get(args.model)
    except AsrError as exc:
        print(f"error: {exc.task_code}: {exc.message}", file=sys.stderr)
        return 1
    rows = [evaluate(item, engine, force_language=args.language_forced) for item in items]
    mode = "forced language" if args.language_forced else "detected language"
    render(rows, root, plain=args.plain, title=f"{args.model} on {root} ({mode})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
