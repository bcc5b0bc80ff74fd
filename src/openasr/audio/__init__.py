"""L1 audio input: resolve audio references to local files (sources) and decode them (decode)."""
