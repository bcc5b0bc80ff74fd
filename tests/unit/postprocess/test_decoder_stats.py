"""How a sentence takes the decoder's numbers of the segments it is cut from."""

from __future__ import annotations

from openasr.core.types import DecoderStats, Sentence
from openasr.postprocess.decoder_stats import attach_decoder_stats, sentence_stats

WINDOW_A = (0.0, -0.2, 1.4, 0.01)
WINDOW_B = (0.0, -0.9, 2.1, 0.3)


def stats(tokens: tuple[int, ...], window: tuple[float, float, float, float]) -> DecoderStats:
    return DecoderStats(tokens, *window)


def test_a_sentence_inside_one_segment_has_its_numbers() -> None:
    spans = [(0, 2000, stats((1, 2, 3), WINDOW_A)), (2000, 4000, stats((4, 5), WINDOW_A))]
    assert sentence_stats(100, 1900, spans) == stats((1, 2, 3), WINDOW_A)


def test_a_sentence_across_segments_takes_all_their_tokens_and_the_window_that_wrote_most() -> None:
    spans = [(0, 2000, stats((1, 2), WINDOW_A)), (2000, 6000, stats((3, 4, 5, 6), WINDOW_B))]
    assert sentence_stats(0, 6000, spans) == stats((1, 2, 3, 4, 5, 6), WINDOW_B)


def test_a_slight_overlap_with_a_neighbour_does_not_count() -> None:
    """Word times refit to the speech may reach a few ms into the next segment."""
    spans = [(0, 2000, stats((1, 2), WINDOW_A)), (2000, 4000, stats((3, 4), WINDOW_B))]
    assert sentence_stats(0, 2040, spans) == stats((1, 2), WINDOW_A)


def test_a_sentence_overlapping_no_segment_takes_the_nearest() -> None:
    spans = [(0, 1000, stats((1,), WINDOW_A)), (5000, 6000, stats((2,), WINDOW_B))]
    assert sentence_stats(4000, 4500, spans) == stats((2,), WINDOW_B)


def test_without_measured_segments_sentences_stay_unmeasured() -> None:
    sentence = Sentence(0, 0, 1000, "Hi.", "en")
    assert attach_decoder_stats([sentence], []) == (sentence,)
    (measured,) = attach_decoder_stats([sentence], [(0, 1000, stats((7,), WINDOW_A))])
    assert measured.decoder == stats((7,), WINDOW_A) and measured.text == "Hi."
