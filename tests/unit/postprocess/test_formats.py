import json

import pytest

from openasr.core.errors import InvalidParameterError
from openasr.core.options import TranscribeOptions
from openasr.core.types import AudioInfo, ChannelTranscript, DecoderStats, Sentence, Transcript, Word
from openasr.postprocess.formats import (
    FORMATS,
    UNMEASURED,
    parse_json,
    render,
    render_json,
    render_srt,
    render_text,
    render_verbose_json,
    render_vtt,
)

GOOD_MORNING = Sentence(
    0, 320, 1710, "Good morning everyone.", "en",
    words=(Word(320, 700, "Good "), Word(700, 1150, "morning "), Word(1150, 1710, "everyone", ".")),
    emotion="happy",
)  # fmt: skip
LETS_BEGIN = Sentence(
    1, 2050, 2980, "Let's begin.", "en", words=(Word(2050, 2400, "Let's "), Word(2400, 2980, "begin", "."))
)
ENGLISH = ChannelTranscript(0, "Good morning everyone. Let's begin.", "en", (GOOD_MORNING, LETS_BEGIN))


def transcript(*channels: ChannelTranscript, words: bool = False, duration_s: float = 3.5) -> Transcript:
    audio = AudioInfo(format="m4a", sample_rate_hz=44_100, channels=len(channels), duration_s=duration_s)
    return Transcript(channels, audio, TranscribeOptions(words=words), model="whisper-base")


def two_channels() -> Transcript:
    left = ChannelTranscript(0, "Hello. Bye.", "en", (
        Sentence(0, 0, 1000, "Hello.", "en"),
        Sentence(1, 5000, 6000, "Bye.", "en"),
    ))  # fmt: skip
    right = ChannelTranscript(1, "你好。", "zh", (Sentence(0, 2000, 3000, "你好。", "zh"),))
    return transcript(left, right)


def test_text() -> None:
    assert render_text(transcript(ENGLISH)) == "Good morning everyone. Let's begin."
    assert render_text(two_channels()) == "Hello. Bye.\n你好。"


def test_json_matches_spec_shape_with_words() -> None:
    result = render_json(transcript(ENGLISH, words=True), file_url="https://files.example.org/board-meeting.m4a")
    assert result == {
        "file_url": "https://files.example.org/board-meeting.m4a",
        "audio_info": {"format": "m4a", "sample_rate": 44100},
        "transcripts": [
            {
                "channel_id": 0,
                "text": "Good morning everyone. Let's begin.",
                "sentences": [
                    {
                        "sentence_id": 0, "begin_time": 320, "end_time": 1710,
                        "text": "Good morning everyone.", "language": "en", "emotion": "happy",
                        "words": [
                            {"begin_time": 320, "end_time": 700, "text": "Good ", "punctuation": ""},
                            {"begin_time": 700, "end_time": 1150, "text": "morning ", "punctuation": ""},
                            {"begin_time": 1150, "end_time": 1710, "text": "everyone", "punctuation": "."},
                        ],
                    },
                    {
                        "sentence_id": 1, "begin_time": 2050, "end_time": 2980,
                        "text": "Let's begin.", "language": "en",
                        "words": [
                            {"begin_time": 2050, "end_time": 2400, "text": "Let's ", "punctuation": ""},
                            {"begin_time": 2400, "end_time": 2980, "text": "begin", "punctuation": "."},
                        ],
                    },
                ],
            }
        ],
        "language": "en",
    }  # fmt: skip


def test_json_without_words_or_file_url() -> None:
    result = render_json(transcript(ENGLISH))
    assert "file_url" not in result
    sentences = result["transcripts"][0]["sentences"]
    assert all("words" not in s for s in sentences)
    assert "emotion" in sentences[0] and "emotion" not in sentences[1]


def test_json_one_transcript_per_channel() -> None:
    result = render_json(two_channels())
    assert [c["channel_id"] for c in result["transcripts"]] == [0, 1]
    assert result["language"] == "en"
    assert result["transcripts"][1]["sentences"][0]["language"] == "zh"


def test_srt() -> None:
    assert render_srt(transcript(ENGLISH)) == (
        "1\n00:00:00,320 --> 00:00:01,710\nGood morning everyone.\n\n2\n00:00:02,050 --> 00:00:02,980\nLet's begin.\n"
    )


