// The openasr page: the same public API an SDK user has, no build step, no dependencies.
//
// Short audio (<= 10 MB and <= 5 min) streams through the DashScope sync API so the text appears as it
// is recognised; the sync API carries no timestamps, so a task on the same upload then supplies the
// sentences with their times. Longer audio goes straight to a task, with its progress. Every transcript
// ends as a task of this key, so a reload finds it again through the task list.
"use strict";

const SYNC_MAX_BYTES = 10 * 1024 * 1024;
const SYNC_MAX_SECONDS = 300;
const SYNC_MODEL = "qwen3-asr-flash";
const ASYNC_MODEL = "qwen3-asr-flash-filetrans";
const POLL_MS = [500, 1000, 1000, 2000, 2000, 3000]; // then every 3 s: polls count against the key's rate
const STORE = { key: "openasr.api_key", current: "openasr.current_task", names: "openasr.task_names" };
const ENDED = new Set(["FAILED", "CANCELED", "UNKNOWN"]);

const $ = (id) => document.getElementById(id);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const audioUrls = new Map(); // task id -> object URL of the file picked in this page's life
let view = { taskId: null, result: null, channel: 0 };
let loadToken = 0; // a newer transcription or opened task makes older pollers stop drawing

class ApiError extends Error {
  constructor(code, message, status, retryAfterS = null) {
    super(message);
    this.code = code;
    this.status = status;
    this.retryAfterS = retryAfterS;
  }
}

// ------------------------------------------------------------------------------------------- HTTP

/** The key in the key field as typed (no need to press "Use key"), else the one this browser kept. */
function apiKey() {
  const typed = $("api-key").value.trim();
  return typed || localStorage.getItem(STORE.key) || "";
}

function withKey(headers = {}) {
  const key = apiKey();
  return key ? { ...headers, Authorization: `Bearer ${key}` } : headers;
}

async function failure(response) {
  let code = `HTTP ${response.status}`;
  let message = response.statusText || "request failed";
  try {
    const body = await response.json();
    code = body.code || (body.error && body.error.code) || code;
    message = body.message || (body.error && body.error.message) || message;
  } catch (_) {
    // not JSON: keep the status line
  }
  const retry = Number(response.headers.get("Retry-After"));
  return new ApiError(code, message, response.status, retry > 0 ? retry : null);
}

async function api(path, init = {}) {
  const response = await fetch(path, { ...init, headers: withKey(init.headers) });
  if (!response.ok) throw await failure(response);
  return response.json();
}

function uploadName(name) {
  const clean = (name || "audio").replace(/[^\w.-]+/g, "_").replace(/^[._]+/, "");
  return clean || "audio";
}

/** The SDK's local-file flow: a policy (E2), then the OSS-style form post (E3); returns the oss:// URL. */
async function upload(file, model) {
  const { data } = await api(`/api/v1/uploads?action=getPolicy&model=${encodeURIComponent(model)}`);
  const key = `${data.upload_dir}/${uploadName(file.name)}`;
  const form = new FormData();
  form.append("OSSAccessKeyId", data.oss_access_key_id);
  form.append("Signature", data.signature);
  form.append("policy", data.policy);
  form.append("key", key);
  form.append("x-oss-object-acl", data.x_oss_object_acl);
  form.append("x-oss-forbid-overwrite", data.x_oss_forbid_overwrite);
  form.append("success_action_status", "200");
  form.append("file", file, uploadName(file.name));
  const response = await fetch(data.upload_host, { method: "POST", body: form });
  if (!response.ok) throw await failure(response);
  return `oss://${key}`;
}

function parseEvent(block) {
  const event = { type: "result", status: 200, data: "" };
  for (const line of block.split("\n")) {
    if (line.startsWith("event:")) event.type = line.slice(6).trim();
    else if (line.startsWith("status:")) event.status = Number(line.slice(7));
    else if (line.startsWith("data:")) event.data += line.slice(5);
  }
  event.data = event.data ? JSON.parse(event.data) : {};
  return event;
}

