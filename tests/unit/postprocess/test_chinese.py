from openasr.postprocess.chinese import to_simplified


def test_traditional_becomes_simplified() -> None:
    assert to_simplified("廣州市佛地產中間協會分析") == "广州市佛地产中间协会分析"


def test_simplified_latin_and_digits_pass_through() -> None:
    assert to_simplified("Hello 世界, 电脑 123") == "Hello 世界, 电脑 123"
    assert to_simplified("Hello 世界, 電腦 123") == "Hello 世界, 电脑 123"


def test_empty_text() -> None:
    assert to_simplified("") == ""
