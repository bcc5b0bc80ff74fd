"""Render a `Transcript` in every output format the service speaks, in one place.

Pure functions from the core `Transcript` to text or JSON-ready dicts, shared by the CLI and every API
surface, so no engine adapter or route renders its own wire format (and `text` is never answered as
JSON). Word and sentence fields are taken as `sentences.py` built them; nothing here re-splits text.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from openasr.core.errors import InvalidParameterError
from openasr.core.options import TranscribeOptions
from openasr.core.types import AudioInfo, ChannelTranscript, DecoderStats, Sentence, Transcript, Word

FORMATS = ("text", "json", "srt", "vtt", "verbose_json")
"""Every format `render` accepts; the names are OpenAI's `response_format` values."""
TIMED_FORMATS = ("srt", "vtt", "verbose_json")
"""The formats that carry sentence timing (a recognition for them needs sentences)."""
RESULT_FORMATS = ("json", "srt", "vtt", "text")
"""What `openasr task result` renders from a task's result JSON."""

LANGUAGE_NAMES = {
    "ar": "arabic", "ca": "catalan", "cs": "czech", "da": "danish", "de": "german", "el": "greek",
    "en": "english", "es": "spanish", "fa": "persian", "fi": "finnish", "fr": "french", "he": "hebrew",
    "hi": "hindi", "hr": "croatian", "hu": "hungarian", "id": "indonesian", "it": "italian",
    "ja": "japanese", "ko": "korean", "ms": "malay", "nl": "dutch", "no": "norwegian", "pl": "polish",
    "pt": "portuguese", "ro": "romanian", "ru": "russian", "sv": "swedish", "th": "thai", "tl": "tagalog",
    "tr": "turkish", "uk": "ukrainian", "ur": "urdu", "vi": "vietnamese", "yue": "cantonese", "zh": "chinese",
}  # fmt: skip
"""OpenAI's verbose_json names the language in lower-case English (Whisper's names); others keep the code."""


@dataclass(frozen=True)
class _Cue:
    begin_ms: int
    end_ms: int
    channel_id: int
    text: str
    decoder: DecoderStats | None = None
    speaker: str | None = None


UNMEASURED = DecoderStats(tokens=(), temperature=0.0, avg_logprob=0.0, compression_ratio=0.0, no_speech_prob=0.0)
"""verbose_json's decoder numbers for a segment whose engine measured none (Qwen3-ASR, a remote server):
the spec's types, with values no decoder reports for text it wrote (no tokens, a compression ratio of
0), chosen so the usual filters (`no_speech_prob > 0.6`, `avg_logprob < -1`) keep the text."""


def render_text(t: Transcript) -> str:
    """The plain transcript; channels on separate lines, empty channels left out."""
    return t.text


def render_json(t: Transcript, *, file_url: str | None = None) -> dict[str, Any]:
    """The async API's result file (spec §7.5); `words` appear only when the caller asked for them."""
    result: dict[str, Any] = {}
    if file_url is not None:
        result["file_url"] = file_url
    result["audio_info"] = {"format": t.audio.format, "sample_rate": t.audio.sample_rate_hz}
    result["transcripts"] = [
        {
            "channel_id": channel.channel_id,
            "text": channel.text,
            "sentences": [_sentence_json(s, with_words=t.options.words) for s in channel.sentences],
        }
        for channel in t.channels
    ]
    result["language"] = t.language
    return result


def parse_json(document: Mapping[str, Any]) -> Transcript:
    """The inverse of `render_json`: a result file back into a `Transcript`, to render it in another format.

    The result file carries no duration, so the audio's duration is taken as the last sentence end.
    """
    channels = []
    for item in document.get("transcripts", []):
        sentences = tuple(
            Sentence(
                sentence_id=int(s["sentence_id"]),
                begin_ms=int(s["begin_time"]),
                end_ms=int(s["end_time"]),
                text=str(s["text"]),
                language=str(s.get("language", "")),
                words=tuple(
                    Word(
                        int(w["begin_time"]),
                        int(w["end_time"]),
                        str(w["text"]),
                        str(w.get("punctuation", "")),
                        speaker_id=_optional_int(w.get("speaker_id")),
                    )
                    for w in s.get("words", [])
                ),
                emotion=s.get("emotion"),
                speaker_id=_optional_int(s.get("speaker_id")),
            )
            for s in item.get("sentences", [])
        )
        language = sentences[0].language if sentences else str(document.get("language", ""))
        channels.append(ChannelTranscript(int(item["channel_id"]), str(item.get("text", "")), language, sentences))
    end_ms = max((s.end_ms for c in channels for s in c.sentences), default=0)
    info = document.get("audio_info", {})
    audio = AudioInfo(str(info.get("format", "")), int(info.get("sample_rate", 0)), len(channels), end_ms / 1000)
    has_words = any(s.words for c in channels for s in c.sentences)
    return Transcript(tuple(channels), audio, TranscribeOptions(words=has_words), model="")


def render_srt(t: Transcript) -> str:
    """SubRip: numbered cues, one per sentence, `HH:MM:SS,mmm` times; a diarized sentence's text starts
    with its speaker (`Speaker 1: …`), SubRip having no speaker field of its own."""
    return "\n".join(
        f"{n}\n{_timestamp(c.begin_ms, ',')} --> {_timestamp(c.end_ms, ',')}\n"
        f"{f'{c.speaker}: ' if c.speaker else ''}{c.text}\n"
        for n, c in enumerate(_cues(t), start=1)
    )


