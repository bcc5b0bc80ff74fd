"""The one error a realtime session or its audio decoding raises: a wire-neutral code, a message, and the
field at fault. Surfaces render it as their own `error` event; the session goes on."""

from __future__ import annotations

INVALID_VALUE = "invalid_value"
"""A field has a value the server cannot honour (an unknown format, a bad language, bad base64)."""
INVALID_EVENT = "invalid_event"
"""A client event the surface does not know, or one that is not a JSON object."""
FRAME_TOO_LARGE = "event_too_large"
"""One client frame over the per-event limit (15 MiB of base64, spec §1.3)."""
COMMIT_EMPTY = "input_audio_buffer_commit_empty"
"""A manual commit with less than 100 ms of audio since the last one."""
BUFFER_TOO_LONG = "input_audio_buffer_too_long"
"""Manual mode: more than 60 s of uncommitted audio; the excess is dropped."""
IDLE_TIMEOUT = "idle_timeout"
"""No frame from the client for the idle limit."""
SESSION_TOO_LONG = "session_expired"
"""The session reached its maximum duration."""
SERVER_ERROR = "server_error"
"""The server failed on an event (a fault of its own, logged): the session ends."""


class RealtimeError(Exception):
    """A client mistake in one event: the surface answers it with an `error` event and the session
    continues (`param` names the field, as the cloud's `error.param` does)."""

    def __init__(self, code: str, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.param = param
