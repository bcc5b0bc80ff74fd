"""The Whisper engine behind the `BatchingEngine` protocol, with both bundled models on real clips: declared
capabilities, language codes, prompts within the window, chunk-relative results, language ID."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from asr_metrics import score
from tokenizers import Tokenizer

from audio_files import load_clip
from openasr import pipeline
from openasr.core.errors import InvalidParameterError
from openasr.core.options import TranscribeOptions
from openasr.engines.base import RecognitionItem, RecognitionRequest
from openasr.engines.weights import bundled_model_dir
from openasr.engines.whisper import WhisperEngine, service_language
from openasr.engines.whisper_no_speech import no_speech_rule
from openasr.runtime.batcher import BatchingEngine
from openasr.runtime.engine_pool import EnginePool
from speech_clips import clip


@pytest.fixture(scope="module")
def tiny_en(engine_pool: EnginePool) -> BatchingEngine:
    return engine_pool.get("whisper-tiny.en")


def test_the_pool_loads_each_model_once(engine_pool: EnginePool, engine: BatchingEngine) -> None:
    assert engine_pool.get("whisper-base") is engine
    assert engine_pool.is_loaded("whisper-base")


def test_multilingual_capabilities(engine: BatchingEngine) -> None:
    caps = engine.capabilities
    assert {"en", "zh", "yue", "ja", "ko", "de", "fr", "fil", "no"} <= caps.languages
    assert "tl" not in caps.languages  # reported in the service's codes
    assert caps.language_id and caps.word_timestamps and caps.context_biasing
    assert not caps.emotion
    assert caps.max_chunk_s == 30.0
    assert caps.max_prompt_tokens == 223  # Whisper's 448-token window // 2 - 1
    assert caps.concurrent_calls >= 1


def test_english_only_model_declares_what_it_cannot_do(tiny_en: BatchingEngine) -> None:
    assert tiny_en.capabilities.languages == frozenset({"en"})
    assert not tiny_en.capabilities.language_id
    assert not tiny_en.capabilities.translation and "translation" in tiny_en.capabilities.why_not
    translate = TranscribeOptions(model="whisper-tiny.en", task="translate")
    with pytest.raises(InvalidParameterError) as refused:
        pipeline.run(clip("0880").path, translate, tiny_en)
    assert refused.value.param == "model" and "cannot translate" in refused.value.message
    (guess,) = tiny_en.recognize([RecognitionItem(load_clip(clip("BAC009S0724W0121").path), RecognitionRequest(None))])
    assert (guess.language, guess.language_probability) == ("en", 1.0)
    with pytest.raises(InvalidParameterError) as raised:
        pipeline.run(clip("0880").path, TranscribeOptions(model="whisper-tiny.en", language="zh"), tiny_en)
    assert raised.value.param == "language"


@pytest.fixture(scope="module")
def whisper(engine: BatchingEngine) -> WhisperEngine:
    assert isinstance(engine.inner, WhisperEngine)
    return engine.inner


def _han(text: str) -> int:
    return sum("\u4e00" <= ch <= "\u9fff" for ch in text)


def test_a_multilingual_model_translates_speech_to_english(engine: BatchingEngine) -> None:
    """Whisper's own translate task: Mandarin speech gives English text (no Han characters, where the
    transcription is all Han), reported as `en`; English speech gives about its own words."""
    assert engine.capabilities.translation
    mandarin, english = (load_clip(clip(name).path) for name in ("BAC009S0768W0290", "0870"))
    translated, transcribed = engine.recognize(
        [RecognitionItem(mandarin, RecognitionRequest(None, task=task)) for task in ("translate", "transcribe")]
    )
    text = " ".join(s.text for s in translated.segments)
    assert (translated.language, translated.language_probability) == ("en", None)
    assert _han(text) == 0 and sum(ch.isalpha() for ch in text) >= 10
    assert transcribed.language == "zh" and _han(" ".join(s.text for s in transcribed.segments)) >= 10
    (same,) = engine.recognize([RecognitionItem(english, RecognitionRequest(None, task="translate"))])
    assert score(clip("0870").reference, " ".join(s.text for s in same.segments), "en").rate <= 0.25


def test_segments_carry_the_decoders_own_numbers(engine: BatchingEngine, cache_dir: Path) -> None:
    """Each segment's tokens are the ones its text was decoded from, with its window's numbers."""
    tokenizer = Tokenizer.from_file(str(bundled_model_dir("whisper-base", cache_dir) / "tokenizer.json"))
    (result,) = engine.recognize([RecognitionItem(load_clip(clip("cards_005").path), RecognitionRequest("en"))])
    assert result.segments
    for segment in result.segments:
        stats = segment.decoder
        assert stats is not None and stats.temperature == 0.0
        text_tokens = [t for t in stats.tokens if t < 50257]  # below the special and timestamp tokens
        assert tokenizer.decode(text_tokens).strip() == segment.text.strip()
        assert -5 < stats.avg_logprob < 0 and 0 <= stats.no_speech_prob <= 1 and stats.compression_ratio > 0


def test_language_codes_map_between_whisper_and_the_service(whisper: WhisperEngine) -> None:
    assert [service_language(c) for c in ("tl", "nn", "jw", "en")] == ["fil", "no", "jv", "en"]
    assert whisper.whisper_language("fil") == "tl"
    assert whisper.whisper_language("yue") == "zh"  # base has no Cantonese token: transcribed as Chinese
    assert whisper.whisper_language("zh") == "zh"
    samples = load_clip(clip("BAC009S0724W0121").path)
    as_cantonese, as_mandarin = whisper.recognize(
        [RecognitionItem(samples, RecognitionRequest(language=code)) for code in ("yue", "zh")]
    )
    assert as_cantonese.segments and as_cantonese.language == "yue"  # the caller's language, not Whisper's
    assert [s.text for s in as_cantonese.segments] == [s.text for s in as_mandarin.segments]
    with pytest.raises(InvalidParameterError) as raised:
        whisper.whisper_language("xx")
    assert raised.value.param == "language"


def test_prompts_keep_the_context_and_fit_the_window(whisper: WhisperEngine, cache_dir: Path) -> None:
    engine = whisper
    assert engine.build_prompt("") == ""
    assert engine.build_prompt("  Dashwood, Norland Park ") == "Dashwood, Norland Park"
    assert engine.build_prompt("房地产中介协会") == "房地产中介协会"  # no hint: the wording is the model's
    glossary = " ".join(f"term{i}" for i in range(1000))
    prompt = engine.build_prompt(glossary)
    assert glossary.startswith(prompt) and prompt.startswith("term0 term1 term2")
    tokenizer = Tokenizer.from_file(str(bundled_model_dir("whisper-base", cache_dir) / "tokenizer.json"))
    tokens = tokenizer.encode(" " + prompt, add_special_tokens=False).ids
    assert engine.capabilities.max_prompt_tokens - 10 <= len(tokens) <= engine.capabilities.max_prompt_tokens


def test_recognize_returns_chunk_relative_segments_for_each_chunk(engine: BatchingEngine) -> None:
    first, second = load_clip(clip("0880").path), load_clip(clip("cards_005").path)
    with_words, without = (
        engine.recognize([RecognitionItem(s, RecognitionRequest(language="en", words=words)) for s in (first, second)])
        for words in (True, False)
    )
    assert len(with_words) == len(without) == 2
    for result, samples, reference in zip(
        with_words, (first, second), (clip("0880").reference, clip("cards_005").reference), strict=True
    ):
        segments = result.segments
        duration = len(samples) / 16_000
        assert segments
        assert all(0 <= s.start_s <= s.end_s <= duration + 0.05 for s in segments)
        words = [w for s in segments for w in s.words]
        assert words and all(0 <= w.start_s <= w.end_s <= duration + 0.05 for w in words)
        assert all(0 <= w.probability <= 1 for w in words)
        assert score(reference, " ".join(s.text for s in segments), "en").rate <= 0.25
    assert all(not s.words for result in without for s in result.segments)
    assert [s.text for s in with_words[0].segments] == [s.text for s in without[0].segments]


def test_language_is_identified_while_recognising(engine: BatchingEngine) -> None:
    """Each chunk of a batch detects its own language from the encoder output that decodes it, and its
    text is what forcing that language gives."""
    samples = [load_clip(clip(name).path) for name in ("0870", "BAC009S0768W0290")]
    english, chinese = engine.recognize([RecognitionItem(s, RecognitionRequest(language=None)) for s in samples])
    assert english.language == "en" and (english.language_probability or 0) > 0.9
    assert chinese.language == "zh" and (chinese.language_probability or 0) > 0.9
    requests = [RecognitionRequest(language="en"), RecognitionRequest(language="zh")]
    forced = engine.recognize([RecognitionItem(s, r) for s, r in zip(samples, requests, strict=True)])
    assert [r.segments for r in forced] == [english.segments, chinese.segments]
    assert all(r.language_probability is None for r in forced)


def test_each_phrase_of_chinese_ends_on_a_comma(engine: BatchingEngine) -> None:
    """Unprompted, Whisper ends a Chinese segment (a phrase) on no mark: the engine writes the comma there,
    in the text and on its last word; other languages keep Whisper's own punctuation."""
    samples = [load_clip(clip(name).path) for name in ("BAC009S0768W0290", "0870")]
    chinese, english = engine.recognize(
        [RecognitionItem(s, RecognitionRequest(language=None, words=True)) for s in samples]
    )
    assert chinese.language == "zh" and chinese.segments
    for segment in chinese.segments:
        assert segment.text.endswith("，") and segment.words[-1].text.endswith("，")
        assert "".join(w.text for w in segment.words).strip() == segment.text.strip()
    assert english.language == "en" and not any("，" in s.text for s in english.segments)


