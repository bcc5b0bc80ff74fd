// Live mode: the microphone through an AudioWorklet as PCM16 frames over the OpenAI realtime WebSocket
// (`/v1/realtime?intent=transcription`, key in the `openai-insecure-api-key.<key>` subprotocol, as
// browsers must). The partial line shows the open item's confirmed words as they arrive; each final
// becomes a line with its time. Stop ends the microphone, commits what is open, waits for its final and
// closes. The session's lines download as TXT and SRT. Uses app.js's helpers ($, apiKey, showError …).
"use strict";

const LIVE_RATE = 24000;
const LIVE_SILENCE_MS = 800; // longer turns than OpenAI's 500 ms default: short items decode worse
const STOP_WAIT_MS = 30000;
let live = null;

function liveUrl() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/v1/realtime?intent=transcription`;
}

function toBase64(buffer) {
  const bytes = new Uint8Array(buffer);
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

function liveSession(options) {
  const transcription = { model: "whisper-1", language: options.language || null, prompt: options.context };
  const turns = { type: "server_vad", threshold: 0.5, prefix_padding_ms: 300, silence_duration_ms: LIVE_SILENCE_MS };
  const input = { format: { type: "audio/pcm", rate: LIVE_RATE }, transcription, turn_detection: turns };
  return { type: "session.update", session: { type: "transcription", audio: { input } } };
}

async function startLive() {
  showError(null);
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({
      audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false },
    });
  } catch (error) {
    showError(new ApiError("Microphone", `the microphone is not available: ${error.message}`));
    return;
  }
  const key = apiKey();
  const socket = new WebSocket(liveUrl(), key ? ["realtime", `openai-insecure-api-key.${key}`] : ["realtime"]);
  const context = new AudioContext({ sampleRate: LIVE_RATE });
  live = { socket, context, stream, items: new Map(), open: new Set(), finals: [], stopping: null };
  socket.onopen = () => socket.send(JSON.stringify(liveSession(readOptions())));
  socket.onmessage = (event) => onLiveEvent(JSON.parse(event.data));
  socket.onclose = (event) => {
    if (live && live.socket === socket) endLive(event.code === 1000 || live.stopping ? null : `closed (${event.code})`);
  };
  resetLiveView();
  await context.audioWorklet.addModule("/web/pcm-worklet.js");
  const node = new AudioWorkletNode(context, "pcm-frames");
  context.createMediaStreamSource(stream).connect(node);
  node.port.onmessage = (event) => {
    if (socket.readyState === WebSocket.OPEN && live && !live.stopping) {
      socket.send(JSON.stringify({ type: "input_audio_buffer.append", audio: toBase64(event.data) }));
    }
  };
  $("live-start").disabled = true;
  $("live-stop").disabled = false;
  $("live-status").textContent = "Listening…";
}

function resetLiveView() {
  $("live").hidden = false;
  $("live-partial").textContent = "";
  $("live-finals").replaceChildren();
  $("live-actions").hidden = true;
}

function onLiveEvent(event) {
  const item = event.item_id && (live.items.get(event.item_id) || { text: "", beginMs: 0, endMs: 0 });
  if (item) live.items.set(event.item_id, item);
  switch (event.type) {
    case "input_audio_buffer.speech_started":
      item.beginMs = event.audio_start_ms;
      live.open.add(event.item_id);
      break;
    case "input_audio_buffer.speech_stopped":
      item.endMs = event.audio_end_ms;
      break;
    case "input_audio_buffer.committed":
      live.open.add(event.item_id);
      break;
    case "conversation.item.input_audio_transcription.delta":
      item.text += event.delta;
      $("live-partial").textContent = item.text;
      break;
    case "conversation.item.input_audio_transcription.completed":
    case "conversation.item.input_audio_transcription.failed":
      finishItem(event.item_id, item, event.transcript);
      break;
    case "error":
      if (event.error.code !== "input_audio_buffer_commit_empty") showError(new ApiError(event.error.code, event.error.message));
      break;
  }
  if (live.stopping && live.open.size === 0) live.stopping();
}

function finishItem(itemId, item, transcript) {
  live.open.delete(itemId);
  $("live-partial").textContent = "";
  if (!transcript) return;
  live.finals.push({ beginMs: item.beginMs, endMs: Math.max(item.endMs, item.beginMs), text: transcript });
  const line = document.createElement("p");
  line.className = "sentence";
  line.dataset.testid = "live-final";
  const time = document.createElement("span");
  time.className = "time";
  time.textContent = clock(item.beginMs);
  const text = document.createElement("span");
  text.className = "text";
  text.textContent = transcript;
  line.append(time, text);
  $("live-finals").append(line);
  const doc = { transcripts: [{ channel_id: 0, text: live.finals.map((f) => f.text).join("\n"),
    sentences: live.finals.map((f) => ({ begin_time: f.beginMs, end_time: f.endMs, text: f.text })) }] };
  const stamp = "live";
  setDownload("live-txt", renderText(doc), "text/plain", stamp);
  setDownload("live-srt", renderSrt(doc), "application/x-subrip", stamp);
  $("live-actions").hidden = false;
}

async function stopLive() {
  if (!live || live.stopping) return;
  $("live-stop").disabled = true;
  $("live-status").textContent = "Finishing…";
  live.stream.getTracks().forEach((track) => track.stop());
  await live.context.close();
  const done = new Promise((resolve) => {
    live.stopping = resolve;
    setTimeout(resolve, STOP_WAIT_MS);
  });
  if (live.socket.readyState === WebSocket.OPEN) {
    live.socket.send(JSON.stringify({ type: "input_audio_buffer.commit" }));
    if (live.open.size === 0) setTimeout(live.stopping, 1000); // nothing open: the commit's error ends it
    await done;
  }
  live.socket.close(1000);
  endLive(null);
}

function endLive(problem) {
  if (!live) return;
  if (problem) showError(new ApiError("Live", problem));
  live.stream.getTracks().forEach((track) => track.stop());
  if (live.context.state !== "closed") live.context.close();
  live = null;
  $("live-start").disabled = false;
  $("live-stop").disabled = true;
  $("live-status").textContent = "";
}

$("live-start").addEventListener("click", startLive);
$("live-stop").addEventListener("click", stopLive);
