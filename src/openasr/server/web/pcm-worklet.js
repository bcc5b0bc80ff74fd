// The microphone as 16-bit PCM: collects the audio thread's 128-sample blocks into ~100 ms frames of
// little-endian Int16 and posts each to the page, which sends it over the realtime WebSocket.
"use strict";

class PcmFrames extends AudioWorkletProcessor {
  constructor() {
    super();
    this.size = Math.round(sampleRate / 10);
    this.frame = new Int16Array(this.size);
    this.used = 0;
  }

  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (!channel) return true;
    for (let i = 0; i < channel.length; i++) {
      const s = Math.max(-1, Math.min(1, channel[i]));
      this.frame[this.used++] = s < 0 ? s * 32768 : s * 32767;
      if (this.used === this.size) {
        this.port.postMessage(this.frame.buffer, [this.frame.buffer]);
        this.frame = new Int16Array(this.size);
        this.used = 0;
      }
    }
    return true;
  }
}

registerProcessor("pcm-frames", PcmFrames);