@pytest.mark.parametrize(
    ("what", "no_speech_prob", "avg_logprob", "heard_s", "dropped"),
    [  # windows measured on tests/data and the fixtures (bench/fidelity.py's corpora)
        ("a-cappella singing: 'Thank you very much.'", 0.52, -1.03, 0.38, True),
        ("sung vowels: 'A-a, B-A-N-E'", 0.62, -1.61, 3.74, True),
        ("the same at a 200 ms pad: 'Thank you. Thank you.'", 0.63, -0.72, 0.38, True),
        ("cards_004: '5 5'", 0.24, -0.76, 0.96, False),
        ("tongue twister, 19 s of speech, 186 tokens", 0.57, -0.82, 18.96, False),
        ("tongue twister at another lead-in", 0.63, -0.58, 18.96, False),
        ("noisy Mandarin, 5.7 s of speech", 0.40, -1.14, 5.73, False),
        ("faster-whisper's own rule, whatever the VAD heard", 0.61, -1.01, 20.0, True),
    ],
)
def test_no_speech_needs_the_engines_evidence_and_for_a_long_stretch_its_own_rule(
    what: str, no_speech_prob: float, avg_logprob: float, heard_s: float, dropped: bool
) -> None:
    """Where the VAD heard 4 s or more of speech only faster-whisper's rule (0.6, -1.0) drops a window: by
    these two numbers alone the tongue twister is as unsure as singing, and dropping it lost 140 characters."""
    assert (no_speech_rule(no_speech_prob, avg_logprob, heard_s) is not None) is dropped, what


