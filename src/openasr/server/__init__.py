"""HTTP surfaces: DashScope native (/api/v1), OpenAI-compatible (/compatible-mode/v1, /v1)."""
