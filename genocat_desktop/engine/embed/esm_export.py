"""Convert an ESM-2 checkpoint to ONNX, once, offline (``genocat model export``).

Needs the ``export`` extra (torch, transformers, onnx); the app itself never
imports this module's dependencies, only onnxruntime. Nothing is downloaded:
the checkpoint is a local file or folder.

Accepted checkpoints:

* a fair-esm ``.pt`` file (``esm2_t6_8M_UR50D.pt`` ... ``esm2_t33_650M_UR50D.pt``,
  as published by Meta), loaded without running any pickled code;
* a Hugging Face model folder (``config.json`` + ``model.safetensors`` or
  ``pytorch_model.bin``, e.g. a local copy of ``facebook/esm2_t6_8M_UR50D``).

Both become a ``transformers.EsmModel`` with *eager* attention (the SDPA path
exports extra ``Where``/``IsNaN`` nodes that cost ~25% of kernel time), which
is exported with the TorchScript-based exporter (``dynamo=False``, opset 17:
seconds, where the dynamo exporter takes much longer) with dynamic batch and
token axes. The ONNX file is then checked against PyTorch on a padded batch of
proteins of different lengths; the export fails if the pooled, normalised
embeddings differ by more than ``tolerance``. ``quantize="int8"`` applies ONNX
Runtime's dynamic int8 quantisation to the weights of the matrix products and
reports the cosine similarity of its embeddings to the fp32 model's.

The manifest (name, layers, dimension, heads, alphabet, quantisation,
verification figures, source checkpoint, SHA-256) is written next to the
model as ``FILE.onnx.json`` and embedded in the ONNX file's metadata, so
``genocat model add FILE.onnx`` works with the file alone.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np

from genocat_desktop.engine.core.errors import EmbedderError, InputError
from genocat_desktop.engine.core.progress import CancelToken, Progress, ProgressCallback, no_progress
from genocat_desktop.engine.embed.embedders.esm_tokens import ESM2_TOKENS, encode_batch
from genocat_desktop.engine.embed.models import MANIFEST_KEY, model_sha256

__all__ = ["ExportReport", "build_random_model", "export_esm", "load_checkpoint", "pooled", "sample_proteins"]

#: Shapes of the published ESM-2 models (for random-weight stand-ins in tests and benchmarks).
ESM2_SHAPES: Final = {
    "t6_8M": {"hidden": 320, "layers": 6, "heads": 20},
    "t12_35M": {"hidden": 480, "layers": 12, "heads": 20},
    "t30_150M": {"hidden": 640, "layers": 30, "heads": 20},
    "t33_650M": {"hidden": 1280, "layers": 33, "heads": 20},
}

OPSET: Final = 17
#: ESM-2 attention heads by embedding width (all published sizes): fair-esm
#: checkpoints store the head count only in a pickled config object.
ESM2_HEADS: Final = {320: 20, 480: 20, 640: 20, 1280: 20, 2560: 40, 5120: 40}
#: Above this size the weights go to a ``FILE.onnx.data`` file (protobuf's 2 GB limit).
EXTERNAL_DATA_BYTES: Final = 1_800_000_000


@dataclass(slots=True)
class ExportReport:
    """What :func:`export_esm` wrote and how close it is to PyTorch.

    Attributes
    ----------
    path
        The ONNX file.
    manifest
        The manifest written next to it (``path + ".json"``).
    max_abs_diff
        Largest absolute difference of the last hidden states (real tokens only), ONNX vs PyTorch.
    max_abs_diff_pooled
        Largest absolute difference of the pooled, L2-normalised embeddings (what the app stores).
    cosine_to_fp32
        For a quantised model: the smallest cosine similarity of its embeddings to the fp32 model's.
    """

    path: Path
    manifest: dict[str, Any]
    max_abs_diff: float
    max_abs_diff_pooled: float
    cosine_to_fp32: float | None = None
    seconds: dict[str, float] = field(default_factory=dict)


def sample_proteins(
    count: int = 8, seed: int = 7, lengths: tuple[int, ...] = (3, 17, 64, 150, 230, 41, 9, 300)
) -> list[bytes]:
    """Deterministic protein-like test sequences of varied lengths (for verification and tests)."""
    rng = np.random.default_rng(seed)
    letters = np.frombuffer(b"ACDEFGHIKLMNPQRSTVWY", dtype=np.uint8)
    # Rough UniProt composition, so the activations look like real input.
    freq = np.array([8.3, 1.4, 5.5, 6.8, 3.9, 7.1, 2.3, 5.9, 5.8, 9.7,
                     2.4, 4.1, 4.7, 3.9, 5.5, 6.6, 5.3, 6.9, 1.1, 2.9])
    out = []
    for i in range(count):
        n = lengths[i % len(lengths)]
        out.append(rng.choice(letters, size=n, p=freq / freq.sum()).tobytes())
    return out


# ---------------------------------------------------------------------------- loading
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


# ---------------------------------------------------------------------------- export
def _torch_hidden(model: Any, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
    import torch

    with torch.inference_mode():
        out = model(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask)).last_hidden_state
    return np.asarray(out.numpy(), dtype=np.float32)


def pooled(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean over residues (``<cls>``, ``<eos>``, padding excluded), L2-normalised; float64."""
    w = mask.astype(np.float64).copy()
    w[:, 0] = 0
    w[np.arange(len(w)), mask.sum(axis=1) - 1] = 0
    v = np.einsum("bt,btd->bd", w, hidden.astype(np.float64)) / np.maximum(w.sum(axis=1, keepdims=True), 1)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _ort_hidden(path: Path, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return np.asarray(session.run(None, {"input_ids": ids, "attention_mask": mask})[0], dtype=np.float32)


def export_esm(
    checkpoint: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    quantize: str | None = None,
    name: str | None = None,
    tolerance: float = 1e-4,
    min_cosine: float = 0.99,
    external_data: bool | None = None,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> ExportReport:
    """Export an ESM-2 checkpoint to ONNX and verify it against PyTorch.

    Parameters
    ----------
    checkpoint
        A fair-esm ``.pt`` file or a Hugging Face model folder.
    out
        The ONNX file to write (its manifest goes to ``out + ".json"``).
    quantize
        ``"int8"`` for dynamic int8 quantisation (the file written is then the quantised model).
    name
        Registry name for the manifest; by default the checkpoint's name (plus ``-int8``).
    tolerance
        Largest allowed absolute difference of the normalised embeddings, ONNX (fp32) vs PyTorch.
    min_cosine
        Smallest allowed cosine similarity of quantised to fp32 embeddings.
    external_data
        Store the weights in ``out + ".data"``; by default only when the model exceeds ~1.8 GB.
    progress, cancel
        Phases are reported; cancelling (between phases) leaves no file behind.

    Raises
    ------
    InputError
        If the checkpoint cannot be read.
    EmbedderError
        If the exported model differs from PyTorch by more than the tolerances.
    """
    import time

    import torch

    cancel = cancel or CancelToken()
    if quantize not in (None, "int8"):
        raise InputError(f"unknown quantisation {quantize!r}; use int8")
    src = Path(checkpoint).expanduser()
    dest = Path(out).expanduser()
    if dest.suffix != ".onnx":
        raise InputError(f"name the output file .onnx, not {dest.name!r}")
    seconds: dict[str, float] = {}
    t = time.perf_counter()
    progress(Progress(0, 4, "steps", "loading", f"Loading {src.name}"))
    model, info = load_checkpoint(src)
    seconds["load"] = time.perf_counter() - t
    cancel.raise_if_cancelled()
    base_name = name or re.sub(r"[^A-Za-z0-9._-]", "_", src.name.removesuffix(".pt"))
    if quantize and not name:
        base_name += "-int8"

    dest.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".genocat-export-", dir=dest.parent))
    try:
        fp32 = work / "fp32.onnx"
        # Protobuf cannot hold more than 2 GB: t33_650M and larger keep their weights in a side file.
        large = sum(p.numel() * 4 for p in model.parameters()) > EXTERNAL_DATA_BYTES
        t = time.perf_counter()
        progress(Progress(1, 4, "steps", "exporting", f"Exporting {info['layers']} layers to ONNX"))
        _export_onnx(model, fp32)
        seconds["export"] = time.perf_counter() - t
        cancel.raise_if_cancelled()

        t = time.perf_counter()
        progress(Progress(2, 4, "steps", "verifying", "Comparing ONNX Runtime with PyTorch"))
        ids, mask = encode_batch(sample_proteins())
        ref = _torch_hidden(model, ids, mask)
        got = _ort_hidden(fp32, ids, mask)
        real = mask.astype(bool)
        max_abs = float(np.abs(ref - got)[real].max())
        ref_pooled = pooled(ref, mask)
        max_abs_pooled = float(np.abs(ref_pooled - pooled(got, mask)).max())
        seconds["verify"] = time.perf_counter() - t
        if not max_abs_pooled <= tolerance:
            raise EmbedderError(f"the ONNX model's embeddings differ from PyTorch by {max_abs_pooled:.2e} "
                                f"(tolerance {tolerance:.0e}); not written")
        cancel.raise_if_cancelled()

        final = fp32
        cosine = None
        if quantize == "int8":
            t = time.perf_counter()
            progress(Progress(3, 4, "steps", "quantizing", "Quantising the weights to int8"))
            final = work / "int8.onnx"
            _quantize_int8(fp32, final, large)
            q = pooled(_ort_hidden(final, ids, mask), mask)
            cosine = float(np.min(np.sum(q * ref_pooled, axis=1)))
            seconds["quantize"] = time.perf_counter() - t
            if not cosine >= min_cosine:
                raise EmbedderError(f"int8 embeddings have cosine {cosine:.4f} to fp32 (minimum {min_cosine}); "
                                    "not written; use the fp32 model")
        manifest: dict[str, Any] = {
            "format": 1,
            "name": base_name,
            "architecture": "esm2",
            "layers": info["layers"],
            "dim": info["dim"],
            "heads": info["heads"],
            "alphabet": "esm2",
            "tokens": list(ESM2_TOKENS),
            "max_residues": 1022,
            "quantization": quantize or "none",
            "inputs": ["input_ids", "attention_mask"],
            "output": "last_hidden_state",
            "opset": OPSET,
            "source": {"checkpoint": src.name, "kind": info["kind"]},
            "verification": {"max_abs_diff": max_abs, "max_abs_diff_pooled": max_abs_pooled,
                             "cosine_to_fp32": cosine, "sequences": len(ids)},
            "exported_with": {"torch": torch.__version__, **_versions()},
        }
        progress(Progress(4, 4, "steps", "writing", f"Writing {dest.name}"))
        use_external = large if external_data is None else external_data
        _write_with_manifest(final, dest, manifest, use_external)
        manifest["sha256"] = model_sha256(dest)
        Path(str(dest) + ".json").write_text(json.dumps(manifest, indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return ExportReport(dest, manifest, max_abs, max_abs_pooled, cosine, seconds)


def _versions() -> dict[str, str]:
    import onnx
    import onnxruntime
    import transformers

    return {"transformers": transformers.__version__, "onnx": onnx.__version__,
            "onnxruntime": onnxruntime.__version__}


class _HiddenStates:
    """Wraps the model so the exported graph has two inputs and one output."""

    def __new__(cls, model: Any) -> Any:
        import torch

        class Wrapper(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.model = model

            def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
                return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

        return Wrapper().eval()


def _export_onnx(model: Any, path: Path) -> None:
    import warnings

    import torch

    ids, mask = encode_batch([b"MKTAYIAKQR", b"MSE"])
    axes = {0: "batch", 1: "tokens"}
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer warnings about Python-side shape checks
        torch.onnx.export(
            _HiddenStates(model),
            (torch.from_numpy(ids), torch.from_numpy(mask)),
            str(path),
            dynamo=False,
            opset_version=OPSET,
            input_names=["input_ids", "attention_mask"],
            output_names=["last_hidden_state"],
            dynamic_axes={"input_ids": axes, "attention_mask": axes, "last_hidden_state": axes},
            do_constant_folding=True,
        )


def _quantize_int8(src: Path, dest: Path, large: bool = False) -> None:
    """Dynamic int8 quantisation of the matrix-product weights (activations stay float, quantised per batch)."""
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantiser logs advice to the root logger
    try:
        # MatMul only: the embedding lookup (Gather) stays fp32, it is tiny and accuracy-sensitive.
        quantize_dynamic(str(src), str(dest), weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"],
                         per_channel=False, extra_options={"MatMulConstBOnly": True},
                         use_external_data_format=large)
    finally:
        root.setLevel(level)


def _write_with_manifest(src: Path, dest: Path, manifest: dict[str, Any], external: bool) -> None:
    """Copy the model to ``dest`` with the manifest in its metadata; weights external if asked."""
    import onnx

    model = onnx.load(str(src))
    onnx.helper.set_model_props(model, {MANIFEST_KEY: json.dumps(manifest)})
    tmp = dest.with_name(dest.name + ".partial")
    data_name = dest.name + ".data"
    if external:
        onnx.save_model(model, str(tmp), save_as_external_data=True, all_tensors_to_one_file=True,
                        location=data_name, size_threshold=1024)
    else:
        onnx.save_model(model, str(tmp))
    os.replace(tmp, dest)
    stale = dest.with_name(data_name)
    if not external and stale.exists():
        stale.unlink()
