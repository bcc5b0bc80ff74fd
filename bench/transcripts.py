"""Dump every file's transcript (text, language, sentences and words with their times) as JSON, so two
trees can be compared for "no behaviour change":

    PYTHONPATH=OLD/src python bench/transcripts.py old.json tests/data ../shared/fixtures
    PYTHONPATH=NEW/src python bench/transcripts.py new.json tests/data ../shared/fixtures
    cmp old.json new.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import openasr

AUDIO_SUFFIXES = {".wav", ".flac", ".mp3", ".m4a", ".ogg", ".opus", ".webm", ".mp4"}


def projection(path: Path) -> dict[str, object]:
    try:
        t = openasr.transcribe(str(path), words=True)
    except openasr.AsrError as exc:
        return {"error": f"{exc.code}: {exc.message}"}
    sentences = [
        [s.sentence_id, s.begin_ms, s.end_ms, s.text, s.language, [[w.begin_ms, w.end_ms, w.text] for w in s.words]]
        for c in t.channels
        for s in c.sentences
    ]
    return {"text": t.text, "language": t.language, "sentences": sentences}


def main(out: str, *roots: str) -> None:
    files = sorted(p for root in roots for p in Path(root).rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)
    result = {}
    for path in files:
        result[str(path)] = projection(path)
        print(path, file=sys.stderr)
    Path(out).write_text(json.dumps(result, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main(*sys.argv[1:])
