"""The model registry: ONNX protein language models installed in the app's data folder.

A model is added once (``genocat model add FILE.onnx`` or the Models page) and
then referred to by name. Each lives in its own folder::

    <models dir>/<name>/model.onnx
    <models dir>/<name>/manifest.json

The manifest says what the model is (architecture, layers, dimension, alphabet,
quantisation, the checkpoint it came from) and its SHA-256. A catalog column
records the model's name *and* SHA-256, so a query is embedded by exactly the
file that made the rows, even if a model is later re-added under another name.

Nothing is downloaded: the folder is ``$GENOCAT_MODELS`` if set, else
``models`` in the user's data directory (``~/.local/share/GenoCat/models`` on Linux).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from genocat_desktop.engine.core.errors import EmbedderError, ModelNotFoundError
from genocat_desktop.engine.core.progress import CancelToken, Progress, ProgressCallback, no_progress

__all__ = [
    "MANIFEST_KEY",
    "ModelInfo",
    "add_model",
    "file_sha256",
    "find_model",
    "list_models",
    "model_sha256",
    "models_dir",
    "read_onnx_manifest",
    "remove_model",
]

#: Key of the manifest JSON in an exported ONNX file's metadata (``metadata_props``).
MANIFEST_KEY: Final = "genocat_manifest"
MODEL_FILE: Final = "model.onnx"
MANIFEST_FILE: Final = "manifest.json"
_NAME_RE: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_CHUNK: Final = 1 << 22


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """One installed model.

    Attributes
    ----------
    name
        Registry name (``esm2_t6_8M_UR50D``, ``esm2_t6_8M_UR50D-int8``).
    path
        The ``.onnx`` file.
    sha256
        Hex digest of the file: the model's identity in catalogs.
    dim
        Length of the embedding vectors.
    layers
        Number of transformer layers (``None`` if unknown).
    quantization
        ``"none"`` or ``"int8"``.
    max_residues
        Longest protein one window may hold; longer ones are split.
    manifest
        The whole manifest (source checkpoint, verification figures...).
    """

    name: str
    path: Path
    sha256: str
    dim: int
    layers: int | None
    quantization: str
    max_residues: int
    size_bytes: int
    manifest: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        return {**self.manifest, "name": self.name, "path": str(self.path), "sha256": self.sha256,
                "size_bytes": self.size_bytes}


def models_dir() -> Path:
    """The folder holding installed models (created on first use by :func:`add_model`)."""
    env = os.environ.get("GENOCAT_MODELS")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("GenoCat", appauthor=False)) / "models"


def file_sha256(path: str | os.PathLike[str], cancel: CancelToken | None = None) -> str:
    """SHA-256 of a file, read in 4 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            if cancel is not None:
                cancel.raise_if_cancelled()
            digest.update(chunk)
    return digest.hexdigest()


def model_sha256(path: str | os.PathLike[str], data: str | os.PathLike[str] | None = None,
                 cancel: CancelToken | None = None) -> str:
    """A model's identity: the SHA-256 of its ONNX file, combined with that of its external weights if any.

    Parameters
    ----------
    path
        The ``.onnx`` file.
    data
        Its external weights file; by default ``path + ".data"`` when that exists.
    """
    data_path = Path(data) if data is not None else Path(str(path) + ".data")
    if not data_path.is_file():
        return file_sha256(path, cancel)
    digest = hashlib.sha256()
    for p in (Path(path), data_path):
        digest.update(bytes.fromhex(file_sha256(p, cancel)))
    return digest.hexdigest()


