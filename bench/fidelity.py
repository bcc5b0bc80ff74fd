"""openasr against its own engine: the full pipeline and faster-whisper on the same weights, side by side.

    python bench/fidelity.py tests/data
    python bench/fidelity.py ../shared/fixtures --joined 0
    python bench/fidelity.py DIR [--manifest FILE] [--model whisper-base] [--joined N] [--seed S] [--plain]

Every clip of the manifest runs through `openasr.pipeline.run` with the options `openasr transcribe`
uses (language detected), and through faster-whisper's `WhisperModel.transcribe` as its README shows it
(int8, beam 5, its own defaults: no VAD, temperature fallback, previous-text conditioning), on the same
bundled weights, in the same process. Its temperature fallback samples, so CTranslate2's generator is
seeded before each clip (`--seed`, default 0): a run repeats exactly, and another seed shows another draw
(the fixtures' tongue twister ranges from 52 % to 186 % CER over seeds 0-4). Both are scored with
`bench/asr_metrics.py`: error rate, words (characters) dropped and inserted. A clip is marked LOST where
openasr keeps fewer than 80 % of the reference tokens while faster-whisper keeps 95 %. Clips without a
reference (music, events) show how many tokens each system wrote: both should write none.

`--joined N` adds N files built from the manifest's English clips: 2-4 clips joined with 0.05-0.6 s gaps,
as utterances run into each other in conversation (seeded, so every run builds the same files).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import ctranslate2
import numpy as np
from asr_metrics import ErrorCount, metric_name, primary_language, score, tokens
from eval import Item, print_tables, read_manifest, short
from faster_whisper import WhisperModel

from openasr import pipeline
from openasr.audio.decode import decode_audio
from openasr.core.options import TranscribeOptions
from openasr.engines.weights import bundled_model_dir
from openasr.runtime.batcher import BatchingEngine
from openasr.runtime.engine_pool import EnginePool
from openasr.settings import Settings

RATE_HZ = 16_000
JOINED = "en (joined)"
"""The language of the joined-utterance files: scored as English, pooled on their own."""
LOST_OURS = 0.80
LOST_THEIRS = 0.95


@dataclass
class Side:
    text: str = ""
    errors: ErrorCount | None = None


@dataclass
class Row:
    item: Item
    ours: Side
    theirs: Side

    @property
    def language(self) -> str:
        return primary_language(self.item.language)

    @property
    def scored(self) -> bool:
        """Whether the manifest's language is a language (music and event clips are not)."""
        return len(self.language) in (2, 3)

    @property
    def group(self) -> str:
        """What the totals pool by: the primary language, the joined files apart."""
        return JOINED if self.item.language == JOINED else self.language

    @property
    def lost(self) -> bool:
        o, t = self.ours.errors, self.theirs.errors
        if o is None or t is None or not o.reference_tokens:
            return False
        return o.hits < LOST_OURS * o.reference_tokens and t.hits >= LOST_THEIRS * t.reference_tokens


def joined_items(items: list[Item], count: int, directory: Path, seed: int = 7) -> list[Item]:
    """`count` files of 2-4 English clips with 0.05-0.6 s of silence between them."""
    english = [i for i in items if primary_language(i.language) == "en" and i.reference]
    if count <= 0 or len(english) < 2:
        return []
    from audio_files import write_audio  # tests/ helper: PyAV encoder

    rng = random.Random(seed)
    out = []
    for n in range(count):
        picked = rng.sample(english, rng.randint(2, min(4, len(english))))
        pieces: list[np.ndarray] = []
        for k, item in enumerate(picked):
            if k:
                pieces.append(np.zeros(round(rng.uniform(0.05, 0.6) * RATE_HZ), dtype=np.float32))
            pieces.append(decode_audio(item.path))
        path = write_audio(directory / f"joined_{n:02d}.flac", np.concatenate(pieces), "flac")
        out.append(Item(path, JOINED, " ".join(i.reference or "" for i in picked)))
    return out


def run(items: list[Item], engine: BatchingEngine, reference: WhisperModel, seed: int) -> list[Row]:
    rows = []
    for item in items:
        ours = pipeline.run(item.path, TranscribeOptions(), engine).text
        ctranslate2.set_random_seed(seed)
        segments, _ = reference.transcribe(decode_audio(item.path), beam_size=5)
        theirs = " ".join(s.text.strip() for s in segments)
        row = Row(item, Side(ours), Side(theirs))
        if item.reference and row.scored:
            row.ours.errors = score(item.reference, ours, row.language)
            row.theirs.errors = score(item.reference, theirs, row.language)
        rows.append(row)
        print(f"{item.path.name}: done", file=sys.stderr)
    return rows


