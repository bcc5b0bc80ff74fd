"""A process that ends while an engine thread is decoding exits cleanly, not with the C++ runtime's abort.

A realtime client that leaves mid-final, or a script whose daemon thread is still transcribing when the
main thread returns, left CTranslate2 running in a batcher's daemon thread; interpreter teardown then
killed it mid-call ("terminate called", exit 134, or a segfault).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

CLIP = Path(__file__).resolve().parents[1] / "data" / "en" / "two_cities.flac"

SCRIPT = textwrap.dedent(
    """
    import sys, threading
    from pathlib import Path
    from openasr import pipeline
    from openasr.core.options import TranscribeOptions
    from openasr.runtime.engine_pool import EnginePool
    from openasr.settings import Settings

    settings = Settings()
    engine = EnginePool(settings.cache_dir, settings.engine_config()).get("whisper-base")
    options = TranscribeOptions(model="whisper-base")
    threading.Thread(target=lambda: pipeline.run(Path(sys.argv[1]), options, engine), daemon=True).start()
    while not engine.stats.batches:  # a batch is in the engine: end the process now
        threading.Event().wait(0.05)
    threading.Event().wait(0.5)  # well inside the batch's encoder call
    print("exiting while the engine decodes", flush=True)
    """
)


def test_the_process_exits_cleanly_while_a_daemon_thread_decodes() -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(CLIP)], capture_output=True, text=True, timeout=300)
    assert "exiting while the engine decodes" in done.stdout
    assert done.returncode == 0, done.stderr[-2000:]