def _info(folder: Path) -> ModelInfo | None:
    try:
        manifest = json.loads((folder / MANIFEST_FILE).read_text())
        path = folder / MODEL_FILE
        return ModelInfo(
            name=folder.name,
            path=path,
            sha256=str(manifest["sha256"]),
            dim=int(manifest["dim"]),
            layers=int(manifest["layers"]) if manifest.get("layers") is not None else None,
            quantization=str(manifest.get("quantization", "none")),
            max_residues=int(manifest.get("max_residues", 1022)),
            size_bytes=path.stat().st_size,
            manifest=manifest,
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None  # a half-copied or foreign folder: not a model


def list_models() -> list[ModelInfo]:
    """The installed models, by name."""
    root = models_dir()
    if not root.is_dir():
        return []
    found = (_info(p) for p in sorted(root.iterdir()) if p.is_dir() and not p.name.startswith("."))
    return [m for m in found if m is not None]


def find_model(name: str | None = None, sha256: str | None = None) -> ModelInfo:
    """Find an installed model by SHA-256 (preferred: exact identity) or by name.

    Raises
    ------
    ModelNotFoundError
        If no installed model matches; the message says how to add it.
    """
    models = list_models()
    if sha256:
        for m in models:
            if m.sha256 == sha256:
                return m
        label = f"{name} " if name else ""
        raise ModelNotFoundError(
            f"the model {label}(SHA-256 {sha256[:12]}…) is not installed here; add the same ONNX file with "
            "`genocat model add FILE.onnx` or on the Models page"
        )
    for m in models:
        if m.name == name:
            return m
    have = ", ".join(m.name for m in models) or "none"
    raise ModelNotFoundError(f"no model named {name!r} is installed (installed: {have}); "
                             "add one with `genocat model add FILE.onnx`")


def _sidecar(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The manifest written beside an exported model (``FILE.onnx.json``), or ``{}``."""
    sidecar = Path(str(path) + ".json")
    if sidecar.is_file():
        try:
            data = json.loads(sidecar.read_text())
            if isinstance(data, dict):
                return data
        except ValueError:
            pass
    return {}


def read_onnx_manifest(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The manifest of an ONNX file: its sidecar ``FILE.onnx.json``, else the one embedded in the file.

    Returns an empty dictionary when there is none (a model exported by another tool).
    """
    sidecar = _sidecar(path)
    if sidecar:
        return sidecar
    try:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        raw = session.get_modelmeta().custom_metadata_map.get(MANIFEST_KEY)
    except Exception as exc:  # onnxruntime raises its own exception types for unreadable files
        raise EmbedderError(f"{Path(path).name} is not a readable ONNX model: {str(exc).splitlines()[0]}") from None
    return json.loads(raw) if raw else {}


def _probe(path: Path) -> tuple[int, dict[str, Any]]:
    """Check the file is an ESM-style ONNX model and return its embedding dimension."""
    import numpy as np
    import onnxruntime as ort

    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise EmbedderError(f"{path.name} is not a readable ONNX model: {str(exc).splitlines()[0]}") from None
    inputs = {i.name for i in session.get_inputs()}
    if inputs != {"input_ids", "attention_mask"}:
        raise EmbedderError(
            f"{path.name} does not look like an ESM model exported by GenoCat (inputs {sorted(inputs)}, "
            "expected input_ids and attention_mask); convert the checkpoint with `genocat model export`"
        )
    ids = np.array([[0, 20, 5, 2]], dtype=np.int64)  # <cls> M A <eos>
    out = session.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids)})[0]
    if out.ndim != 3 or out.shape[:2] != (1, 4):
        raise EmbedderError(f"{path.name}: unexpected output shape {out.shape}; expected (batch, tokens, dim)")
    raw = session.get_modelmeta().custom_metadata_map.get(MANIFEST_KEY)
    return int(out.shape[2]), (json.loads(raw) if raw else {})


def _checked_manifest(src: Path, name: str | None) -> tuple[str, int, dict[str, Any]]:
    """The model's registry name, vector dimension and manifest (embedded, then the side file's).

    Raises
    ------
    EmbedderError
        If the model cannot be run, the manifest contradicts it, or the name is not allowed.
    """
    dim, embedded = _probe(src)
    # The probe already read the embedded manifest: no second session (seconds for a large model).
    manifest = {**embedded, **_sidecar(src)}
    if manifest.get("dim") not in (None, dim):
        raise EmbedderError(f"{src.name}: the manifest says dimension {manifest['dim']}, the model gives {dim}")
    name = name or str(manifest.get("name") or src.name.removesuffix(".onnx"))
    if not _NAME_RE.match(name):
        raise EmbedderError(f"model name {name!r}: use letters, digits, '.', '_' and '-' (at most 64)")
    return name, dim, manifest


