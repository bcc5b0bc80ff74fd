"""Real-time recognition: a session turns live audio into turns, partial captions and finals.

Protocol-agnostic: the WebSocket surfaces (`server/realtime/`, the DashScope and OpenAI wire formats)
decode client frames with `audio_in`, drive a `session.RealtimeSession`, and render the `events` it emits.
Finals go through the offline pipeline (`pipeline.start`), so a final equals `openasr.transcribe` of the
same samples; partials are extra low-priority decodes of the open item.
"""
