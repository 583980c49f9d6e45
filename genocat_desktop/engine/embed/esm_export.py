"""Convert an ESM-2 checkpoint to ONNX, once, offline (``genocat model export``).

Needs the ``export`` extra (torch, transformers, onnx); the app itself never
imports this module's dependencies, only onnxruntime. Nothing is downloaded:
the checkpoint is a local file or folder, read by :mod:`.esm_checkpoint` (a
fair-esm ``.pt`` file or a Hugging Face model folder).

The model is exported with the TorchScript-based exporter (``dynamo=False``,
opset 17: seconds, where the dynamo exporter takes much longer) with dynamic
batch and token axes. The ONNX file is then checked against PyTorch on a padded
batch of proteins of different lengths; the export fails if the pooled,
normalised embeddings differ by more than ``tolerance``. ``quantize="int8"``
applies ONNX Runtime's dynamic int8 quantisation to the weights of the matrix
products and reports the cosine similarity of its embeddings to the fp32 model's.

The manifest (name, layers, dimension, heads, alphabet, quantisation,
verification figures, source checkpoint, SHA-256) is written next to the
model as ``FILE.onnx.json`` and embedded in the ONNX file's metadata, so
``genocat model add FILE.onnx`` works with the file alone.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np

from genocat_desktop.engine.core.errors import EmbedderError, InputError
from genocat_desktop.engine.core.progress import CancelToken, Progress, ProgressCallback, no_progress
from genocat_desktop.engine.embed.embedders.esm_tokens import ESM2_TOKENS, encode_batch
from genocat_desktop.engine.embed.esm_checkpoint import build_random_model, load_checkpoint
from genocat_desktop.engine.embed.models import MANIFEST_KEY, model_sha256

__all__ = ["ExportReport", "build_random_model", "export_esm", "load_checkpoint", "pooled", "sample_proteins"]

OPSET: Final = 17
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
    seconds
        Wall time of each step (``load``, ``export``, ``verify``, ``quantize``).
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
    if quantize not in (None, "int8"):
        raise InputError(f"unknown quantisation {quantize!r}; use int8")
    src = Path(checkpoint).expanduser()
    dest = Path(out).expanduser()
    if dest.suffix != ".onnx":
        raise InputError(f"name the output file .onnx, not {dest.name!r}")
    steps = _Steps(progress, cancel or CancelToken())
    with steps.step(0, "load", "loading", f"Loading {src.name}"):
        model, info = load_checkpoint(src)
    base_name = name or re.sub(r"[^A-Za-z0-9._-]", "_", src.name.removesuffix(".pt"))
    if quantize and not name:
        base_name += "-int8"

    dest.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".genocat-export-", dir=dest.parent))
    try:
        final = fp32 = work / "fp32.onnx"
        # Protobuf cannot hold more than 2 GB: t33_650M and larger keep their weights in a side file.
        large = sum(p.numel() * 4 for p in model.parameters()) > EXTERNAL_DATA_BYTES
        with steps.step(1, "export", "exporting", f"Exporting {info['layers']} layers to ONNX"):
            _export_onnx(model, fp32)
        with steps.step(2, "verify", "verifying", "Comparing ONNX Runtime with PyTorch"):
            parity = _verify(model, fp32, tolerance)
        if quantize == "int8":
            final = work / "int8.onnx"
            with steps.step(3, "quantize", "quantizing", "Quantising the weights to int8"):
                _quantize_verified(fp32, final, large, parity, min_cosine)
        manifest = _manifest(base_name, info, src.name, quantize, parity)
        progress(Progress(4, 4, "steps", "writing", f"Writing {dest.name}"))
        _write_with_manifest(final, dest, manifest, large if external_data is None else external_data)
        manifest["sha256"] = model_sha256(dest)
        Path(str(dest) + ".json").write_text(json.dumps(manifest, indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return ExportReport(dest, manifest, parity.max_abs, parity.max_abs_pooled, parity.cosine, steps.seconds)


class _Steps:
    """Reports and times the steps of an export; a cancel takes effect between steps."""

    def __init__(self, progress: ProgressCallback, cancel: CancelToken) -> None:
        self.progress = progress
        self.cancel = cancel
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def step(self, index: int, key: str, phase: str, message: str) -> Iterator[None]:
        self.progress(Progress(index, 4, "steps", phase, message))
        started = time.perf_counter()
        yield
        self.seconds[key] = time.perf_counter() - started
        self.cancel.raise_if_cancelled()


@dataclass(slots=True)
class _Parity:
    """How the exported model's outputs compare with PyTorch's on the verification batch."""

    ids: np.ndarray
    mask: np.ndarray
    ref_pooled: np.ndarray
    max_abs: float
    max_abs_pooled: float
    cosine: float | None = None


def _verify(model: Any, onnx_path: Path, tolerance: float) -> _Parity:
    """Compare ONNX Runtime with PyTorch on :func:`sample_proteins`; raise if the embeddings differ."""
    ids, mask = encode_batch(sample_proteins())
    ref = _torch_hidden(model, ids, mask)
    got = _ort_hidden(onnx_path, ids, mask)
    ref_pooled = pooled(ref, mask)
    parity = _Parity(ids, mask, ref_pooled, float(np.abs(ref - got)[mask.astype(bool)].max()),
                     float(np.abs(ref_pooled - pooled(got, mask)).max()))
    if not parity.max_abs_pooled <= tolerance:
        raise EmbedderError(f"the ONNX model's embeddings differ from PyTorch by {parity.max_abs_pooled:.2e} "
                            f"(tolerance {tolerance:.0e}); not written")
    return parity


def _quantize_verified(src: Path, dest: Path, large: bool, parity: _Parity, min_cosine: float) -> None:
    """Quantise ``src`` to ``dest`` and record the cosine to fp32 in ``parity``; raise if it is too low."""
    _quantize_int8(src, dest, large)
    q = pooled(_ort_hidden(dest, parity.ids, parity.mask), parity.mask)
    parity.cosine = cosine = float(np.min(np.sum(q * parity.ref_pooled, axis=1)))
    if not cosine >= min_cosine:
        raise EmbedderError(f"int8 embeddings have cosine {cosine:.4f} to fp32 (minimum {min_cosine}); "
                            "not written; use the fp32 model")


def _manifest(name: str, info: dict[str, Any], source: str, quantize: str | None, parity: _Parity) -> dict[str, Any]:
    """The model's manifest, without its SHA-256 (known only once the file is written)."""
    import torch

    return {
        "format": 1,
        "name": name,
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
        "source": {"checkpoint": source, "kind": info["kind"]},
        "verification": {"max_abs_diff": parity.max_abs, "max_abs_diff_pooled": parity.max_abs_pooled,
                         "cosine_to_fp32": parity.cosine, "sequences": len(parity.ids)},
        "exported_with": {"torch": torch.__version__, **_versions()},
    }


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