/** DashScope sync recognition with SSE and incremental output; `onText` gets the text so far. */
async function streamSync(ref, options, onText) {
  const messages = [];
  if (options.context) messages.push({ role: "system", content: [{ text: options.context }] });
  messages.push({ role: "user", content: [{ audio: ref }] });
  const asr = { enable_itn: options.itn };
  if (options.language) asr.language = options.language;
  const response = await fetch("/api/v1/services/aigc/multimodal-generation/generation", {
    method: "POST",
    headers: withKey({
      "Content-Type": "application/json",
      "X-DashScope-SSE": "enable",
      "X-DashScope-OssResourceResolve": "enable",
    }),
    body: JSON.stringify({
      model: SYNC_MODEL,
      input: { messages },
      parameters: { incremental_output: true, asr_options: asr },
    }),
  });
  if (!response.ok) throw await failure(response);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let text = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const event = parseEvent(buffer.slice(0, cut));
      buffer = buffer.slice(cut + 2);
      if (event.type === "error") throw new ApiError(event.data.code, event.data.message, event.status);
      const message = event.data.output.choices[0].message;
      text += message.content.map((part) => part.text || "").join("");
      const info = (message.annotations || []).find((a) => a.type === "audio_info") || {};
      onText(text, info);
    }
  }
  return text;
}

async function submitTask(ref, options) {
  const parameters = {
    enable_itn: options.itn,
    enable_words: options.words,
    channel_id: options.channels,
  };
  if (options.language) parameters.language = options.language;
  if (options.context) parameters.text = options.context;
  if (options.diarize) parameters.diarization_enabled = true;
  if (options.diarize && options.speakers) parameters.speaker_count = options.speakers;
  const body = await api("/api/v1/services/audio/asr/transcription", {
    method: "POST",
    headers: {
      "Content-Type": "application/json",
      "X-DashScope-Async": "enable",
      "X-DashScope-OssResourceResolve": "enable",
    },
    body: JSON.stringify({ model: ASYNC_MODEL, input: { file_url: ref }, parameters }),
  });
  return body.output.task_id;
}

/** Poll a task until it ends; returns its result document (the E8 JSON). */
async function waitForTask(taskId, token, onStatus) {
  for (let poll = 0; ; poll++) {
    let output;
    try {
      ({ output } = await api(`/api/v1/tasks/${encodeURIComponent(taskId)}`));
    } catch (error) {
      if (error.status !== 429 || token !== loadToken) throw error;
      setStatus(`${error.message} Trying again in ${error.retryAfterS || 5} s.`);
      await sleep((error.retryAfterS || 5) * 1000);
      continue;
    }
    if (token !== loadToken) return null;
    onStatus(output);
    if (output.task_status === "SUCCEEDED") {
      const response = await fetch(output.result.transcription_url);
      if (!response.ok) throw await failure(response);
      return response.json();
    }
    if (ENDED.has(output.task_status)) {
      const what = output.task_status === "UNKNOWN" ? "this key has no such task" : `task ${output.task_status}`;
      throw new ApiError(output.code || output.task_status, output.message || what);
    }
    await sleep(POLL_MS[Math.min(poll, POLL_MS.length - 1)]);
  }
}

// ------------------------------------------------------------------------------------- subtitles
// The same cues as openasr.postprocess.formats (rendered from the result file, as `openasr task result`
// does): one cue per sentence, "[ch N] " prefixes only with several channels, time-ordered; a diarized
// sentence names its speaker ("Speaker 1: " in SRT, a <v Speaker 1> voice span in VTT).

function speakerLabel(sentence) {
  return sentence.speaker_id === undefined || sentence.speaker_id === null ? null : `Speaker ${sentence.speaker_id + 1}`;
}

