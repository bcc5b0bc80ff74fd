"""Process-wide runtime: loaded engines, shared between callers."""
