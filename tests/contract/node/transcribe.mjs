// node transcribe.mjs BASE_URL KEY FILE MODEL: stream a transcription with the OpenAI Node SDK and print
// every event it yields as one JSON line (the test reads them).
import fs from "node:fs";
import OpenAI from "openai";

const [baseURL, apiKey, file, model] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0 });
const stream = await client.audio.transcriptions.create({ file: fs.createReadStream(file), model, stream: true });
for await (const event of stream) {
  console.log(JSON.stringify(event));
}