def _rate(e: ErrorCount | None) -> str:
    return "-" if e is None or not e.reference_tokens else f"{100 * e.rate:.1f}%"


def _cells(e: ErrorCount | None, text: str, language: str) -> list[str]:
    """Rate, dropped, inserted; for a clip with nothing to score, how many tokens were written."""
    if e is None:
        return ["-", "-", str(len(tokens(text, language)))]
    return [_rate(e), str(e.deletions), str(e.insertions)]


def render(rows: list[Row], root: Path, *, plain: bool) -> None:
    header = ["file", "lang", "metric", "openasr", "dropped", "inserted", "faster-whisper", "dropped", "inserted"]
    body = []
    for r in rows:
        name = str(r.item.path.relative_to(root)) if r.item.path.is_relative_to(root) else r.item.path.name
        metric = metric_name(r.language) if r.ours.errors else "tokens"
        counted_as = r.language if r.scored else "en"
        ours = _cells(r.ours.errors, r.ours.text, counted_as)
        theirs = _cells(r.theirs.errors, r.theirs.text, counted_as)
        body.append([name + (" LOST" if r.lost else ""), r.item.language[:12], metric, *ours, *theirs])
    totals: dict[str, list[ErrorCount]] = defaultdict(lambda: [ErrorCount(0, 0), ErrorCount(0, 0)])
    for r in rows:
        if r.ours.errors and r.theirs.errors:
            pair = totals[r.group]
            pair[0] += r.ours.errors
            pair[1] += r.theirs.errors
    total_header = [
        "language",
        "metric",
        "openasr",
        "dropped",
        "inserted",
        "faster-whisper",
        "dropped",
        "inserted",
        "Δ pp",
    ]
    total_body = []
    for language, (ours_total, theirs_total) in sorted(totals.items()):
        delta = 100 * (ours_total.rate - theirs_total.rate)
        total_body.append(
            [
                language,
                metric_name(primary_language(language)),
                f"{_rate(ours_total)} ({ours_total.edits}/{ours_total.reference_tokens})",
                str(ours_total.deletions),
                str(ours_total.insertions),
                f"{_rate(theirs_total)} ({theirs_total.edits}/{theirs_total.reference_tokens})",
                str(theirs_total.deletions),
                str(theirs_total.insertions),
                f"{delta:+.1f}",
            ]
        )
    lost = [r.item.path.name for r in rows if r.lost]
    differ = [
        [r.item.path.name, short(r.ours.text, 90), short(r.theirs.text, 90)]
        for r in rows
        if r.ours.errors and r.theirs.errors and r.ours.errors.edits != r.theirs.errors.edits
    ]
    tables = [
        ("per clip", header, body),
        ("per language (pooled)", total_header, total_body),
        ("where the two differ", ["file", "openasr", "faster-whisper"], differ),
    ]
    print_tables(tables, plain=plain)
    print(
        f"LOST (openasr < {LOST_OURS:.0%} of the reference where faster-whisper ≥ {LOST_THEIRS:.0%}): "
        f"{', '.join(lost) or 'none'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("directory", type=Path)
    parser.add_argument("--manifest", type=Path, help="default: DIR/manifest.json")
    parser.add_argument("--model", default="whisper-base")
    parser.add_argument("--joined", type=int, default=8, help="joined-utterance files built from the English clips")
    parser.add_argument("--plain", action="store_true", help="tab-separated output instead of tables")
    parser.add_argument("--seed", type=int, default=0, help="seed of faster-whisper's temperature fallback")
    args = parser.parse_args()
    root = args.directory.resolve()
    items = read_manifest(args.manifest or root / "manifest.json", root)
    settings = Settings()
    engine = EnginePool(settings.cache_dir, settings.engine_config()).get(args.model)
    reference = WhisperModel(str(bundled_model_dir(args.model, settings.cache_dir)), device="cpu", compute_type="int8")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            rows = run(items + joined_items(items, args.joined, Path(tmp)), engine, reference, args.seed)
            render(rows, root, plain=args.plain)
    finally:
        engine.close()


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    main()
