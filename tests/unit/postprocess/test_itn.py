from pathlib import Path
from types import SimpleNamespace

import pytest

from openasr.core.errors import ModelUnavailableError
from openasr.postprocess import itn


@pytest.mark.parametrize(
    ("spoken", "written"),
    [
        ("二零二三年三月五日", "2023/03/05"),  # WeTextProcessing's documented date form
        ("一百二十三", "123"),
        ("百分之五十", "50%"),
        ("负三点一四", "-3.14"),
        ("三分之一", "1/3"),
        ("下午三点半", "3:30p.m."),
        ("今天是二零二三年三月五日，我买了三个苹果。", "今天是2023/03/05，我买了三个苹果。"),
        ("他有5个苹果", "他有5个苹果"),
        ("hello 世界 二十", "hello 世界 20"),
        ("一百。\n\n二百！三百", "100。\n\n200！300"),  # normalised sentence by sentence
        ('[a] "引号" \\ 一百', '[a] "引号" \\ 100'),
    ],
)
def test_chinese(spoken: str, written: str) -> None:
    assert itn.apply_itn(spoken, "zh") == written


@pytest.mark.parametrize(
    ("spoken", "written"),
    [
        ("I have twenty three apples", "I have 23 apples"),
        ("two thousand and twenty six", "2026"),
        ("Two thousand and twenty six.", "2026."),
        ("It costs one hundred and five dollars, right?", "It costs 105 dollars, right?"),
        ("three point five", "3.5"),
        ("One day I met a man.", "One day I met a man."),
        ("I have 23 apples", "I have 23 apples"),
    ],
)
def test_english(spoken: str, written: str) -> None:
    assert itn.apply_itn(spoken, "en") == written


def test_region_subtag_is_ignored() -> None:
    assert itn.apply_itn("一百二十三", "zh-CN") == "123"
    assert itn.apply_itn("twenty three", "en_US") == "23"


@pytest.mark.parametrize("language", ["zh", "en", "fr"])
@pytest.mark.parametrize("text", ["", "   ", "2023 123"])
def test_empty_and_written_text_unchanged(text: str, language: str) -> None:
    assert itn.apply_itn(text, language) == text


def test_other_languages_unchanged() -> None:
    assert itn.apply_itn("vingt trois pommes", "fr") == "vingt trois pommes"
    assert itn.apply_itn("一百二十三", "ja") == "一百二十三"


def test_missing_fst_names_the_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake_spec = SimpleNamespace(submodule_search_locations=[str(tmp_path)])
    monkeypatch.setattr(itn.importlib.util, "find_spec", lambda name: fake_spec)
    itn._load_chinese_itn.cache_clear()
    try:
        with pytest.raises(ModelUnavailableError, match=r"WeTextProcessing==1\.2\.0.*--no-deps"):
            itn.apply_itn("一百", "zh")
    finally:
        itn._load_chinese_itn.cache_clear()


def test_missing_package_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(itn.importlib.util, "find_spec", lambda name: None)
    itn._load_chinese_itn.cache_clear()
    try:
        with pytest.raises(ModelUnavailableError, match="WeTextProcessing"):
            itn.apply_itn("一百", "zh")
    finally:
        itn._load_chinese_itn.cache_clear()


def test_unreadable_fst(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("zh_itn_tagger.fst", "zh_itn_verbalizer.fst"):
        (tmp_path / name).write_bytes(b"not an fst")

    fake_spec = SimpleNamespace(submodule_search_locations=[str(tmp_path)])
    monkeypatch.setattr(itn.importlib.util, "find_spec", lambda name: fake_spec)
    itn._load_chinese_itn.cache_clear()
    try:
        with pytest.raises(ModelUnavailableError, match="unreadable"):
            itn.apply_itn("一百", "zh")
    finally:
        itn._load_chinese_itn.cache_clear()


def _upstream_cases() -> list[tuple[str, str]]:
    """WeTextProcessing's own test sentences that its prebuilt FSTs (default options) must pass."""
    spec = itn.importlib.util.find_spec("itn")
    if spec is None or not spec.submodule_search_locations:
        return []
    data = Path(next(iter(spec.submodule_search_locations))) / "chinese" / "test" / "data"
    names = ["char", "date", "fraction", "math", "money", "time", "whitelist", "license_plate"]
    names.append("normalizer_enable_standalone_number_disable_0_to_9")
    cases: list[tuple[str, str]] = []
    for name in names:
        path = data / f"{name}.txt"
        if path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                spoken, _, written = line.partition("=>")
                cases.append((spoken.strip(), written.strip()))
    return cases


@pytest.mark.parametrize(("spoken", "written"), _upstream_cases())
def test_chinese_matches_wetextprocessing_test_data(spoken: str, written: str) -> None:
    assert itn.apply_itn(spoken, "zh") == written