def render_vtt(t: Transcript) -> str:
    """WebVTT: the `WEBVTT` header, then one cue per sentence with `HH:MM:SS.mmm` times; a diarized
    sentence is WebVTT's voice span (`<v Speaker 1>…`), which players show and style per speaker."""
    cues = "\n".join(
        f"{_timestamp(c.begin_ms, '.')} --> {_timestamp(c.end_ms, '.')}\n"
        f"{f'<v {_vtt_escape(c.speaker)}>' if c.speaker else ''}{c.text}\n"
        for c in _cues(t)
    )
    return f"WEBVTT\n\n{cues}" if cues else "WEBVTT\n"


def speaker_label(sentence: Sentence) -> str | None:
    """How subtitles name a sentence's speaker: a known speaker's name, else `Speaker N` numbered from 1
    in order of first appearance; None when diarization was off."""
    if sentence.speaker_id is None:
        return None
    return sentence.speaker_name or f"Speaker {sentence.speaker_id + 1}"


def render_verbose_json(t: Transcript, *, task: str = "transcribe") -> dict[str, Any]:
    """OpenAI's `verbose_json`: times in seconds, one segment per sentence, `words` only when asked for.

    Each segment carries the decoder numbers OpenAI's schema requires (`tokens`, `temperature`,
    `avg_logprob`, `compression_ratio`, `no_speech_prob`): the sentence's own, as
    `postprocess.decoder_stats` chose them from the decoder's windows, or `UNMEASURED` where the engine
    measures none. `task` is `transcribe` or `translate`; a translation's language is its text's (English).
    """
    result: dict[str, Any] = {
        "task": task,
        "language": LANGUAGE_NAMES.get(t.language, t.language),
        "duration": t.audio.duration_s,
        "text": t.text,
        "segments": [_segment_json(i, c) for i, c in enumerate(_cues(t, label_channels=False))],
    }
    if t.options.words:
        words = [
            (w.begin_ms, w.end_ms, w.text.strip())
            for channel in t.channels
            for sentence in channel.sentences
            for w in sentence.words
        ]
        result["words"] = [
            {"word": text, "start": _seconds(begin_ms), "end": _seconds(end_ms)}
            for begin_ms, end_ms, text in sorted(words, key=lambda w: w[0])
            if text
        ]
    return result


def render(t: Transcript, fmt: str) -> str:
    """Serialize `t` as `fmt` (one of `FORMATS`); JSON keeps non-ASCII text readable."""
    renderer = _RENDERERS.get(fmt)
    if renderer is None:
        raise InvalidParameterError(
            f"response_format {fmt!r} is not one of {', '.join(FORMATS)}", param="response_format"
        )
    return renderer(t)


_RENDERERS: dict[str, Callable[[Transcript], str]] = {
    "text": render_text,
    "json": lambda t: json.dumps(render_json(t), ensure_ascii=False),
    "srt": render_srt,
    "vtt": render_vtt,
    "verbose_json": lambda t: json.dumps(render_verbose_json(t), ensure_ascii=False),
}


def _segment_json(index: int, cue: _Cue) -> dict[str, Any]:
    stats = cue.decoder or UNMEASURED
    return {
        "id": index,
        "seek": 0,
        "start": _seconds(cue.begin_ms),
        "end": _seconds(cue.end_ms),
        "text": cue.text,
        "tokens": list(stats.tokens),
        "temperature": stats.temperature,
        "avg_logprob": stats.avg_logprob,
        "compression_ratio": stats.compression_ratio,
        "no_speech_prob": stats.no_speech_prob,
    }


def _sentence_json(sentence: Sentence, *, with_words: bool) -> dict[str, Any]:
    result: dict[str, Any] = {
        "sentence_id": sentence.sentence_id,
        "begin_time": sentence.begin_ms,
        "end_time": sentence.end_ms,
        "text": sentence.text,
        "language": sentence.language,
    }
    if sentence.emotion is not None:
        result["emotion"] = sentence.emotion
    if sentence.speaker_id is not None:  # diarization on (Paraformer's key)
        result["speaker_id"] = sentence.speaker_id
    if with_words:
        result["words"] = [_word_json(w) for w in sentence.words]
    return result


def _word_json(word: Word) -> dict[str, Any]:
    result: dict[str, Any] = {
        "begin_time": word.begin_ms,
        "end_time": word.end_ms,
        "text": word.text,
        "punctuation": word.punctuation,
    }
    if word.speaker_id is not None:
        result["speaker_id"] = word.speaker_id
    return result


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _cues(t: Transcript, *, label_channels: bool = True) -> list[_Cue]:
    """Sentences of all channels as one time-ordered list of single-line cues.

    Cues are prefixed `[ch N] ` only when there is more than one channel. A channel with text but no
    sentences (sentence timing was turned off) becomes one cue spanning the whole audio, so a subtitle
    request never silently drops recognised text.
    """
    labelled = label_channels and len(t.channels) > 1
    cues: list[_Cue] = []
    for channel in t.channels:
        prefix = f"[ch {channel.channel_id}] " if labelled else ""
        spans = [(s.begin_ms, s.end_ms, s.text, s.decoder, speaker_label(s)) for s in channel.sentences]
        if not spans and channel.text.strip():
            spans = [(0, round(t.audio.duration_s * 1000), channel.text, None, None)]
        for begin_ms, end_ms, text, decoder, speaker in spans:
            line = " ".join(text.split())
            if line:
                cues.append(_Cue(begin_ms, end_ms, channel.channel_id, prefix + line, decoder, speaker))
    return sorted(cues, key=lambda c: (c.begin_ms, c.channel_id))


def _vtt_escape(text: str) -> str:
    """A voice name inside `<v …>`: WebVTT's three escapes, so a caller's name cannot end the tag."""
    return " ".join(text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").split())


def _timestamp(ms: int, separator: str) -> str:
    hours, rest = divmod(max(0, ms), 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}{separator}{millis:03d}"


def _seconds(ms: int) -> float:
    return round(ms / 1000, 3)