def _copy_and_hash(src: Path, folder: Path, progress: ProgressCallback, cancel: CancelToken) -> str:
    """Copy the model (and its external weights, if any) into ``folder``; return its SHA-256."""
    # Weights stored outside the graph (models over 2 GB) keep their file name:
    # the ONNX file refers to it by that name, relative to its own folder.
    data_src = Path(str(src) + ".data")
    copies = [(src, folder / MODEL_FILE)]
    if data_src.is_file():
        copies.append((data_src, folder / data_src.name))
    total = sum(a.stat().st_size for a, _ in copies)
    done = 0
    for a, b in copies:
        with open(a, "rb") as fin, open(b, "wb") as fout:
            while chunk := fin.read(_CHUNK):
                cancel.raise_if_cancelled()
                fout.write(chunk)
                done += len(chunk)
                progress(Progress(done, total, "bytes", "copying", f"Copying {a.name}"))
    progress(Progress(total, total, "bytes", "hashing", f"Checking {src.name}"))
    return model_sha256(folder / MODEL_FILE, copies[1][1] if len(copies) > 1 else None, cancel)


def add_model(
    path: str | os.PathLike[str],
    *,
    name: str | None = None,
    replace: bool = False,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> ModelInfo:
    """Install an ONNX model into :func:`models_dir` (the file is copied).

    Parameters
    ----------
    path
        An ``.onnx`` file, as written by ``genocat model export``.
    name
        Registry name; by default the manifest's, else the file name without ``.onnx``.
    replace
        Replace an installed model of the same name (catalogs refer to models by
        SHA-256 too, so a replaced model no longer serves the old columns).
    progress, cancel
        Progress in bytes copied; cancelling leaves nothing behind.

    Returns
    -------
    ModelInfo
        The installed model. Adding a file that is already installed returns the existing entry.

    Raises
    ------
    EmbedderError
        If the file is not a usable model, or the name is taken.
    """
    src = Path(path).expanduser()
    if not src.is_file():
        raise EmbedderError(f"no such model file: {src}")
    cancel = cancel or CancelToken()
    progress(Progress(0, None, "bytes", "checking", f"Checking {src.name}"))
    name, dim, manifest = _checked_manifest(src, name)
    root = models_dir()
    existing = {m.name: m for m in list_models()}
    root.mkdir(parents=True, exist_ok=True)
    # Copy under a temporary name, hashing as we go; rename when complete so a
    # cancelled or failed copy never looks like an installed model.
    tmp = Path(tempfile.mkdtemp(prefix=".adding-", dir=root))
    try:
        sha = _copy_and_hash(src, tmp, progress, cancel)
        for m in existing.values():
            if m.sha256 == sha and (m.name == name or not replace):
                return m
        if name in existing and not replace:
            raise EmbedderError(f"a different model named {name!r} is installed; choose another name or replace it")
        manifest.update(
            name=name, dim=dim, sha256=sha, quantization=manifest.get("quantization", "none"),
            max_residues=int(manifest.get("max_residues", 1022)),
            added_at=datetime.now(UTC).isoformat(timespec="seconds"), added_from=str(src),
        )
        manifest.setdefault("architecture", "esm2")
        manifest.setdefault("alphabet", "esm2")
        (tmp / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2))
        final = root / name
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    info = _info(root / name)
    assert info is not None
    return info


def remove_model(name: str) -> None:
    """Uninstall a model (catalog columns made with it can no longer be searched until it is re-added).

    Raises
    ------
    ModelNotFoundError
        If no model of that name is installed.
    """
    info = find_model(name)
    shutil.rmtree(info.path.parent)
