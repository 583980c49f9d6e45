"""Test helpers for ESM-2: the reference vocabulary file and fair-esm style checkpoints.

Random-weight models of the real architecture come from
:func:`genocat_desktop.engine.embed.esm_export.build_random_model`; nothing is downloaded.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

from genocat_desktop.engine.embed.embedders.esm_tokens import ESM2_TOKENS


def write_vocab(path: Path) -> Path:
    """The ESM-2 ``vocab.txt``, one token a line (as in every HF ESM-2 checkpoint)."""
    path.write_text("\n".join(ESM2_TOKENS) + "\n")
    return path


def save_fair_esm_checkpoint(model: Any, path: Path, *, cfg: Any = None) -> Path:
    """Write ``model``'s weights under fair-esm's names, as Meta's ``esm2_*.pt`` files hold them."""
    import torch

    back = {
        "attention.self.query": "self_attn.q_proj",
        "attention.self.key": "self_attn.k_proj",
        "attention.self.value": "self_attn.v_proj",
        "attention.output.dense": "self_attn.out_proj",
        "attention.LayerNorm": "self_attn_layer_norm",
        "intermediate.dense": "fc1",
        "output.dense": "fc2",
        "LayerNorm": "final_layer_norm",
    }
    state = {}
    for key, value in model.state_dict().items():
        if key == "embeddings.word_embeddings.weight":
            state["encoder.sentence_encoder.embed_tokens.weight"] = value
        elif key.startswith("encoder.emb_layer_norm_after."):
            state["encoder.sentence_encoder." + key.removeprefix("encoder.")] = value
        else:
            m = re.match(r"^encoder\.layer\.(\d+)\.(.+)\.(weight|bias)$", key)
            if m:
                state[f"encoder.sentence_encoder.layers.{m[1]}.{back[m[2]]}.{m[3]}"] = value
    c = model.config
    if cfg is None:
        cfg = argparse.Namespace(encoder_layers=c.num_hidden_layers, encoder_embed_dim=c.hidden_size,
                                 encoder_attention_heads=c.num_attention_heads, token_dropout=True)
    torch.save({"model": state, "cfg": {"model": cfg}}, path)
    return path


def export_tiny_model(root: Path, name: str = "tiny", *, hidden: int = 64, layers: int = 2, heads: int = 4) -> Path:
    """A random-weight ESM-2 of the real architecture, exported to ``root/<name>.onnx`` like ``genocat model export``.

    Needs the ``[export]`` extra (torch, transformers), which ``[dev]`` installs.
    """
    from genocat_desktop.engine.embed.esm_export import build_random_model, export_esm

    build_random_model(root / "hf", hidden=hidden, layers=layers, heads=heads)
    return export_esm(root / "hf", root / f"{name}.onnx", name=name).path