def test_vtt() -> None:
    assert render_vtt(transcript(ENGLISH)) == (
        "WEBVTT\n"
        "\n"
        "00:00:00.320 --> 00:00:01.710\nGood morning everyone.\n"
        "\n"
        "00:00:02.050 --> 00:00:02.980\nLet's begin.\n"
    )


def test_hours_in_timestamps() -> None:
    late = ChannelTranscript(0, "Late.", "en", (Sentence(0, 3_723_004, 36_000_000, "Late.", "en"),))
    assert "01:02:03,004 --> 10:00:00,000" in render_srt(transcript(late))
    assert "01:02:03.004 --> 10:00:00.000" in render_vtt(transcript(late))


def test_multichannel_cues_are_labelled_and_time_ordered() -> None:
    assert render_srt(two_channels()) == (
        "1\n00:00:00,000 --> 00:00:01,000\n[ch 0] Hello.\n"
        "\n"
        "2\n00:00:02,000 --> 00:00:03,000\n[ch 1] 你好。\n"
        "\n"
        "3\n00:00:05,000 --> 00:00:06,000\n[ch 0] Bye.\n"
    )
    assert "[ch 1] 你好。" in render_vtt(two_channels())


def test_single_channel_other_than_zero_is_not_labelled() -> None:
    only = ChannelTranscript(1, "Hi.", "en", (Sentence(0, 0, 500, "Hi.", "en"),))
    assert "[ch" not in render_srt(transcript(only))


def test_channel_without_sentences_becomes_one_cue() -> None:
    textual = ChannelTranscript(0, "no timing here", "en", ())
    srt = render_srt(transcript(textual, duration_s=4.25))
    assert srt == "1\n00:00:00,000 --> 00:00:04,250\nno timing here\n"


def test_empty_transcript() -> None:
    empty = transcript(ChannelTranscript(0, "", "en", ()))
    assert render_srt(empty) == ""
    assert render_vtt(empty) == "WEBVTT\n"
    assert render_text(empty) == ""


def test_verbose_json_with_words() -> None:
    result = render_verbose_json(transcript(ENGLISH, words=True))
    assert result["task"] == "transcribe"
    assert result["language"] == "english"
    assert result["duration"] == 3.5
    assert result["text"] == "Good morning everyone. Let's begin."
    # sentences the engine measured nothing of: the documented spec-typed values, no tokens, ratio 0
    assert result["segments"][1] == {
        "id": 1, "seek": 0, "start": 2.05, "end": 2.98, "text": "Let's begin.", "tokens": [],
        "temperature": 0.0, "avg_logprob": 0.0, "compression_ratio": 0.0, "no_speech_prob": 0.0,
    }  # fmt: skip
    assert result["words"] == [
        {"word": "Good", "start": 0.32, "end": 0.7},
        {"word": "morning", "start": 0.7, "end": 1.15},
        {"word": "everyone", "start": 1.15, "end": 1.71},
        {"word": "Let's", "start": 2.05, "end": 2.4},
        {"word": "begin", "start": 2.4, "end": 2.98},
    ]
    assert all(isinstance(s["start"], float) for s in result["segments"])


def test_verbose_json_segments_carry_the_decoders_numbers() -> None:
    stats = DecoderStats((50364, 440, 13, 50414), 0.0, -0.21, 1.3, 0.02)
    measured = ChannelTranscript(0, "Hi.", "en", (Sentence(0, 0, 1000, "Hi.", "en", decoder=stats),))
    (segment,) = render_verbose_json(transcript(measured))["segments"]
    assert segment["tokens"] == [50364, 440, 13, 50414]
    assert (segment["temperature"], segment["avg_logprob"]) == (0.0, -0.21)
    assert (segment["compression_ratio"], segment["no_speech_prob"]) == (1.3, 0.02)
    assert UNMEASURED.tokens == () and UNMEASURED.compression_ratio == 0.0


def test_verbose_json_without_words_and_other_task() -> None:
    result = render_verbose_json(transcript(ENGLISH), task="translate")
    assert "words" not in result
    assert result["task"] == "translate"