function vttEscape(text) {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function cues(doc) {
  const channels = doc.transcripts || [];
  const labelled = channels.length > 1;
  const ends = channels.flatMap((c) => (c.sentences || []).map((s) => s.end_time));
  const lastEndMs = Math.max(0, ...ends);
  const out = [];
  for (const channel of channels) {
    const prefix = labelled ? `[ch ${channel.channel_id}] ` : "";
    let spans = (channel.sentences || []).map((s) => [s.begin_time, s.end_time, s.text, speakerLabel(s)]);
    if (!spans.length && (channel.text || "").trim()) spans = [[0, lastEndMs, channel.text, null]];
    for (const [beginMs, endMs, text, speaker] of spans) {
      const line = text.split(/\s+/).filter(Boolean).join(" ");
      if (line) out.push({ beginMs, endMs, channel: channel.channel_id, text: prefix + line, speaker });
    }
  }
  return out.sort((a, b) => a.beginMs - b.beginMs || a.channel - b.channel);
}

function timestamp(ms, separator) {
  const total = Math.max(0, ms);
  const pad = (n, width) => String(n).padStart(width, "0");
  const hours = Math.floor(total / 3600000);
  const minutes = Math.floor((total % 3600000) / 60000);
  const seconds = Math.floor((total % 60000) / 1000);
  return `${pad(hours, 2)}:${pad(minutes, 2)}:${pad(seconds, 2)}${separator}${pad(total % 1000, 3)}`;
}

function renderSrt(doc) {
  return cues(doc)
    .map((c, i) => {
      const line = c.speaker ? `${c.speaker}: ${c.text}` : c.text;
      return `${i + 1}\n${timestamp(c.beginMs, ",")} --> ${timestamp(c.endMs, ",")}\n${line}\n`;
    })
    .join("\n");
}

function renderVtt(doc) {
  const body = cues(doc)
    .map((c) => {
      const line = c.speaker ? `<v ${vttEscape(c.speaker)}>${c.text}` : c.text;
      return `${timestamp(c.beginMs, ".")} --> ${timestamp(c.endMs, ".")}\n${line}\n`;
    })
    .join("\n");
  return body ? `WEBVTT\n\n${body}` : "WEBVTT\n";
}

function renderText(doc) {
  return (doc.transcripts || []).map((c) => c.text).filter(Boolean).join("\n");
}

// ------------------------------------------------------------------------------------------- view

function showError(error) {
  const box = $("error");
  if (!error) {
    box.hidden = true;
    box.textContent = "";
    return;
  }
  const code = error.code ? `${error.code}: ` : "";
  box.textContent = `${code}${error.message || error}`;
  box.hidden = false;
  if (error.status === 401) {
    $("key-section").hidden = false;
    $("api-key").focus();
  }
}

function setStatus(text) {
  $("job-status").textContent = text;
}

function setProgress(fraction) {
  const bar = $("progress");
  if (fraction === null) {
    bar.hidden = true;
    return;
  }
  bar.hidden = false;
  bar.value = fraction;
  bar.setAttribute("aria-valuetext", `${Math.round(fraction * 100)} %`);
}

function openJob(name, taskId) {
  $("job").hidden = false;
  $("job-name").textContent = name ? `— ${name}` : "";
  $("actions").hidden = true;
  $("tabs").hidden = true;
  $("meta").textContent = "";
  $("transcript").replaceChildren();
  view = { taskId, result: null, channel: 0 };
  const player = $("player");
  const url = taskId ? audioUrls.get(taskId) : null;
  if (url) player.src = url;
  else player.removeAttribute("src");
  player.hidden = !url;
  if (taskId && !url) loadTaskAudio(taskId);
}

/** After a reload the page has no copy of a task's file: ask the server for it, with the task's key. */
async function loadTaskAudio(taskId) {
  let blob;
  try {
    const response = await fetch(`/api/v1/tasks/${encodeURIComponent(taskId)}/audio`, { headers: withKey() });
    if (!response.ok) return; // an http(s) source, or an upload past its retention: no player
    blob = await response.blob();
  } catch (_) {
    return;
  }
  const url = URL.createObjectURL(blob);
  audioUrls.set(taskId, url);
  if (view.taskId !== taskId) return;
  $("player").src = url;
  $("player").hidden = false;
}

function showLiveText(text, info) {
  let live = $("transcript").querySelector(".live");
  if (!live) {
    live = document.createElement("p");
    live.className = "live";
    $("transcript").replaceChildren(live);
  }
  live.textContent = text;
  if (info.language) showMeta(info.language, info.emotion);
}

function showMeta(language, emotion, speakers = 0) {
  const parts = [`Language: ${language || "unknown"}`];
  if (emotion) parts.push(`Emotion: ${emotion}`);
  if (speakers) parts.push(`Speakers: ${speakers}`);
  $("meta").textContent = parts.join(" · ");
  $("transcript").lang = language || "";
}

function clock(ms) {
  const s = Math.floor(ms / 1000);
  const h = Math.floor(s / 3600);
  const mm = String(Math.floor((s % 3600) / 60)).padStart(h ? 2 : 1, "0");
  const ss = String(s % 60).padStart(2, "0");
  return h ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

function showResult(doc, name) {
  view.result = doc;
  const channels = doc.transcripts || [];
  const tabs = $("tabs");
  tabs.replaceChildren(
    ...channels.map((channel, i) => {
      const tab = document.createElement("button");
      tab.type = "button";
      tab.role = "tab";
      tab.textContent = `Channel ${channel.channel_id}`;
      tab.dataset.testid = "channel-tab";
      tab.addEventListener("click", () => showChannel(i));
      return tab;
    }),
  );
  tabs.hidden = channels.length < 2;
  showChannel(0);
  const base = uploadName((name || "transcript").replace(/\.[^.]*$/, ""));
  setDownload("txt", renderText(doc), "text/plain", base);
  setDownload("srt", renderSrt(doc), "application/x-subrip", base);
  setDownload("vtt", renderVtt(doc), "text/vtt", base);
  setDownload("json", JSON.stringify(doc, null, 2), "application/json", base);
  $("actions").hidden = false;
}

function showChannel(index) {
  view.channel = index;
  const channel = (view.result.transcripts || [])[index] || { sentences: [], text: "" };
  $("tabs").querySelectorAll("[role=tab]").forEach((tab, i) => tab.setAttribute("aria-selected", String(i === index)));
  const sentences = channel.sentences || [];
  const emotions = [...new Set(sentences.map((s) => s.emotion).filter(Boolean))];
  const speakers = new Set(sentences.map(speakerLabel).filter(Boolean));
  showMeta(view.result.language || (sentences[0] && sentences[0].language), emotions.join(", "), speakers.size);
  const items = sentences.map((s) => {
    const item = document.createElement("p");
    item.className = "sentence";
    item.dataset.testid = "sentence";
    item.dataset.beginMs = s.begin_time;
    item.dataset.endMs = s.end_time;
    item.tabIndex = 0;
    item.role = "button";
    const time = document.createElement("span");
    time.className = "time";
    time.textContent = clock(s.begin_time);
    const text = document.createElement("span");
    text.className = "text";
    if (s.words && s.words.length) {
      for (const w of s.words) {
        const word = document.createElement("span"); // word texts carry their own spaces
        word.className = "word";
        word.dataset.testid = "word";
        word.dataset.beginMs = w.begin_time;
        word.dataset.endMs = w.end_time;
        word.title = `${clock(w.begin_time)}.${String(w.begin_time % 1000).padStart(3, "0")}`;
        word.textContent = w.text + (w.punctuation || "");
        text.append(word);
      }
    } else {
      text.textContent = s.text;
    }
    const speaker = speakerLabel(s);
    if (speaker) {
      const who = document.createElement("span");
      who.className = `speaker speaker-${s.speaker_id % 8}`;
      who.dataset.testid = "speaker";
      who.textContent = speaker;
      item.dataset.speakerId = s.speaker_id;
      item.append(time, who, text);
    } else {
      item.append(time, text);
    }
    if (s.emotion) item.dataset.emotion = s.emotion;
    return item;
  });
  if (!items.length && channel.text) {
    const only = document.createElement("p");
    only.textContent = channel.text;
    items.push(only);
  }
  if (!items.length) {
    const none = document.createElement("p");
    none.className = "muted";
    none.textContent = "No speech was recognised.";
    items.push(none);
  }
  $("transcript").replaceChildren(...items);
  highlight();
}

function setDownload(kind, text, type, base) {
  const link = $(`download-${kind}`);
  if (link.href && link.href.startsWith("blob:")) URL.revokeObjectURL(link.href);
  link.href = URL.createObjectURL(new Blob([text], { type: `${type};charset=utf-8` }));
  link.download = `${base}.${kind}`;
}

function seekTo(element) {
  const player = $("player");
  if (!player.src) return;
  player.currentTime = Number(element.dataset.beginMs) / 1000;
  player.play().catch(() => {}); // autoplay may be refused; the position is set either way
}

function highlight() {
  const ms = $("player").currentTime * 1000;
  for (const word of $("transcript").querySelectorAll("[data-testid=word]")) {
    word.classList.toggle("playing", Number(word.dataset.beginMs) <= ms && ms < Number(word.dataset.endMs));
  }
  for (const item of $("transcript").querySelectorAll("[data-testid=sentence]")) {
    const playing = Number(item.dataset.beginMs) <= ms && ms < Number(item.dataset.endMs);
    item.classList.toggle("playing", playing);
    if (playing) item.setAttribute("aria-current", "true");
    else item.removeAttribute("aria-current");
  }
}

// -------------------------------------------------------------------------------------- the flows

function readOptions() {
  const channels = $("channels")
    .value.split(/[\s,]+/)
    .filter(Boolean)
    .map(Number);
  return {
    language: $("language").value,
    itn: $("itn").checked,
    words: $("words").checked,
    context: $("context").value.trim(),
    diarize: $("diarize").checked,
    speakers: Number.parseInt($("speakers").value, 10) || null,
    channels: channels.length && channels.every(Number.isInteger) ? channels : [0],
  };
}

function mediaSeconds(url) {
  return new Promise((resolve) => {
    const probe = new Audio();
    const done = (value) => {
      probe.removeAttribute("src");
      resolve(value);
    };
    probe.preload = "metadata";
    probe.onloadedmetadata = () => done(Number.isFinite(probe.duration) ? probe.duration : null);
    probe.onerror = () => done(null);
    setTimeout(() => done(null), 5000);
    probe.src = url;
  });
}

function remember(taskId, name) {
  const names = JSON.parse(localStorage.getItem(STORE.names) || "{}");
  names[taskId] = name;
  localStorage.setItem(STORE.names, JSON.stringify(names));
  localStorage.setItem(STORE.current, taskId);
}

async function transcribe(file) {
  const token = ++loadToken;
  showError(null);
  const options = readOptions();
  const url = URL.createObjectURL(file);
  openJob(file.name, null);
  $("player").src = url;
  $("player").hidden = false;
  try {
    setStatus("Checking the file…");
    const seconds = await mediaSeconds(url);
    const short = file.size <= SYNC_MAX_BYTES && (seconds === null || seconds <= SYNC_MAX_SECONDS);
    setStatus("Uploading…");
    setProgress(short ? null : 0);
    const ref = await upload(file, short ? SYNC_MODEL : ASYNC_MODEL);
    if (short) {
      setStatus("Recognising…");
      await streamSync(ref, options, (text, info) => token === loadToken && showLiveText(text, info));
      if (token !== loadToken) return;
      setStatus(options.diarize ? "Adding sentence times and speakers…" : "Adding sentence times…");
    }
    const taskId = await submitTask(ref, options);
    audioUrls.set(taskId, url);
    view.taskId = taskId;
    remember(taskId, file.name);
    refreshTasks();
    await followTask(taskId, file.name, token, short);
  } catch (error) {
    if (token !== loadToken) return;
    setStatus("Failed.");
    setProgress(null);
    showError(error);
  }
}

async function followTask(taskId, name, token, quiet) {
  const doc = await waitForTask(taskId, token, (output) => {
    if (quiet) return;
    setProgress(output.progress || 0);
    const done = output.audio_seconds_done ? ` (${clock(output.audio_seconds_done * 1000)} of audio done)` : "";
    setStatus(`Task ${output.task_status.toLowerCase()}${done}`);
  });
  if (doc === null || token !== loadToken) return;
  setProgress(quiet ? null : 1);
  setStatus("Done.");
  showResult(doc, name);
  refreshTasks();
}

async function openTask(taskId) {
  const token = ++loadToken;
  showError(null);
  const names = JSON.parse(localStorage.getItem(STORE.names) || "{}");
  openJob(names[taskId] || taskId, taskId);
  localStorage.setItem(STORE.current, taskId);
  setProgress(0);
  setStatus("Loading the task…");
  try {
    await followTask(taskId, names[taskId] || taskId, token, false);
  } catch (error) {
    if (token !== loadToken) return;
    setStatus("Failed.");
    setProgress(null);
    showError(error);
  }
}

async function refreshTasks() {
  let body;
  try {
    body = await api("/api/v1/tasks?page_size=10");
  } catch (error) {
    showError(error);
    return;
  }
  const names = JSON.parse(localStorage.getItem(STORE.names) || "{}");
  $("tasks").replaceChildren(
    ...body.data.map((task) => {
      const item = document.createElement("li");
      const open = document.createElement("button");
      open.type = "button";
      open.dataset.testid = "task";
      open.dataset.taskId = task.task_id;
      open.textContent = names[task.task_id] || task.task_id;
      open.addEventListener("click", () => openTask(task.task_id));
      const status = document.createElement("span");
      status.className = "muted";
      const when = task.gmt_create ? new Date(task.gmt_create).toLocaleString() : "";
      status.textContent = ` ${task.status.toLowerCase()} ${when}`;
      item.append(open, status);
      return item;
    }),
  );
}

// -------------------------------------------------------------------------------------- recording

let recorder = null;

async function startRecording() {
  showError(null);
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  } catch (error) {
    showError(new ApiError("Microphone", `the microphone is not available: ${error.message}`));
    return;
  }
  const chunks = [];
  recorder = new MediaRecorder(stream);
  recorder.addEventListener("dataavailable", (event) => event.data.size && chunks.push(event.data));
  recorder.addEventListener("stop", () => {
    stream.getTracks().forEach((track) => track.stop());
    const type = recorder.mimeType || "audio/webm";
    const suffix = type.includes("ogg") ? "ogg" : type.includes("mp4") ? "m4a" : "webm";
    const stamp = new Date().toISOString().replace(/[:.]/g, "-");
    recorder = null;
    $("record").disabled = false;
    $("stop").disabled = true;
    $("record-status").textContent = "";
    transcribe(new File(chunks, `recording-${stamp}.${suffix}`, { type }));
  });
  recorder.start(1000);
  $("record").disabled = true;
  $("stop").disabled = false;
  $("stop").focus();
  $("record-status").textContent = "Recording…";
}

// ---------------------------------------------------------------------------------------- start-up

async function needsKey() {
  const response = await fetch("/api/v1/tasks?page_size=1");
  return response.status === 401;
}

function wire() {
  $("file").addEventListener("change", () => $("file").files[0] && transcribe($("file").files[0]));
  const drop = $("drop");
  drop.addEventListener("dragover", (event) => {
    event.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    const file = event.dataTransfer.files[0];
    if (file) transcribe(file);
  });
  $("record").addEventListener("click", startRecording);
  $("stop").addEventListener("click", () => recorder && recorder.stop());
  $("api-key").addEventListener("input", () => localStorage.setItem(STORE.key, $("api-key").value.trim()));
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    localStorage.setItem(STORE.key, $("api-key").value.trim());
    showError(null);
    start();
  });
  $("copy").addEventListener("click", async () => {
    if (!view.result) return;
    await navigator.clipboard.writeText(renderText(view.result));
    $("copy").textContent = "Copied";
    setTimeout(() => ($("copy").textContent = "Copy text"), 1500);
  });
  const transcript = $("transcript");
  transcript.addEventListener("click", (event) => {
    const item = event.target.closest("[data-testid=word], [data-testid=sentence]");
    if (item) seekTo(item);
  });
  transcript.addEventListener("keydown", (event) => {
    const item = event.target.closest("[data-testid=sentence]");
    if (item && (event.key === "Enter" || event.key === " ")) {
      event.preventDefault();
      seekTo(item);
    }
  });
  $("player").addEventListener("timeupdate", highlight);
  $("player").addEventListener("seeked", highlight);
}

async function start() {
  $("api-key").value = localStorage.getItem(STORE.key) || "";
  try {
    if (await needsKey()) {
      $("key-section").hidden = false;
      if (!localStorage.getItem(STORE.key)) {
        $("api-key").focus();
        return;
      }
    }
  } catch (error) {
    showError(new ApiError("Offline", `the server cannot be reached: ${error.message}`));
    return;
  }
  await refreshTasks();
  const current = localStorage.getItem(STORE.current);
  if (current && $("error").hidden && view.taskId === null) openTask(current);
}

wire();
start();
