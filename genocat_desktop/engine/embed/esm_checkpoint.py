"""Read a local ESM-2 checkpoint as a ``transformers.EsmModel`` (for :mod:`.esm_export`).

Accepted checkpoints:

* a fair-esm ``.pt`` file (``esm2_t6_8M_UR50D.pt`` ... ``esm2_t33_650M_UR50D.pt``,
  as published by Meta), loaded without running any pickled code;
* a Hugging Face model folder (``config.json`` + ``model.safetensors`` or
  ``pytorch_model.bin``, e.g. a local copy of ``facebook/esm2_t6_8M_UR50D``).

Both become a ``transformers.EsmModel`` with *eager* attention (the SDPA path
exports extra ``Where``/``IsNaN`` nodes that cost ~25% of kernel time). Nothing
is downloaded. Needs the ``export`` extra (torch, transformers); the app itself
never imports this module.
"""

from __future__ import annotations

import argparse
import os
import pickle
import re
from pathlib import Path
from typing import Any, Final

from genocat_desktop.engine.core.errors import InputError
from genocat_desktop.engine.embed.embedders.esm_tokens import ESM2_TOKENS

__all__ = ["ESM2_HEADS", "ESM2_SHAPES", "build_random_model", "load_checkpoint"]

#: Shapes of the published ESM-2 models (for random-weight stand-ins in tests and benchmarks).
ESM2_SHAPES: Final = {
    "t6_8M": {"hidden": 320, "layers": 6, "heads": 20},
    "t12_35M": {"hidden": 480, "layers": 12, "heads": 20},
    "t30_150M": {"hidden": 640, "layers": 30, "heads": 20},
    "t33_650M": {"hidden": 1280, "layers": 33, "heads": 20},
}
#: ESM-2 attention heads by embedding width (all published sizes): fair-esm
#: checkpoints store the head count only in a pickled config object.
ESM2_HEADS: Final = {320: 20, 480: 20, 640: 20, 1280: 20, 2560: 40, 5120: 40}

_SAFE_MODULES: Final = ("torch", "collections", "numpy", "_codecs", "argparse")


