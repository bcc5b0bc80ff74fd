"""Emotion through the real loading code of both backends, on tiny models built here (tests/emotion_models.py),
and through the pipeline on real speech: which audio each sentence is classified on, batching across
callers, and refusal of a checkpoint whose classes are not emotions."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import cast

import numpy as np
import pytest

pytest.importorskip("torch", reason="needs openasr[emotion] (torch and transformers)")
pytest.importorskip("transformers", reason="needs openasr[emotion] (torch and transformers)")

from audio_files import SAMPLE_RATE_HZ, load_clip
from emotion_models import EMOTION2VEC_PLUS_LABELS, tiny_emotion2vec_model, tiny_transformers_model
from openasr import pipeline
from openasr.core.errors import ModelUnavailableError
from openasr.core.options import TranscribeOptions
from openasr.emotion.classifier import EmotionClassifier, EmotionScores
from openasr.emotion.labels import EMOTIONS
from openasr.emotion.loading import load_emotion_classifier
from openasr.emotion.spans import emotion_spans
from openasr.runtime.batcher import BatchingEngine
from openasr.runtime.emotion_batcher import EmotionBatcher, emotion_batcher
from speech_clips import clip

pytestmark = pytest.mark.extras
BECKETT = Path(__file__).resolve().parents[1] / "data" / "en" / "beckett.wav"
"""Short sentences ("Ever tried, ever failed, …") in 10 s: how Whisper punctuates them varies with the CPU
(two to six sentences); merging short ones is pinned in tests/unit/emotion/test_spans.py."""


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("emotion-models")


@pytest.fixture(scope="module")
def classifier(models: Path) -> EmotionClassifier:
    return load_emotion_classifier(str(tiny_transformers_model(models / "masked")), models)


@pytest.fixture(scope="module")
def batcher(classifier: EmotionClassifier) -> EmotionBatcher:
    emotions = emotion_batcher(classifier)
    yield emotions
    emotions.close()


def speech(*names: str) -> list[np.ndarray]:
    return [load_clip(clip(name).path) for name in names]


@pytest.mark.parametrize("attention_mask", [True, False], ids=["batched", "one-by-one"])
def test_a_clips_emotion_does_not_depend_on_its_batch(models: Path, attention_mask: bool) -> None:
    directory = tiny_transformers_model(models / f"mask-{attention_mask}", attention_mask=attention_mask)
    classifier = load_emotion_classifier(str(directory), models)
    clips = speech("0870", "0880", "cards_001")
    together = classifier.classify(clips)
    alone = [classifier.classify([c])[0] for c in clips]
    assert [s.label for s in together] == [s.label for s in alone]
    for a, b in zip(together, alone, strict=True):
        assert set(a.probabilities) == set(EMOTIONS) and sum(a.probabilities.values()) == pytest.approx(1.0)
        assert a.probabilities == pytest.approx(b.probabilities, abs=1e-4)
        assert a.label == max(a.probabilities, key=lambda e: a.probabilities[e])


def test_different_speech_gets_different_estimates(classifier: EmotionClassifier) -> None:
    scores = classifier.classify(speech("0870", "cards_001", "0920"))
    assert len({tuple(round(p, 6) for p in s.probabilities.values()) for s in scores}) == 3


def test_a_checkpoint_whose_classes_are_not_emotions_is_refused_at_load(models: Path) -> None:
    directory = tiny_transformers_model(models / "commands", labels=("yes", "no", "up", "down"))
    with pytest.raises(ModelUnavailableError, match=r"\['yes', 'no', 'up', 'down'\]"):
        load_emotion_classifier(str(directory), models)


def test_a_directory_that_is_no_model_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailableError, match="not an emotion model directory"):
        load_emotion_classifier(str(tmp_path), tmp_path)


def test_chunks_of_concurrent_callers_share_one_classifier_call(classifier: EmotionClassifier) -> None:
    emotions = emotion_batcher(classifier, max_batch=2, max_wait_s=30.0)  # full at two: no timing involved
    try:
        items = [tuple(speech("0880")), tuple(speech("cards_002", "cards_003"))]
        results: list[object] = [None, None]

        def call(i: int) -> None:
            results[i] = emotions.submit(items[i]).result(timeout=60)

        threads = [threading.Thread(target=call, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert emotions.stats.batch_sizes == {2: 1}
        assert [len(r) for r in results] == [1, 2]  # type: ignore[arg-type]
        together = cast(tuple[EmotionScores, ...], results[1])
        alone = classifier.classify(list(items[1]))  # the same clips in a batch of their own
        assert [s.label for s in together] == [s.label for s in alone]
        for shared, own in zip(together, alone, strict=True):
            assert shared.probabilities == pytest.approx(own.probabilities, abs=1e-4)  # padding's float noise
    finally:
        emotions.close()


def test_every_sentence_gets_the_emotion_of_its_own_audio(engine: BatchingEngine, batcher: EmotionBatcher) -> None:
    classifier_input = load_clip(BECKETT)
    t = pipeline.run(BECKETT, TranscribeOptions(language="en"), engine, emotion=batcher)
    sentences = t.channels[0].sentences
    assert len(sentences) >= 2 and all(s.emotion in EMOTIONS for s in sentences)
    spans = emotion_spans(sentences)
    per_ms = SAMPLE_RATE_HZ // 1000
    clips = [classifier_input[s.begin_ms * per_ms : s.end_ms * per_ms] for s in spans]
    expected = batcher.submit(tuple(clips)).result()
    by_id = {s.sentence_id: s.emotion for s in sentences}
    for span, scores in zip(spans, expected, strict=True):
        assert {by_id[i] for i in span.sentence_ids} == {scores.label}
    assert t.emotion in EMOTIONS and t.emotion == t.channels[0].emotion


def test_without_a_classifier_there_is_no_emotion(engine: BatchingEngine) -> None:
    t = pipeline.run(clip("0880").path, TranscribeOptions(language="en"), engine)
    assert t.emotion is None and all(s.emotion is None for s in t.channels[0].sentences)


def test_emotion2vec_plus_through_funasrs_own_loading_code(models: Path, engine: BatchingEngine) -> None:
    pytest.importorskip("funasr", reason="needs openasr[emotion2vec]")
    directory = tiny_emotion2vec_model(models / "emotion2vec")
    classifier = load_emotion_classifier(str(directory), models)
    assert classifier.labels == EMOTION2VEC_PLUS_LABELS  # type: ignore[attr-defined]
    clips = speech("0870", "cards_001", "0920")
    together = classifier.classify(clips)
    alone = [classifier.classify([c])[0] for c in clips]
    for a, b in zip(together, alone, strict=True):
        assert a.label in EMOTIONS and set(a.probabilities) == set(EMOTIONS)
        assert sum(a.probabilities.values()) == pytest.approx(1.0)
        assert a.probabilities == pytest.approx(b.probabilities, abs=1e-5)
    emotions = emotion_batcher(classifier)
    try:
        t = pipeline.run(BECKETT, TranscribeOptions(language="en"), engine, emotion=emotions)
    finally:
        emotions.close()
    assert all(s.emotion in EMOTIONS for s in t.channels[0].sentences)
    assert t.emotion in EMOTIONS
