"""The web page at `/` in a real browser: Debian's Chromium driven by Playwright, against a real server.

One server and one browser for the module. Each test gets a fresh browser context (empty local storage)
and drives the page as a person would: key, file or microphone, then reads what the page shows and what
it downloads, and compares it with what the public API answers for the same audio. The microphone is
Chromium's fake capture device playing a real clip. A screenshot of every state is saved under
`test-artifacts/web/` (or `$OPENASR_TEST_ARTIFACTS`), which git ignores.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests
from asr_metrics import score
from playwright.sync_api import Browser, Page, sync_playwright

from audio_files import SAMPLE_RATE_HZ, load_clip, write_audio, write_long_flac
from live_server import KEY, live_server, server_settings
from openasr.postprocess.formats import parse_json, render_srt, render_vtt
from speaker_mix import two_speaker_mix
from speech_clips import ROOT, clip

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="needs Debian's chromium (apt-get install chromium); .ci/run installs it"
)

ARTIFACTS = Path(os.environ.get("OPENASR_TEST_ARTIFACTS", ROOT / "test-artifacts")) / "web"
BECKETT = clip("beckett")
SHORT = clip("0880")  # 3 s
ZH_CLIPS = (clip("BAC009S0724W0121"), clip("BAC009S0768W0290"))
SYNC_MAX_SECONDS = 300
WAIT_MS = 180_000
OTHER_KEY = "sk-local-other"

FILE_INPUT = "[data-testid=file-input]"
SENTENCE = "[data-testid=sentence]"
ERROR = "[data-testid=error]"

WATCH = """
window.__seen = { progress: [], live: [] };
new MutationObserver(() => {
  const bar = document.querySelector("[data-testid=progress]");
  if (bar && !bar.hidden) {
    const last = window.__seen.progress.at(-1);
    if (last !== bar.value) window.__seen.progress.push(bar.value);
  }
  const live = document.querySelector("[data-testid=transcript] .live");
  if (live && live.textContent !== window.__seen.live.at(-1)) window.__seen.live.push(live.textContent);
}).observe(document, { subtree: true, childList: true, characterData: true, attributes: true });
"""
"""Records, in the page, every progress value shown and every state of the streamed text."""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with live_server(server_settings(tmp_path_factory.mktemp("web"), api_keys=(KEY, OTHER_KEY))) as url:
        yield url


@pytest.fixture(scope="module")
def microphone_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What the fake microphone hears: Beckett with a little silence around it (Chromium loops the file)."""
    samples = load_clip(BECKETT.path)
    pad = np.zeros(SAMPLE_RATE_HZ // 2, dtype=np.float32)
    return write_audio(tmp_path_factory.mktemp("mic") / "mic.wav", np.concatenate([pad, samples, pad, pad]), "wav")


@pytest.fixture(scope="module")
def browser(microphone_wav: Path) -> Iterator[Browser]:
    args = [
        "--no-sandbox",
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={microphone_wav}",
        "--autoplay-policy=no-user-gesture-required",
    ]
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        yield chromium
        chromium.close()


def open_page(browser: Browser, site: str, *, width: int = 1000) -> Page:
    context = browser.new_context(viewport={"width": width, "height": 900}, permissions=["microphone"])
    context.add_init_script(WATCH)
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(f"{site}/")
    return page


@pytest.fixture
def page(browser: Browser, site: str) -> Iterator[Page]:
    page = open_page(browser, site)
    yield page
    page.context.close()


def use_key(page: Page, key: str) -> None:
    page.fill("input[name=api_key]", key)
    page.press("input[name=api_key]", "Enter")


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)


def download(page: Page, kind: str) -> str:
    with page.expect_download() as info:
        page.click(f"[data-testid=download-{kind}]")
    path = info.value.path()
    return Path(path).read_text(encoding="utf-8")


def sentence_texts(page: Page) -> list[str]:
    return page.locator(f"{SENTENCE} .text").all_inner_texts()