class _Stub:
    """Stands in for any pickled class we do not trust (fairseq/omegaconf configs): never runs its code."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._args = args

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, dict):
            self.__dict__.update(state)

    def __call__(self, *args: Any, **kwargs: Any) -> _Stub:
        return _Stub(*args)


class _StubUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if module.split(".")[0] in _SAFE_MODULES:
            return super().find_class(module, name)
        if module == "builtins" and name in ("set", "frozenset", "dict", "list", "tuple", "slice", "getattr"):
            return super().find_class(module, name)
        return _Stub


class _StubPickleModule:
    """A ``pickle_module`` for :func:`torch.load` whose unpickler only builds torch/numpy objects."""

    Unpickler = _StubUnpickler
    load = staticmethod(pickle.load)
    __name__ = "genocat_stub_pickle"


def _load_pt(path: Path) -> dict[str, Any]:
    import torch

    try:
        # The secure loader first; fair-esm configs are argparse Namespaces, allowed explicitly.
        with torch.serialization.safe_globals([argparse.Namespace]):
            data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        # Checkpoints saved from fairseq pickle config classes (omegaconf...). Read
        # them with an unpickler that replaces every non-torch class by an inert stub.
        data = torch.load(path, map_location="cpu", weights_only=False, pickle_module=_StubPickleModule)
    except (OSError, RuntimeError) as exc:
        raise InputError(f"cannot read the checkpoint {path.name}: {exc}") from None
    if not isinstance(data, dict):
        raise InputError(f"{path.name} is not a fair-esm checkpoint (no state dictionary)")
    return data


def _cfg_value(cfg: Any, key: str) -> Any:
    if isinstance(cfg, dict):
        return cfg.get(key)
    return getattr(cfg, key, None)


def _load_hf_folder(path: Path) -> Any:
    """Build ``EsmModel`` from a Hugging Face folder's own files (config + weights).

    Read directly rather than through the hub loader, so nothing can ever be
    fetched over the network: ``config.json`` and ``model.safetensors`` (or
    its shards, or ``pytorch_model.bin``). Weights saved from
    ``EsmForMaskedLM`` carry an ``esm.`` prefix; heads are ignored.
    """
    import torch
    from transformers import EsmConfig, EsmModel

    config = EsmConfig.from_json_file(str(path / "config.json"))
    config._attn_implementation = "eager"
    files = sorted(path.glob("model*.safetensors"))
    state: dict[str, Any] = {}
    if files:
        from safetensors.torch import load_file

        for f in files:
            state.update(load_file(str(f)))
    elif (path / "pytorch_model.bin").is_file():
        state = torch.load(str(path / "pytorch_model.bin"), map_location="cpu", weights_only=True)
    else:
        raise ValueError("no weights (model.safetensors or pytorch_model.bin) in the folder")
    # transformers writes LayerNorm parameters under their legacy names (gamma/beta).
    renames = {".LayerNorm.gamma": ".LayerNorm.weight", ".LayerNorm.beta": ".LayerNorm.bias",
               "layer_norm.gamma": "layer_norm.weight", "layer_norm.beta": "layer_norm.bias"}
    fixed: dict[str, Any] = {}
    for key, value in state.items():
        key = key.removeprefix("esm.")
        for old, new in renames.items():
            if key.endswith(old):
                key = key[: -len(old)] + new
        fixed[key] = value
    state = fixed
    model = EsmModel(config, add_pooling_layer=False)
    missing, _unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("inv_freq") and not k.startswith("contact_head")]
    if missing:
        raise ValueError(f"the weights do not fit ESM-2 (missing {missing[:3]})")
    return model.float()


def _fair_esm_to_hf(data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Map a fair-esm ESM-2 state dict to ``transformers.EsmModel`` names; return (state, config kwargs)."""
    state = data.get("model", data)
    if not isinstance(state, dict):
        raise InputError("the checkpoint has no 'model' state dictionary")
    # fair-esm's own upgrade: drop the fairseq prefixes.
    prefix = re.compile(r"^(encoder\.sentence_encoder\.|encoder\.)")
    state = {prefix.sub("", k): v for k, v in state.items()}
    if "embed_tokens.weight" not in state:
        raise InputError("not an ESM-2 checkpoint: no embed_tokens.weight (ESM-1 and ESM-1b are not supported)")
    rename = {
        "self_attn.q_proj": "attention.self.query",
        "self_attn.k_proj": "attention.self.key",
        "self_attn.v_proj": "attention.self.value",
        "self_attn.out_proj": "attention.output.dense",
        "self_attn_layer_norm": "attention.LayerNorm",
        "final_layer_norm": "LayerNorm",
        "fc1": "intermediate.dense",
        "fc2": "output.dense",
    }
    out: dict[str, Any] = {"embeddings.word_embeddings.weight": state["embed_tokens.weight"]}
    layers = set()
    for key, value in state.items():
        m = re.match(r"^layers\.(\d+)\.(.+)\.(weight|bias)$", key)
        if m:
            layer, part, kind = m.groups()
            if part in rename:
                out[f"encoder.layer.{layer}.{rename[part]}.{kind}"] = value
                layers.add(int(layer))
        elif key.startswith("emb_layer_norm_after."):
            out["encoder." + key] = value
    vocab, dim = state["embed_tokens.weight"].shape
    if vocab != len(ESM2_TOKENS):
        raise InputError(f"the checkpoint has {vocab} tokens; the ESM-2 alphabet has {len(ESM2_TOKENS)}")
    cfg = data.get("cfg", {})
    cfg = _cfg_value(cfg, "model") or data.get("args")
    heads = _cfg_value(cfg, "encoder_attention_heads") if cfg is not None else None
    heads = int(heads) if isinstance(heads, int) else ESM2_HEADS.get(int(dim))
    if heads is None:
        raise InputError(f"cannot tell the number of attention heads of a {dim}-wide model from this checkpoint")
    token_dropout = _cfg_value(cfg, "token_dropout") if cfg is not None else None
    n_layers = max(layers) + 1 if layers else 0
    config = {
        "hidden_size": int(dim),
        "num_hidden_layers": n_layers,
        "num_attention_heads": heads,
        "intermediate_size": int(state["layers.0.fc1.weight"].shape[0]),
        "token_dropout": True if token_dropout is None else bool(token_dropout),
        "layer_norm_eps": 1e-5,  # torch.nn.LayerNorm's default, which fair-esm uses
    }
    return out, config


