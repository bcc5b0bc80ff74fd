"""openasr: self-hosted speech recognition with the Qwen3-ASR (DashScope) and OpenAI APIs."""

__version__ = "0.1.0"
