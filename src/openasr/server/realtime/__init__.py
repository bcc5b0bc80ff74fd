"""The WebSocket side of every realtime surface (`connection`); the surfaces' wire formats live with their
APIs (`server/dashscope/realtime.py`, the OpenAI surface beside its router)."""
