"""A real static file server on loopback for audio URLs the openasr server fetches (no internet needed).

`static_server(directory)` is a `http.server.ThreadingHTTPServer` on 127.0.0.1 (a free port) serving
`directory`, in a daemon thread; it yields the base URL ``http://127.0.0.1:PORT``. Two path prefixes
answer without touching the directory, for the fetch-failure tests:

* ``/forbidden/…`` → 403 Forbidden (a private bucket object),
* ``/missing/…`` → 404 Not Found (any other path that names no file answers 404 too),
* ``/trickle/…`` → 200 with 1 MB declared, then one byte every 0.1 s for up to a minute (a source that
  never pauses long enough for a read timeout).

Request logging is off so test output stays readable.
"""

from __future__ import annotations

import functools
import http.server
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

FORBIDDEN = "/forbidden/"
MISSING = "/missing/"
TRICKLE = "/trickle/"


class _Handler(http.server.SimpleHTTPRequestHandler):
    def send_head(self) -> Any:
        if self.path.startswith(FORBIDDEN):
            self.send_error(403, "Forbidden")
            return None
        if self.path.startswith(MISSING):
            self.send_error(404, "Not Found")
            return None
        if self.path.startswith(TRICKLE):
            self._trickle()
            return None
        return super().send_head()

    def _trickle(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "audio/wav")
        self.send_header("Content-Length", str(1 << 20))
        self.end_headers()
        for _ in range(600):
            try:
                self.wfile.write(b"\0")
                self.wfile.flush()
            except OSError:  # the client gave up: what the test wants
                return
            time.sleep(0.1)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def static_server(directory: Path) -> Iterator[str]:
    """Serve `directory` until the block ends; yields ``http://127.0.0.1:PORT``."""
    handler = functools.partial(_Handler, directory=str(directory))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, name="static-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)