def test_a_window_stuck_on_a_few_tokens_is_a_loop_and_genuine_repetition_is_not(whisper: WhisperEngine) -> None:
    """A loop at the end of an otherwise varied window ("…打扰此三前四十四克死赦赦赦赦…") is retried even
    though the whole window compresses less than 2.4; Dickens' "It was the best of times. It was the
    worst of times. …" (ratio 2.41, varied at its end) and a tongue twister's repeats are not."""
    from faster_whisper.tokenizer import Tokenizer as WhisperTokenizer
    from faster_whisper.transcribe import get_compression_ratio

    from openasr.engines import whisper_decode

    model = whisper._model
    tokenizer = WhisperTokenizer(model.hf_tokenizer, True, task="transcribe", language="zh")

    def looks_looped(text: str) -> bool:
        tokens = tokenizer.encode(text)
        window = whisper_decode._Window(tokens, -0.5, 0.1, get_compression_ratio(text))
        return whisper_decode._is_loop(window, tokenizer)

    assert looks_looped(
        "广西壮族自治区爱吃红鲤鱼与绿鲤鱼与驴的出租车司机,一见别人喇叭的咬扎打扰此三前四十四克死" + "赦" * 30
    )
    assert looks_looped("掌观丰盟战事制组大广新创组" + "织" * 40)
    assert not looks_looped(clip("two_cities").reference)
    assert not looks_looped("红鲤鱼与绿鲤鱼与驴,红鲤鱼与绿鲤鱼与驴,八百标兵奔北坡,炮兵并排北边跑")


def test_a_draft_is_one_short_window_that_stops_where_the_audio_does(
    whisper: WhisperEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A live caption of 10 s of speech that runs to the window's very end: one encoder window of the
    audio and 5 s of padding or more, in 5 s steps (15 s, not 30 s), its open ending kept, and nothing past
    the audio. Without the padding Whisper decoded on into invented text ("a young man, a young man, …" to
    the token limit); without the steps, the encoder's buffers of every size made the process grow."""
    from openasr.engines import whisper_decode

    widths: list[int] = []
    encode = whisper_decode._encode

    def recording(model: object, windows: list[np.ndarray]) -> object:
        widths.extend(w.shape[-1] for w in windows)
        return encode(model, windows)  # type: ignore[arg-type]

    monkeypatch.setattr(whisper_decode, "_encode", recording)
    names = ("0870", "0880", "0890")
    speech = np.concatenate([load_clip(clip(name).path) for name in names])
    for seconds in (9.5, 10.0):
        widths.clear()
        (draft,) = whisper.recognize(
            [RecognitionItem(speech[: int(seconds * 16_000)], RecognitionRequest("en", draft=True))]
        )
        assert widths == [1500]
        assert all(s.start_s < seconds and s.end_s <= seconds + 1.0 for s in draft.segments)
        heard = " ".join(clip(name).reference for name in names[:2])  # the third has only begun by then
        assert score(heard, " ".join(s.text for s in draft.segments), "en").rate <= 0.15
    widths.clear()
    whisper.recognize([RecognitionItem(speech[: 3 * 16_000], RecognitionRequest("en", draft=True))])
    assert widths == [1000]