def _esm_config(**kwargs: Any) -> Any:
    from transformers import EsmConfig

    base = {
        "vocab_size": len(ESM2_TOKENS), "pad_token_id": 1, "mask_token_id": 32, "position_embedding_type": "rotary",
        "max_position_embeddings": 1026, "emb_layer_norm_before": False, "token_dropout": True,
        "hidden_dropout_prob": 0.0,
        "attention_probs_dropout_prob": 0.0,
    }
    return EsmConfig(**{**base, **kwargs})


def build_random_model(
    folder: str | os.PathLike[str], *, hidden: int = 64, layers: int = 2, heads: int = 4, seed: int = 0
) -> Any:
    """Save an ESM-2-shaped model with random weights as a Hugging Face folder; return it (eval mode).

    For tests and benchmarks, where no real checkpoint may be downloaded: the
    architecture, tokenizer and export path are the real ones. The token
    embeddings are drawn with unit variance (instead of 0.02) so tokens differ
    enough for comparisons to be sensitive. A ``vocab.txt`` is written too.
    """
    import torch
    from transformers import EsmModel

    torch.manual_seed(seed)
    config = _esm_config(hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                         intermediate_size=4 * hidden, layer_norm_eps=1e-5)
    config._attn_implementation = "eager"
    model = EsmModel(config, add_pooling_layer=False)
    with torch.no_grad():
        model.embeddings.word_embeddings.weight.normal_(0, 1.0)
    model.eval()
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    (path / "vocab.txt").write_text("\n".join(ESM2_TOKENS) + "\n")
    return model


def load_checkpoint(checkpoint: str | os.PathLike[str]) -> tuple[Any, dict[str, Any]]:
    """Load a local ESM-2 checkpoint as a ``transformers.EsmModel`` in eval mode, eager attention.

    Returns
    -------
    model, info
        The model and what is known about it: ``kind`` (``fair-esm`` or ``huggingface``),
        ``layers``, ``dim``, ``heads``.

    Raises
    ------
    InputError
        If the path is not an ESM-2 checkpoint.
    """
    import transformers
    from transformers import EsmModel

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    path = Path(checkpoint).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise InputError(f"{path} is not a Hugging Face model folder (no config.json)")
        vocab = path / "vocab.txt"
        if vocab.is_file() and tuple(vocab.read_text().split()) != ESM2_TOKENS:
            raise InputError(f"{path.name}: the vocabulary is not the ESM-2 alphabet")
        try:
            model = _load_hf_folder(path)
        except (OSError, ValueError, RuntimeError) as exc:
            raise InputError(f"cannot load the model folder {path}: {str(exc).splitlines()[0]}") from None
        kind = "huggingface"
    elif path.is_file():
        state, cfg = _fair_esm_to_hf(_load_pt(path))
        config = _esm_config(**cfg)
        config._attn_implementation = "eager"
        model = EsmModel(config, add_pooling_layer=False)
        missing, unexpected = model.load_state_dict(state, strict=False)
        missing = [k for k in missing if not k.endswith("inv_freq") and not k.startswith("contact_head")]
        if missing or unexpected:
            raise InputError(f"{path.name}: the weights do not fit ESM-2 (missing {missing[:3]}, "
                             f"unexpected {list(unexpected)[:3]})")
        kind = "fair-esm"
    else:
        raise InputError(f"no such checkpoint: {path}")
    model.eval()
    c = model.config
    if c.vocab_size != len(ESM2_TOKENS) or getattr(c, "position_embedding_type", "") != "rotary":
        raise InputError(f"{path.name} is not an ESM-2 model (vocabulary {c.vocab_size}, "
                         f"positions {getattr(c, 'position_embedding_type', '?')})")
    info = {"kind": kind, "layers": int(c.num_hidden_layers), "dim": int(c.hidden_size),
            "heads": int(c.num_attention_heads)}
    return model, info