def api_sync_text(site: str, path: Path) -> str:
    data_uri = f"data:audio/wav;base64,{base64.b64encode(path.read_bytes()).decode()}"
    body = {"model": "qwen3-asr-flash", "input": {"messages": [{"role": "user", "content": [{"audio": data_uri}]}]}}
    r = requests.post(
        f"{site}/api/v1/services/aigc/multimodal-generation/generation",
        json=body,
        headers={"Authorization": f"Bearer {KEY}"},
        timeout=120,
    )
    r.raise_for_status()
    return str(r.json()["output"]["choices"][0]["message"]["content"][0]["text"])


def api_srt(site: str, path: Path) -> str:
    with path.open("rb") as f:
        r = requests.post(
            f"{site}/v1/audio/transcriptions",
            files={"file": (path.name, f)},
            data={"model": "whisper-1", "response_format": "srt"},
            headers={"Authorization": f"Bearer {KEY}"},
            timeout=120,
        )
    r.raise_for_status()
    return r.text


def api_task_result(site: str, task_id: str) -> dict[str, Any]:
    auth = {"Authorization": f"Bearer {KEY}"}
    task = requests.get(f"{site}/api/v1/tasks/{task_id}", headers=auth, timeout=30).json()["output"]
    assert task["task_status"] == "SUCCEEDED", task
    result: dict[str, Any] = requests.get(task["result"]["transcription_url"], timeout=30).json()
    return result


def test_a_clip_streams_its_text_then_seeks_and_downloads_what_the_api_renders(page: Page, site: str) -> None:
    use_key(page, KEY)
    page.set_input_files(FILE_INPUT, BECKETT.path)
    page.wait_for_selector(SENTENCE)
    shot(page, "clip-result")

    streamed = page.evaluate("window.__seen.live")
    assert streamed and streamed[-1] == api_sync_text(site, BECKETT.path)  # the SSE text, shown live
    assert download(page, "txt") == streamed[-1]
    assert " ".join(sentence_texts(page)) == streamed[-1]
    assert download(page, "srt") == api_srt(site, BECKETT.path)
    assert download(page, "vtt").startswith("WEBVTT\n\n00:00:")
    assert page.inner_text("[data-testid=meta]") == "Language: en"

    # Beckett's pauses give at least two sentences (more where Whisper writes full stops instead of commas,
    # which the CPU's int8 kernels decide): seek to the last one, which never begins at 0.
    assert page.locator(SENTENCE).count() >= 2
    last = page.locator(SENTENCE).last
    begin_ms = int(last.get_attribute("data-begin-ms") or "")
    assert begin_ms > 0
    seconds = last.evaluate("el => { el.click(); return document.querySelector('audio').currentTime }")
    assert seconds == pytest.approx(begin_ms / 1000, abs=0.001)
    page.wait_for_function("el => el.getAttribute('aria-current') === 'true'", arg=last.element_handle())
    page.evaluate("document.querySelector('audio').pause()")
    assert page.locator(f"{SENTENCE}.playing").count() == 1
    shot(page, "clip-playing")


def test_a_long_file_becomes_a_task_with_progress_that_a_reload_finds_again(
    page: Page, site: str, tmp_path: Path
) -> None:
    """Two Chinese clips 5 minutes apart (silence between, which VAD skips): over the sync limit.

    The file is stereo and both channels are asked for, with word timestamps, so the result has a tab per
    channel and its subtitles carry channel labels.
    """
    first, second = (load_clip(c.path) for c in ZH_CLIPS)
    gap = np.zeros(SYNC_MAX_SECONDS * SAMPLE_RATE_HZ, dtype=np.float32)
    long_file = write_long_flac(tmp_path / "long_zh.flac", [first, gap, second], channels=2)
    use_key(page, KEY)
    page.fill("[data-testid=channels]", "0, 1")
    page.check("[data-testid=words]")
    page.set_input_files(FILE_INPUT, long_file)
    page.wait_for_selector("[data-testid=task]")
    page.wait_for_function("() => document.querySelector('[data-testid=status]').textContent.startsWith('Task ')")
    before_reload = page.evaluate("window.__seen.progress")
    shot(page, "long-task-progress")
    task_id = page.get_attribute("[data-testid=task]", "data-task-id") or ""

    page.reload()
    page.wait_for_selector(SENTENCE)
    shot(page, "long-task-after-reload")
    after_reload = page.evaluate("window.__seen.progress")
    assert before_reload[0] == 0 and before_reload == sorted(before_reload)
    assert after_reload[-1] == 1 and after_reload == sorted(after_reload)
    assert "long_zh.flac" in page.inner_text("#job-name")

    result = api_task_result(site, task_id)
    channels = result["transcripts"]
    assert [c["channel_id"] for c in channels] == [0, 1]
    assert page.locator("[data-testid=channel-tab]").all_inner_texts() == ["Channel 0", "Channel 1"]
    for tab, channel in zip(page.locator("[data-testid=channel-tab]").all(), channels, strict=True):
        tab.click()
        assert sentence_texts(page) == [s["text"] for s in channel["sentences"]]
        words = [w["text"] + w["punctuation"] for s in channel["sentences"] for w in s["words"]]
        assert page.locator("[data-testid=word]").all_inner_texts() == words
    assert len(sentence_texts(page)) >= 2 and re.search(r"[\u4e00-\u9fff]", "".join(sentence_texts(page)))
    begins = [int(v) for v in page.locator(SENTENCE).evaluate_all("els => els.map(e => e.dataset.beginMs)")]
    assert begins[-1] > SYNC_MAX_SECONDS * 1000  # the second clip, after the gap
    assert page.inner_text("[data-testid=meta]") == "Language: zh"
    shot(page, "long-task-channel-1")
    subtitles = download(page, "srt")
    assert subtitles == render_srt(parse_json(result)) and "[ch 1] " in subtitles  # as `openasr task result`


