"""A request body whose client goes away part-way, for the tests of streamed writes (uploads, blobs)."""

from __future__ import annotations

import io


class DroppedClient(io.RawIOBase):
    """Gives `blocks` blocks of zeros, then fails as a reset connection does."""

    def __init__(self, blocks: int) -> None:
        self.blocks = blocks

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
        if self.blocks == 0:
            raise ConnectionResetError("the client went away")
        self.blocks -= 1
        buffer[:] = b"\0" * len(buffer)
        return len(buffer)
