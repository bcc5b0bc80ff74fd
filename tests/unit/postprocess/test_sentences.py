from collections.abc import Sequence

import pytest

from openasr.core.types import Sentence, Word
from openasr.postprocess.sentences import sentences_from_segments, sentences_from_words, split_punctuation


def words_of(*spec: tuple[int, int, str]) -> list[Word]:
    return [Word(begin_ms, end_ms, text) for begin_ms, end_ms, text in spec]


def evenly(texts: Sequence[str], *, start_ms: int = 0, step_ms: int = 300) -> list[Word]:
    return [Word(start_ms + i * step_ms, start_ms + (i + 1) * step_ms, t) for i, t in enumerate(texts)]


def spoken(sentence: str) -> list[Word]:
    """Whisper-style words of an English sentence: leading space, punctuation attached."""
    return evenly([" " + w for w in sentence.split()])


def texts(sentences: Sequence[Sentence]) -> list[str]:
    return [s.text for s in sentences]


def test_spec_sample_shape() -> None:
    words = words_of(
        (320, 700, " Good"),
        (700, 1150, " morning"),
        (1150, 1710, " everyone."),
        (2050, 2400, " Let's"),
        (2400, 2980, " begin."),
    )
    first, second = sentences_from_words(words, "en")
    assert (first.sentence_id, first.begin_ms, first.end_ms) == (0, 320, 1710)
    assert first.text == "Good morning everyone."
    assert [(w.begin_ms, w.end_ms, w.text, w.punctuation) for w in first.words] == [
        (320, 700, "Good ", ""),
        (700, 1150, "morning ", ""),
        (1150, 1710, "everyone", "."),
    ]
    assert (second.sentence_id, second.begin_ms, second.end_ms) == (1, 2050, 2980)
    assert second.text == "Let's begin."
    assert first.language == second.language == "en"


def test_space_after_a_mark_goes_into_punctuation() -> None:
    (sentence,) = sentences_from_words(evenly([" Hello,", " world."]), "en")
    assert [(w.text, w.punctuation) for w in sentence.words] == [("Hello", ", "), ("world", ".")]


def test_words_and_punctuation_rebuild_the_sentence_text() -> None:
    words = evenly([" Well,", " I", " said", ' "no."', " Then", " we", " left!", " OK?"])
    sentences = sentences_from_words(words, "en")
    assert texts(sentences) == ['Well, I said "no."', "Then we left!", "OK?"]
    for s in sentences:
        assert "".join(w.text + w.punctuation for w in s.words) == s.text


def test_chinese_words_get_no_spaces() -> None:
    words = evenly(["你好", "世界。", "我们", "走吧！"])
    sentences = sentences_from_words(words, "zh", start_id=7)
    assert texts(sentences) == ["你好世界。", "我们走吧！"]
    assert [s.sentence_id for s in sentences] == [7, 8]
    assert [(w.text, w.punctuation) for w in sentences[0].words] == [("你好", ""), ("世界", "。")]


def test_mixed_chinese_english_keeps_only_real_spaces() -> None:
    (sentence,) = sentences_from_words(evenly(["我用", " Python", " 写代码。"]), "zh")
    assert sentence.text == "我用 Python 写代码。"
    assert [w.text for w in sentence.words] == ["我用 ", "Python ", "写代码"]


@pytest.mark.parametrize("mark", [".", "?", "!", "…", "。", "？", "！", "．"])
def test_every_final_mark_splits(mark: str) -> None:
    sentences = sentences_from_words(evenly([" One" + mark, " Two" + mark]), "en")
    assert texts(sentences) == ["One" + mark, "Two" + mark]


def test_clause_marks_do_not_split() -> None:
    assert texts(sentences_from_words(evenly([" one,", " two;", " three:", " four"]), "en")) == [
        "one, two; three: four"
    ]


def test_abbreviations_and_lower_case_continuations_do_not_split() -> None:
    words = spoken("Mr. Smith met Dr. Who in the U.S. Army. So... we waited.")
    assert texts(sentences_from_words(words, "en")) == [
        "Mr. Smith met Dr. Who in the U.S. Army.",
        "So... we waited.",
    ]


def test_number_with_period_ends_sentence() -> None:
    assert texts(sentences_from_words(evenly([" It", " cost", " 3.5.", " Fine."]), "en")) == [
        "It cost 3.5.",
        "Fine.",
    ]


