"""The Qwen3-ASR engine on tiny models built in the test (tests/qwen3_models.py): loading by directory,
batching, context in the system turn, language detection/forcing, noise rejection, forced alignment."""

from __future__ import annotations

import itertools
from dataclasses import replace
from pathlib import Path

import pytest

from audio_files import load_clip
from openasr import pipeline
from openasr.core.options import TranscribeOptions
from openasr.engines.base import RecognitionItem, RecognitionRequest
from openasr.engines.qwen3_backend import Qwen3Config
from openasr.engines.registry import model_backend
from openasr.runtime.engine_config import EngineConfig
from openasr.runtime.engine_pool import EnginePool
from qwen3_models import DEVICE
from speech_clips import load_clips

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

HELLO = "language English<asr_text>hello world."
NONE_THEN_TEXT = "language None<asr_text>thank you."
CLIPS = load_clips("en")[:3] + load_clips("zh")[:1]


@pytest.fixture(scope="module")
def pool(tiny_qwen3, tmp_path_factory: pytest.TempPathFactory) -> EnginePool:  # type: ignore[no-untyped-def]
    config = EngineConfig((Qwen3Config(device=DEVICE, aligner_model=str(tiny_qwen3.aligner), max_new_tokens=12),))
    return EnginePool(tmp_path_factory.mktemp("cache"), config)


def _items(clips: list, request: RecognitionRequest) -> list[RecognitionItem]:  # type: ignore[type-arg]
    return [RecognitionItem(load_clip(c.path)[: 16000 * 8], request) for c in clips]


