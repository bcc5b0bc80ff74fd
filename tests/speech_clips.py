"""The committed speech clips of `tests/data/manifest.json`, with their human references."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = ROOT / "tests" / "data"


@dataclass(frozen=True)
class Clip:
    path: Path
    language: str
    reference: str

    @property
    def name(self) -> str:
        return self.path.stem


def load_clips(language: str | None = None) -> list[Clip]:
    manifest = json.loads((DATA_DIR / "manifest.json").read_text(encoding="utf-8"))
    clips = [Clip(DATA_DIR / c["file"], c["language"], c["reference"]) for c in manifest["clips"]]
    return [c for c in clips if language is None or c.language == language]


def clip(name: str) -> Clip:
    """The clip whose file stem is `name` or ends with it ("0880" -> sense_and_sensibility_…-0880)."""
    return next(c for c in load_clips() if c.name == name or c.name.endswith(name))