def test_errors_show_next_to_the_key_on_a_phone_sized_page(browser: Browser, site: str, tmp_path: Path) -> None:
    page = open_page(browser, site, width=360)
    try:
        assert page.is_visible("input[name=api_key]")  # the server has keys, so the page asks for one
        use_key(page, "sk-wrong")
        page.wait_for_selector(f"{ERROR}:not([hidden])")
        assert "Invalid API-key provided." in page.inner_text(ERROR)
        shot(page, "error-bad-key")

        use_key(page, KEY)
        page.wait_for_selector(f"{ERROR}[hidden]", state="attached")
        broken = tmp_path / "broken.wav"
        broken.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt this is no audio at all" * 20)
        page.set_input_files(FILE_INPUT, broken)
        page.wait_for_selector(f"{ERROR}:not([hidden])")
        assert page.inner_text(ERROR).startswith("InvalidParameter: ")
        shot(page, "error-undecodable")

        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        page.focus("input[name=api_key]")
        reached = []
        for _ in range(8):  # the controls after the key are reached with the keyboard alone
            page.keyboard.press("Tab")
            reached.append(page.evaluate("document.activeElement.id"))
        assert {"file", "record", "language", "channels"} <= set(reached)
    finally:
        page.context.close()


def test_the_microphone_recording_is_transcribed(page: Page, microphone_wav: Path) -> None:
    use_key(page, KEY)
    page.click("[data-testid=record]")
    page.wait_for_selector("#record-status:has-text('Recording')")
    shot(page, "microphone-recording")
    seconds = len(load_clip(microphone_wav)) / SAMPLE_RATE_HZ
    page.wait_for_timeout(seconds * 1000)  # let the fake device play the clip once
    page.click("[data-testid=stop]")
    page.wait_for_selector(SENTENCE)
    shot(page, "microphone-result")
    assert "recording-" in page.inner_text("#job-name")
    heard = " ".join(sentence_texts(page))
    assert score(BECKETT.reference, heard, "en").rate <= 0.35, heard


