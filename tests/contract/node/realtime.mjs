// node realtime.mjs BASE_URL KEY PCM24K_FILE CA_FILE: a realtime transcription session with the OpenAI
// Node SDK's `OpenAIRealtimeWS` (which only speaks wss://, hence the test's TLS server and CA): manual
// commit of the raw 24 kHz s16le file in 100 ms frames; every server event is printed as one JSON line.
import fs from "node:fs";
import OpenAI from "openai";
import { OpenAIRealtimeWS } from "openai/realtime/ws";

const [baseURL, apiKey, pcmFile, caFile] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0 });
const rt = new OpenAIRealtimeWS({ intent: "transcription", options: { ca: fs.readFileSync(caFile) } }, client);
const COMPLETED = "conversation.item.input_audio_transcription.completed";

rt.on("error", (error) => {
  console.log(JSON.stringify({ type: "sdk.error", message: String(error.message || error) }));
});
rt.on("event", (event) => {
  console.log(JSON.stringify(event));
  if (event.type === COMPLETED) rt.close();
});
rt.socket.on("open", () => {
  const input = { format: { type: "audio/pcm", rate: 24000 }, transcription: { model: "whisper-1", language: "en" }, turn_detection: null };
  rt.send({ type: "session.update", session: { type: "transcription", audio: { input } } });
  const pcm = fs.readFileSync(pcmFile);
  for (let i = 0; i < pcm.length; i += 4800) {
    rt.send({ type: "input_audio_buffer.append", audio: pcm.subarray(i, i + 4800).toString("base64") });
  }
  rt.send({ type: "input_audio_buffer.commit" });
});
setTimeout(() => process.exit(3), 120000).unref();