def test_verbose_json_language_name_falls_back_to_code() -> None:
    chinese = ChannelTranscript(0, "你好", "zh", (Sentence(0, 0, 500, "你好", "zh"),))
    klingon = ChannelTranscript(0, "Qapla'", "tlh", (Sentence(0, 0, 500, "Qapla'", "tlh"),))
    assert render_verbose_json(transcript(chinese))["language"] == "chinese"
    assert render_verbose_json(transcript(klingon))["language"] == "tlh"


def test_verbose_json_segments_are_not_labelled() -> None:
    segments = render_verbose_json(two_channels())["segments"]
    assert [(s["id"], s["text"]) for s in segments] == [(0, "Hello."), (1, "你好。"), (2, "Bye.")]


@pytest.mark.parametrize("fmt", FORMATS)
def test_render_dispatches_every_format(fmt: str) -> None:
    t = transcript(two_channels().channels[1])
    output = render(t, fmt)
    assert isinstance(output, str)
    assert "你好" in output  # JSON keeps non-ASCII text readable


def test_render_json_strings() -> None:
    t = transcript(ENGLISH, words=True)
    assert json.loads(render(t, "json")) == render_json(t)
    assert json.loads(render(t, "verbose_json")) == render_verbose_json(t)
    assert render(t, "text") == render_text(t)
    assert render(t, "srt") == render_srt(t)
    assert render(t, "vtt") == render_vtt(t)


def test_render_unknown_format() -> None:
    with pytest.raises(InvalidParameterError) as caught:
        render(transcript(ENGLISH), "docx")
    assert caught.value.param == "response_format"


def test_a_result_file_reads_back_as_the_transcript_it_was_rendered_from() -> None:
    """`parse_json` is `render_json`'s inverse (`openasr task result -f srt` renders from the file)."""
    for t in (transcript(ENGLISH, words=True), two_channels()):
        document = json.loads(json.dumps(render_json(t, file_url="https://example.org/a.m4a")))
        back = parse_json(document)
        assert render_json(back, file_url="https://example.org/a.m4a") == document
        assert render_srt(back) == render_srt(t) and render_text(back) == render_text(t)
        assert back.channels == t.channels and back.language == t.language


def diarized() -> Transcript:
    """Two speakers, the second known by name; words carry their sentence's speaker."""
    first = Sentence(0, 0, 1000, "Hello there.", "en", words=(Word(0, 400, "Hello ", speaker_id=0),), speaker_id=0)
    second = Sentence(1, 1500, 2500, "Hi <you>.", "en", speaker_id=1, speaker_name="Ann & Bo")
    third = Sentence(2, 3000, 3600, "Bye.", "en", speaker_id=0)
    channel = ChannelTranscript(0, "Hello there. Hi <you>. Bye.", "en", (first, second, third))
    return transcript(channel, words=True)


def test_diarized_srt_prefixes_and_vtt_voice_spans_name_the_speaker() -> None:
    srt = render_srt(diarized())
    assert "\nSpeaker 1: Hello there.\n" in srt and "\nAnn & Bo: Hi <you>.\n" in srt and "\nSpeaker 1: Bye.\n" in srt
    vtt = render_vtt(diarized())
    assert "\n<v Speaker 1>Hello there.\n" in vtt and "\n<v Ann &amp; Bo>Hi <you>.\n" in vtt


def test_diarized_json_has_speaker_ids_that_read_back() -> None:
    result = render_json(diarized())
    sentences = result["transcripts"][0]["sentences"]
    assert [s["speaker_id"] for s in sentences] == [0, 1, 0]
    assert sentences[0]["words"][0]["speaker_id"] == 0 and "speaker_name" not in sentences[1]
    back = parse_json(result)
    assert [s.speaker_id for s in back.channels[0].sentences] == [0, 1, 0]
    assert back.channels[0].sentences[0].words[0].speaker_id == 0
    assert render_srt(back).count("Speaker 1: ") == 2  # names are the OpenAI surface's; the file keeps ids


def test_without_diarization_no_output_names_a_speaker() -> None:
    plain = transcript(ENGLISH, words=True)
    assert "speaker" not in json.dumps(render_json(plain)) + json.dumps(render_verbose_json(plain))
    assert "Speaker" not in render_srt(plain) + render_vtt(plain) and "<v " not in render_vtt(plain)