def test_long_pause_splits_without_punctuation() -> None:
    words = words_of((0, 400, " hello"), (400, 800, " there"), (1601, 2000, " next"), (2000, 2400, " one"))
    assert texts(sentences_from_words(words, "en")) == ["hello there", "next one"]


def test_pause_at_the_limit_does_not_split() -> None:
    words = words_of((0, 400, " hello"), (1200, 1500, " there"))
    assert texts(sentences_from_words(words, "en")) == ["hello there"]
    assert texts(sentences_from_words(words, "en", max_pause_ms=300)) == ["hello", "there"]


def test_long_sentence_cut_at_largest_pause() -> None:
    first = [Word(i * 1000, i * 1000 + 900, " a") for i in range(20)]  # 100 ms gaps
    second = [Word(20_500 + i * 1000, 20_500 + i * 1000 + 1000, " b") for i in range(15)]  # 600 ms gap before
    sentences = sentences_from_words(first + second, "en")
    assert [len(s.words) for s in sentences] == [20, 15]
    assert all(s.end_ms - s.begin_ms <= 30_000 for s in sentences)


def test_long_continuous_speech_is_cut_evenly() -> None:
    words = [Word(i * 500, (i + 1) * 500, " la") for i in range(200)]  # 100 s, no pauses
    sentences = sentences_from_words(words, "en", max_sentence_s=30)
    assert sum(len(s.words) for s in sentences) == 200
    assert all(s.end_ms - s.begin_ms <= 30_000 for s in sentences)
    assert len(sentences) == 4


def test_long_speech_prefers_cutting_after_punctuation() -> None:
    texts_ = [" la"] * 30 + [" la,"] + [" la"] * 29
    words = [Word(i * 1000, (i + 1) * 1000, t) for i, t in enumerate(texts_)]
    sentences = sentences_from_words(words, "en", max_sentence_s=40)
    assert [len(s.words) for s in sentences] == [31, 29]


def test_overlapping_times_are_clamped_monotonic() -> None:
    words = words_of((0, 500, " one"), (400, 450, " two"), (900, 1000, " three."), (950, 1200, " Four."))
    sentences = sentences_from_words(words, "en")
    flat = [w for s in sentences for w in s.words]
    assert [(w.begin_ms, w.end_ms) for w in flat] == [(0, 500), (500, 500), (900, 1000), (1000, 1200)]
    assert sentences[0].end_ms <= sentences[1].begin_ms


def test_punctuation_only_words_join_the_previous_word() -> None:
    (sentence,) = sentences_from_words(evenly([" Hello", " .", " "]), "en")
    assert sentence.text == "Hello."
    assert [(w.text, w.punctuation) for w in sentence.words] == [("Hello", ".")]


def test_existing_punctuation_field_is_kept() -> None:
    words = [Word(0, 300, " Hi", punctuation=","), Word(300, 600, " you", punctuation=".")]
    (sentence,) = sentences_from_words(words, "en")
    assert sentence.text == "Hi, you."


def test_probability_is_kept() -> None:
    (sentence,) = sentences_from_words([Word(0, 100, " yes.", probability=0.75)], "en")
    assert sentence.words[0].probability == 0.75


def test_no_words() -> None:
    assert sentences_from_words([], "en") == ()


@pytest.mark.parametrize(
    ("text", "split"),
    [
        ("world.", ("world", ".")),
        ('Hi,"', ("Hi", ',"')),
        ("(laughs)", ("(laughs)", "")),
        ("(a).", ("(a)", ".")),
        ("students'", ("students'", "")),
        ("3.5", ("3.5", "")),
        ("好。", ("好", "。")),
        ("...", ("", "...")),
    ],
)
def test_split_punctuation(text: str, split: tuple[str, str]) -> None:
    assert split_punctuation(text) == split


def test_sentences_from_segments() -> None:
    segments = [(0, 2000, " Hello there. How are you?"), (1900, 3000, "  "), (2500, 4000, " Fine.")]
    sentences = sentences_from_segments(segments, "en", start_id=3)
    assert [(s.sentence_id, s.begin_ms, s.end_ms, s.text, s.words) for s in sentences] == [
        (3, 0, 2000, "Hello there. How are you?", ()),
        (4, 2500, 4000, "Fine.", ()),
    ]


def test_sentences_from_segments_clamps_overlaps() -> None:
    sentences = sentences_from_segments([(0, 2000, "a"), (1500, 1800, "b")], "en")
    assert [(s.begin_ms, s.end_ms) for s in sentences] == [(0, 2000), (2000, 2000)]