def test_the_typed_key_is_used_and_a_reload_still_plays_the_task_audio(page: Page, site: str) -> None:
    """A new user types a wrong key, then the right one over it without pressing "Use key": the page uses
    what the field says. After a reload, the finished task's audio plays again, fetched with its own key
    (another key gets the 400 an unknown task gets)."""
    use_key(page, "sk-wrong")
    page.wait_for_selector(f"{ERROR}:not([hidden])")
    page.fill("input[name=api_key]", KEY)  # typed, not submitted
    page.set_input_files(FILE_INPUT, SHORT.path)
    page.wait_for_selector(SENTENCE)
    task_id = page.get_attribute("[data-testid=task]", "data-task-id") or ""

    page.reload()
    page.wait_for_selector(SENTENCE)
    page.wait_for_function("() => document.querySelector('audio').src.startsWith('blob:')")
    page.evaluate("document.querySelector('audio').play()")
    page.wait_for_function("() => document.querySelector('audio').currentTime > 0.3")
    duration = page.evaluate("document.querySelector('audio').duration")
    assert duration == pytest.approx(len(load_clip(SHORT.path)) / SAMPLE_RATE_HZ, abs=0.1)
    shot(page, "reload-plays-audio")

    audio = f"{site}/api/v1/tasks/{task_id}/audio"
    assert (
        requests.get(audio, headers={"Authorization": f"Bearer {KEY}"}, timeout=30).content == SHORT.path.read_bytes()
    )
    other = requests.get(audio, headers={"Authorization": f"Bearer {OTHER_KEY}"}, timeout=30)
    assert other.status_code == 404 and other.json()["code"] == "NotFound"
    assert "no uploaded audio" in other.json()["message"]


def test_live_mode_captions_the_microphone_and_downloads_the_session(page: Page, microphone_wav: Path) -> None:
    """Live mode streams the fake microphone (Beckett, in a loop) over the realtime WebSocket with the key
    as a subprotocol: finals appear as lines while it listens; Stop finishes the open turn."""
    page.fill("input[name=api_key]", KEY)
    page.select_option("[data-testid=language]", "en")
    page.click("[data-testid=live-start]")
    started = time.monotonic()
    page.wait_for_selector("[data-testid=live-final]")  # a turn ended while listening: a final line
    shot(page, "live-listening")
    seconds = len(load_clip(microphone_wav)) / SAMPLE_RATE_HZ
    page.wait_for_timeout(max(0.0, started + seconds - 1.0 - time.monotonic()) * 1000)  # the clip played once
    page.click("[data-testid=live-stop]")
    page.wait_for_selector("[data-testid=live-start]:not([disabled])")
    shot(page, "live-stopped")
    assert page.inner_text(ERROR) == ""
    finals = page.locator("[data-testid=live-final] .text").all_inner_texts()
    heard = " ".join(finals).split()
    n = len(BECKETT.reference.split())
    windows = [" ".join(heard[i : i + n]) for i in range(max(1, len(heard) - n + 1))]  # the mic loops
    assert min(score(BECKETT.reference, w, "en").rate for w in windows) <= 0.35, heard
    assert download(page, "live-txt") == "\n".join(finals)
    subtitles = download(page, "live-srt")
    assert subtitles.startswith("1\n00:00:0") and finals[-1] in subtitles


def test_who_spoke_when_shows_each_sentences_speaker_and_names_them_in_subtitles(
    page: Page, site: str, tmp_path: Path
) -> None:
    """A two-speaker conversation with the diarize option and a speaker count: each sentence shows its
    speaker, the task was asked for them, and the page's subtitles are the ones openasr renders."""
    mix = two_speaker_mix(tmp_path / "conversation.wav")
    use_key(page, KEY)
    page.check("[data-testid=diarize]")
    page.fill("[data-testid=speakers]", "2")
    page.set_input_files(FILE_INPUT, mix.path)
    page.wait_for_selector(f"{SENTENCE} [data-testid=speaker]")
    shot(page, "diarized-result")

    labels = page.locator(f"{SENTENCE} [data-testid=speaker]").all_inner_texts()
    assert labels[0] == "Speaker 1" and set(labels) == {"Speaker 1", "Speaker 2"}
    assert page.inner_text("[data-testid=meta]") == "Language: en · Speakers: 2"
    sentences = page.locator(SENTENCE)
    spans = [
        (int(sentences.nth(i).get_attribute("data-begin-ms") or "") / 1000,
         int(sentences.nth(i).get_attribute("data-end-ms") or "") / 1000, label)
        for i, label in enumerate(labels)
    ]  # fmt: skip
    assert mix.attribution(spans)[0] >= 0.9, spans

    result = api_task_result(site, page.evaluate("localStorage.getItem('openasr.current_task')"))
    assert [f"Speaker {s['speaker_id'] + 1}" for s in result["transcripts"][0]["sentences"]] == labels
    assert download(page, "srt") == render_srt(parse_json(result))
    assert download(page, "vtt") == render_vtt(parse_json(result))
