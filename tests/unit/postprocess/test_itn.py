import sys

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


def test_missing_runtime_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "wetext", None)  # makes `import wetext` raise ImportError
    itn._load_chinese_itn.cache_clear()
    try:
        with pytest.raises(ModelUnavailableError, match=r"wetext==0\.1\.8"):
            itn.apply_itn("一百", "zh")
    finally:
        itn._load_chinese_itn.cache_clear()
