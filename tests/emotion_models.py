"""Tiny emotion classifiers built on the spot, with random weights, for the real loading code paths.

No registry package ships speech-emotion weights, so tests build checkpoints of the real model classes
with shrunk configurations (a few thousand parameters, built in well under a second):

* `tiny_transformers_model` — a `Wav2Vec2ForSequenceClassification` + `Wav2Vec2FeatureExtractor` saved
  with `save_pretrained`, whose `id2label` is what the caller gives (the seven classes by default);
* `tiny_emotion2vec_model` — FunASR's own `Emotion2vec` class with emotion2vec+'s nine classes, saved as
  FunASR's `config.yaml` + `model.pt` + `tokens.txt` (needs `openasr[emotion2vec]`).

Random weights give arbitrary but deterministic emotions (the transformers head is scaled up so that
different audio gets different probabilities): tests check what flows where, not accuracy.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

SEVEN = ("angry", "disgusted", "fearful", "happy", "neutral", "sad", "surprised")
EMOTION2VEC_PLUS_LABELS = (
    "生气/angry",
    "厌恶/disgusted",
    "恐惧/fearful",
    "开心/happy",
    "中立/neutral",
    "其他/other",
    "难过/sad",
    "吃惊/surprised",
    "<unk>",
)


def tiny_transformers_model(directory: Path, labels: Sequence[str] = SEVEN, *, attention_mask: bool = True) -> Path:
    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2ForSequenceClassification

    torch.manual_seed(0)
    config = Wav2Vec2Config(
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        conv_dim=(16, 16, 16),
        conv_kernel=(10, 3, 3),
        conv_stride=(5, 4, 4),
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
        classifier_proj_size=8,
        feat_extract_norm="layer" if attention_mask else "group",
        do_stable_layer_norm=attention_mask,
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
    )
    model = Wav2Vec2ForSequenceClassification(config).eval()
    with torch.no_grad():  # default init gives near-uniform classes; scaled up, different audio differs
        model.classifier.weight.normal_(0.0, 1.0)
        model.projector.weight.normal_(0.0, 1.0)
    model.save_pretrained(directory)
    extractor = Wav2Vec2FeatureExtractor(
        feature_size=1, sampling_rate=16_000, padding_value=0.0, do_normalize=True, return_attention_mask=attention_mask
    )
    extractor.save_pretrained(directory)
    return directory


def tiny_emotion2vec_model(directory: Path) -> Path:
    import torch
    import yaml
    from funasr.models.emotion2vec.model import Emotion2vec

    torch.manual_seed(0)
    directory.mkdir(parents=True, exist_ok=True)
    audio = {
        "type": "AUDIO",
        "extractor_mode": "layer_norm",
        "feature_encoder_spec": "[(16, 10, 5)] + [(16, 3, 2)] * 2 + [(16, 2, 2)]",
        "conv_pos_width": 15,
        "conv_pos_groups": 2,
        "conv_pos_depth": 1,
        "conv_pos_pre_ln": False,
        "prenet_depth": 1,
        "prenet_layerdrop": 0.0,
        "prenet_dropout": 0.0,
        "start_drop_path_rate": 0.0,
        "end_drop_path_rate": 0.0,
        "num_extra_tokens": 0,
        "init_extra_token_zero": True,
        "use_alibi_encoder": True,
        "alibi_scale": 1.0,
        "learned_alibi": False,
        "alibi_max_pos": None,
        "learned_alibi_scale": True,
        "learned_alibi_scale_per_head": True,
        "learned_alibi_scale_per_layer": False,
        "num_alibi_heads": 2,
        "model_depth": 1,
        "decoder": None,
        "local_grad_mult": 1.0,
        "ema_local_encoder": False,
        "mask_prob": 0.0,
        "mask_prob_min": None,
        "mask_length": 5,
        "mask_noise_std": 0.01,
        "mask_prob_adjust": 0.0,
        "keep_masked_pct": 0.0,
        "inverse_mask": False,
        "add_masks": False,
        "remove_masks": False,
        "mask_dropout": 0.0,
        "encoder_zero_mask": True,
        "mask_channel_prob": 0.0,
        "mask_channel_length": 64,
    }
    model_conf = {
        "embed_dim": 16,
        "depth": 1,
        "num_heads": 2,
        "mlp_ratio": 2.0,
        "norm_eps": 1e-05,
        "norm_affine": True,
        "encoder_dropout": 0.0,
        "post_mlp_drop": 0.0,
        "attention_dropout": 0.0,
        "activation_dropout": 0.0,
        "dropout_input": 0.0,
        "layerdrop": 0.0,
        "start_drop_path_rate": 0.0,
        "end_drop_path_rate": 0.0,
        "layer_norm_first": False,
        "average_top_k_layers": 1,
        "end_of_block_targets": False,
        "clone_batch": 1,
        "loss_beta": 0.0,
        "loss_scale": None,
        "normalize": True,
        "modalities": {"audio": audio},
    }
    config = {
        "model": "Emotion2vec",
        "model_conf": model_conf,
        "tokenizer": "CharTokenizer",
        "tokenizer_conf": {"unk_symbol": "<unk>", "split_with_space": True},
    }
    model = Emotion2vec(model_conf=model_conf, vocab_size=len(EMOTION2VEC_PLUS_LABELS))
    torch.save(model.state_dict(), directory / "model.pt")
    (directory / "config.yaml").write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    (directory / "tokens.txt").write_text("\n".join(EMOTION2VEC_PLUS_LABELS) + "\n", encoding="utf-8")
    return directory