def test_registry_detects_a_qwen3_directory_and_hub_ids(tiny_qwen3, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert model_backend(str(tiny_qwen3.asr)) == "qwen3"
    assert model_backend("Qwen/Qwen3-ASR-1.7B-hf") == "qwen3"
    assert model_backend("whisper-base") == "whisper"
    assert model_backend(str(tmp_path)) == "whisper"


def test_batched_recognition_equals_one_by_one(pool: EnginePool, tiny_qwen3) -> None:  # type: ignore[no-untyped-def]
    engine = pool.get(str(tiny_qwen3.asr)).inner
    items = _items(CLIPS, RecognitionRequest(None))
    items[1] = replace(items[1], request=RecognitionRequest("en", prompt="openasr glossary"))
    together = engine.recognize(items)
    alone = [engine.recognize([item])[0] for item in items]
    assert together == alone
    assert engine.capabilities.word_timestamps and engine.capabilities.language_id


def test_context_goes_into_the_system_turn_within_the_limit(pool: EnginePool, tiny_qwen3) -> None:  # type: ignore[no-untyped-def]
    engine = pool.get(str(tiny_qwen3.asr)).inner
    tokenizer = engine._tokenizer
    items = _items(CLIPS[:2], RecognitionRequest(None, prompt="Qwen3 openasr 通义千问"))
    items[1] = replace(items[1], request=RecognitionRequest("zh"))
    ids = engine.prepare(items)["input_ids"]
    first, second = (tokenizer.decode(row, skip_special_tokens=False) for row in ids)
    assert "<|im_start|>system\nQwen3 openasr 通义千问<|im_end|>" in first
    assert first.endswith("<|im_start|>assistant\n")
    assert "<|im_start|>system\n<|im_end|>" in second
    assert second.endswith("<|im_start|>assistant\nlanguage Chinese<asr_text>")
    assert engine.count_tokens("Qwen3 openasr 通义千问") == len(tokenizer.encode("Qwen3 openasr 通义千问"))
    huge = "术语 " * 12_000
    assert engine.count_tokens(engine.system_prompt(huge)) <= engine.capabilities.max_prompt_tokens <= 10_000


def test_scripted_reply_is_parsed_and_a_forced_language_is_kept(tiny_qwen3, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    pool = EnginePool(tmp_path, EngineConfig((Qwen3Config(device=DEVICE),)))
    engine = pool.get(str(tiny_qwen3.scripted(HELLO))).inner
    detected, forced = engine.recognize(
        _items(CLIPS[:1], RecognitionRequest(None)) + _items(CLIPS[:1], RecognitionRequest("fr"))
    )
    assert [s.text for s in detected.segments] == ["hello world."]
    assert detected.language == "en" and 0.0 < (detected.language_probability or 0.0) <= 1.0
    assert forced.language == "fr" and forced.language_probability is None
    assert [s.text for s in forced.segments] == ["hello world."]
    assert not engine.capabilities.word_timestamps  # no aligner configured


def test_language_none_gives_no_text(tiny_qwen3, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    pool = EnginePool(tmp_path, EngineConfig((Qwen3Config(device=DEVICE),)))
    engine = pool.get(str(tiny_qwen3.scripted("language None<asr_text>")))
    transcript = pipeline.run(CLIPS[0].path, TranscribeOptions(model=engine.name), engine)
    assert transcript.channels[0].text == "" and transcript.channels[0].sentences == ()


def test_aligner_words_are_monotonic_inside_their_chunk(tiny_qwen3, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    pool = EnginePool(tmp_path, EngineConfig((Qwen3Config(device=DEVICE, aligner_model=str(tiny_qwen3.aligner)),)))
    engine = pool.get(str(tiny_qwen3.scripted(HELLO)))
    clip = CLIPS[0]
    transcript = pipeline.run(clip.path, TranscribeOptions(model=engine.name, words=True), engine)
    duration_ms = transcript.audio.duration_s * 1000
    words = [w for s in transcript.channels[0].sentences for w in s.words]
    assert [w.text.strip() for w in words] == ["hello", "world"] * (len(words) // 2) and words
    assert all(0 <= w.begin_ms <= w.end_ms <= duration_ms for w in words)
    assert all(a.end_ms <= b.begin_ms for a, b in itertools.pairwise(words))
    assert "hello world." in transcript.channels[0].text


def test_language_none_followed_by_text_keeps_the_text(tiny_qwen3, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    engine = (
        EnginePool(tmp_path, EngineConfig((Qwen3Config(device=DEVICE),)))
        .get(str(tiny_qwen3.scripted(NONE_THEN_TEXT)))
        .inner
    )
    (result,) = engine.recognize(_items(CLIPS[:1], RecognitionRequest(None)))
    assert [s.text for s in result.segments] == [NONE_THEN_TEXT.partition("<asr_text>")[2]]
    assert result.language_probability == 0.0  # the model named no language


def test_header_confidence_equals_the_one_from_every_steps_scores(tiny_qwen3, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The confidence kept while decoding equals what `output_scores=True` over all steps gave."""
    import torch

    engine = (
        EnginePool(tmp_path, EngineConfig((Qwen3Config(device=DEVICE),))).get(str(tiny_qwen3.scripted(HELLO))).inner
    )
    items = _items(CLIPS, RecognitionRequest(None))
    kept = [r.language_probability for r in engine.recognize(items)]
    inputs = engine.prepare(items)
    out = engine._model.generate(
        **inputs, max_new_tokens=32, do_sample=False, output_scores=True, return_dict_in_generate=True
    )
    generated = out.sequences[:, inputs["input_ids"].shape[1] :]
    steps = torch.stack(out.scores, dim=1).float().log_softmax(-1)
    chosen = steps.gather(-1, generated[:, : steps.shape[1]].unsqueeze(-1)).squeeze(-1)
    end = (generated == engine._marker_id).int().argmax(-1)
    full = [float(row[:e].sum().exp()) for row, e in zip(chosen, end.tolist(), strict=True)]
    assert kept == pytest.approx(full, rel=1e-5) and all(0.0 < p <= 1.0 for p in full)


def test_a_chunk_cut_at_its_budget_is_flagged_and_logged(
    tiny_qwen3, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:  # type: ignore[no-untyped-def]
    engine = EnginePool(tmp_path, EngineConfig((Qwen3Config(device=DEVICE, max_new_tokens=3),))).get(
        str(tiny_qwen3.scripted(HELLO))
    )
    whole = EnginePool(tmp_path / "b", EngineConfig((Qwen3Config(device=DEVICE),))).get(str(tiny_qwen3.scripted(HELLO)))
    (cut,) = engine.inner.recognize(_items(CLIPS[:1], RecognitionRequest(None)))
    (complete,) = whole.inner.recognize(_items(CLIPS[:1], RecognitionRequest(None)))
    assert cut.truncated and "cut" in caplog.text
    assert not complete.truncated and [s.text for s in complete.segments] == ["hello world."]


@pytest.mark.parametrize("samples", [32_001, 40_017, 16_000 * 5 + 159])
def test_an_items_inputs_do_not_depend_on_its_batch(pool: EnginePool, tiny_qwen3, samples: int) -> None:  # type: ignore[no-untyped-def]
    """Lengths that are not multiples of the 160-sample mel hop: the same frames and audio tokens alone
    as beside a longer item (transformers' batched feature extraction gives such an item one more)."""
    engine = pool.get(str(tiny_qwen3.asr)).inner
    clip = load_clip(CLIPS[0].path)
    short = RecognitionItem(clip[:samples], RecognitionRequest(None))
    longer = RecognitionItem(clip[: 16000 * 8], RecognitionRequest("en", prompt="a glossary"))
    alone, together = engine.prepare([short]), engine.prepare([longer, short])
    mask = alone["attention_mask"][0].bool()
    assert together["input_ids"][1][-mask.numel() :].tolist() == alone["input_ids"][0].tolist()
    assert int(together["input_features_mask"][1].sum()) == int(alone["input_features_mask"][0].sum())
    frames = int(alone["input_features_mask"][0].sum())
    assert together["input_features"][1][:, :frames].equal(alone["input_features"][0][:, :frames])
    assert engine.recognize([longer, short])[1] == engine.recognize([short])[0]


def test_an_items_aligner_inputs_and_times_do_not_depend_on_its_batch(pool: EnginePool, tiny_qwen3) -> None:  # type: ignore[no-untyped-def]
    aligner = pool.get(str(tiny_qwen3.asr)).inner.aligner
    clip = load_clip(CLIPS[0].path)
    short, longer = clip[:32_001], clip[: 16000 * 8]
    alone, _ = aligner.prepare([short], ["hello world."], ["en"])
    together, _ = aligner.prepare([longer, short], ["a longer text is said here.", "hello world."], ["en", "en"])
    frames = int(alone["input_features_mask"][0].sum())
    assert int(together["input_features_mask"][1].sum()) == frames
    assert together["input_ids"][1][-alone["input_ids"].shape[1] :].tolist() == alone["input_ids"][0].tolist()
    (words,) = aligner.align([short], ["hello world."], ["en"])
    both = aligner.align([longer, short], ["a longer text is said here.", "hello world."], ["en", "en"])
    assert words and both[1] == words
