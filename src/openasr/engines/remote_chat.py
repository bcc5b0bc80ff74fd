"""The wire format of a chunk sent to vLLM's `POST /v1/chat/completions` (`vllm serve Qwen/Qwen3-ASR-1.7B`).

Why chat and not `/v1/audio/transcriptions`: in vLLM (vllm-project/vllm, commit 01ed47b,
`vllm/model_executor/models/qwen3_asr.py`) the Qwen3-ASR class does not set
`supports_segment_timestamp`, so the serving code refuses `verbose_json`; `get_generation_prompt` builds
the transcription prompt from `to_language` (not the request's `language`, vllm#33768) and with no
system turn, so a context is dropped; and `post_process_output` returns only the text after the last
`<asr_text>`, so the detected language is lost. Chat completions runs the model's own chat template
instead, exactly as qwen-asr's vLLM backend prompts it (QwenLM/Qwen3-ASR `qwen_asr/inference/qwen3_asr.py`,
`_build_messages`, lines 448-465): the context as the system message, the audio as the user turn, and a
forced language as the start of the assistant turn, which vLLM continues (`continue_final_message`)
instead of opening a new one. The answer is the model's raw output, header included, which the same
parser as the in-process engine reads.
"""

from __future__ import annotations

import base64
from typing import Any

from openasr.engines.qwen3_languages import language_name


def chat_request(model: str, wav: bytes, context: str, language: str | None, max_tokens: int) -> dict[str, Any]:
    """The JSON body for one chunk (`language` a service code, None to let the model detect it)."""
    audio = f"data:audio/wav;base64,{base64.b64encode(wav).decode('ascii')}"
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": context},
        {"role": "user", "content": [{"type": "audio_url", "audio_url": {"url": audio}}]},
    ]
    body: dict[str, Any] = {"model": model, "messages": messages, "temperature": 0.0, "max_tokens": max_tokens}
    if language is not None:
        messages.append({"role": "assistant", "content": f"language {language_name(language)}<asr_text>"})
        body |= {"continue_final_message": True, "add_generation_prompt": False}
    return body


def chat_answer(body: dict[str, Any]) -> tuple[str, bool]:
    """The raw text the model wrote and whether it was cut by `max_tokens` (`finish_reason` "length")."""
    choices = body.get("choices") or [{}]
    choice = choices[0] if isinstance(choices[0], dict) else {}
    message = choice.get("message") or {}
    return str(message.get("content") or ""), choice.get("finish_reason") == "length"
