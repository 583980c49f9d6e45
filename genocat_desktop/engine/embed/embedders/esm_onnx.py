"""ESM-2 embeddings with ONNX Runtime: a protein language model on the workstation's CPU.

The model is an ONNX file exported by :mod:`genocat_desktop.engine.embed.esm_export`
and installed in the model registry (:mod:`genocat_desktop.engine.embed.models`);
at run time only onnxruntime and numpy are needed.

How a batch of sequences becomes vectors, and why:

* **Tokens**: the numpy tokenizer of :mod:`.esm_tokens` (ids identical to the
  reference ESM tokenizer), ``<cls>`` residues ``<eos>``.
* **Windows**: ESM-2 was trained on at most 1,022 residues (1,024 tokens);
  longer proteins are split into evenly spread windows that overlap by at least
  256 residues. A residue's vector is the mean over the windows that contain
  it, so nothing is truncated and the pooled vector stays a mean over residues.
* **Buckets**: pieces are sorted by length and packed into batches by a token
  budget (``batch × padded length``, 4,096 by default), not a count: padding
  falls from ~40% to a few percent (1.4–2.1× faster), and a cap on
  ``batch × length²`` keeps a batch of long proteins from blowing up memory
  (attention is quadratic in length).
* **Pooling**: the mean of the last hidden states over residues only
  (``<cls>``, ``<eos>`` and padding excluded), L2-normalised, so cosine
  similarity is a dot product like every other embedder's.
* **DNA and RNA**: embedded as the protein they encode, the longest open
  reading frame of the six frames (:func:`.esm_tokens.translate_longest_orf`):
  for a coding sequence, its translation. They are not rejected, so a catalog
  with some nucleotide records can still get an ESM column.
* **Cancel**: a cancel token stops the run between batches *and* interrupts the
  batch being computed (``RunOptions.terminate``), so cancelling takes well
  under a second even with a large model.

Runtime knobs that do not change the vectors (threads, token budget, GPU use)
are :class:`RuntimeOptions`, set once by the app (:func:`set_runtime_options`);
they are not part of the catalog's record.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

import numpy as np

from genocat_desktop.engine.core.errors import Cancelled, EmbedderError
from genocat_desktop.engine.core.molecules import is_nucleotide
from genocat_desktop.engine.core.progress import CancelToken
from genocat_desktop.engine.embed.embedders.esm_tokens import encode_batch, translate_longest_orf, windows

__all__ = [
    "EsmOnnxEmbedder",
    "RuntimeOptions",
    "get_runtime_options",
    "make_batches",
    "set_runtime_options",
]

DEFAULT_WINDOW: Final = 1022
DEFAULT_OVERLAP: Final = 256


@dataclass(frozen=True, slots=True)
class RuntimeOptions:
    """How ONNX Runtime runs the model (none of this changes the vectors beyond float rounding).

    Attributes
    ----------
    threads
        Intra-op threads; 0 = one per CPU core available to this process.
    token_budget
        Most tokens (batch × padded length) in one model call. ~4k keeps the
        attention tensors of one batch small (32 proteins of 500 residues held
        2.3 GB) while still amortising the per-call cost.
    max_batch
        Most sequences in one call (short peptides would otherwise make huge batches).
    attention_cells
        Most ``batch × padded length²`` per call. The attention scores of every head are
        materialised (``heads × batch × length²`` floats, several tensors at once), so for
        long proteins this, not the token budget, bounds the memory: 2M cells is 160 MB per
        20-head tensor, two 1,000-residue proteins per call instead of four.
    use_gpu
        Use CUDA / DirectML / CoreML when onnxruntime offers it.
    spin
        Let idle worker threads busy-wait for the next operator. Off by default: on a desktop
        the cores are shared with the GUI and other work, and on a loaded 2-core machine
        spinning threads made a t6 batch up to 1.5× slower (they steal the CPU the working
        threads need); on an idle machine it is a few percent faster.
    """

    threads: int = 0
    token_budget: int = 4096
    max_batch: int = 128
    attention_cells: int = 2_000_000
    use_gpu: bool = True
    spin: bool = False


class _RuntimeOptionsState:
    """The process's current :class:`RuntimeOptions`: an immutable value swapped under a lock.

    One per process because the ONNX sessions of every loaded model follow it;
    it starts at the defaults and changes only through :func:`set_runtime_options`.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._options = RuntimeOptions()

    def get(self) -> RuntimeOptions:
        return self._options

    def update(self, **changes: Any) -> RuntimeOptions:
        with self._lock:
            self._options = replace(self._options, **changes)
            return self._options


_STATE: Final = _RuntimeOptionsState()


def set_runtime_options(**changes: Any) -> RuntimeOptions:
    """Change the runtime options of this process; return the new options.

    They apply from the next ``embed`` call on, also to a model already loaded: a
    change of threads, GPU use or spinning makes its session again.

    Parameters
    ----------
    **changes
        :class:`RuntimeOptions` fields and their new values, e.g.
        ``set_runtime_options(threads=2, token_budget=2048)`` (the settings page calls this).

    Returns
    -------
    RuntimeOptions
        The options now in force.
    """
    return _STATE.update(**changes)


def get_runtime_options() -> RuntimeOptions:
    """The runtime options now in force in this process (the defaults until :func:`set_runtime_options`)."""
    return _STATE.get()


def _cpu_count() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def make_batches(
    lengths: np.ndarray, token_budget: int, max_batch: int, attention_cells: int | None = None
) -> list[np.ndarray]:
    """Group pieces into batches of similar length under a token budget.

    Parameters
    ----------
    lengths
        Residues per piece (``<cls>``/``<eos>`` not counted).
    token_budget
        Most ``batch size × (longest + 2)`` tokens per batch; a single piece longer than this is its own batch.
    max_batch
        Most pieces per batch.
    attention_cells
        Most ``batch size × (longest + 2)²`` per batch (the attention matrix of one head); no limit if ``None``.

    Returns
    -------
    list of numpy.ndarray
        Indices into ``lengths`` per batch, longest pieces first.
    """
    order = np.argsort(-lengths, kind="stable")
    out = []
    i = 0
    while i < order.size:
        # Sorted longest first: the first piece of a batch sets its padded width.
        width = int(lengths[order[i]]) + 2
        size = min(max_batch, token_budget // width)
        if attention_cells:
            size = min(size, attention_cells // (width * width))
        size = max(1, size)
        out.append(order[i : i + size])
        i += size
    return out


class EsmOnnxEmbedder:
    """Mean-pooled ESM-2 embeddings from an installed ONNX model.

    Parameters
    ----------
    model
        Registry name of the model (``genocat model list``).
    sha256
        The model file's SHA-256; when given it identifies the model (the name is only a label).
    window, overlap
        Longest piece in residues and least overlap between the windows of a longer protein.
    path
        Use this ONNX file directly instead of the registry (benchmarks, tests); name and SHA-256 then describe it.

    Raises
    ------
    ModelNotFoundError
        If the model is not installed.
    EmbedderError
        If the model file cannot be loaded.
    """

    name = "esm"
    version = 1
    #: The importer and ``add_embedding`` pass ``cancel`` and ``on_progress`` to embedders that say so.
    cancellable = True

    def __init__(
        self,
        model: str | None = None,
        sha256: str | None = None,
        window: int = DEFAULT_WINDOW,
        overlap: int = DEFAULT_OVERLAP,
        *,
        path: str | os.PathLike[str] | None = None,
    ) -> None:
        if not 16 <= window <= 4096 or not 0 <= overlap < window:
            raise EmbedderError(f"ESM windows need 16 <= window <= 4096 and 0 <= overlap < window, "
                                f"not {window} and {overlap}")
        if path is not None:
            from genocat_desktop.engine.embed.models import file_sha256, read_onnx_manifest

            self.path = Path(path)
            manifest = read_onnx_manifest(self.path)
            self.model = model or str(manifest.get("name") or self.path.name.removesuffix(".onnx"))
            self.sha256 = sha256 or file_sha256(self.path)
            dim = manifest.get("dim")
        else:
            from genocat_desktop.engine.embed.models import find_model

            if not model and not sha256:
                raise EmbedderError("the ESM embedder needs a model name (see `genocat model list`)")
            info = find_model(model, sha256)
            self.path, self.model, self.sha256, dim = info.path, model or info.name, info.sha256, info.dim
        self.window = window
        self.overlap = overlap
        self._session: Any = None
        self._session_options: tuple[int, bool, bool] | None = None
        self._lock = threading.Lock()
        self.dim = int(dim) if dim else self._probe_dim()

    # ------------------------------------------------------------------ identity
    def params(self) -> dict[str, Any]:
        """Parameters that recreate this embedder: the model (by name and SHA-256) and the windowing."""
        return {"model": self.model, "sha256": self.sha256, "window": self.window, "overlap": self.overlap}

    # ------------------------------------------------------------------ session
    def _load(self) -> Any:
        with self._lock:
            options = get_runtime_options()
            # Threads, GPU use and spinning are fixed when a session is made: after the
            # settings page changes them, the next call gets a new session (a catalog keeps
            # its embedders, and so their sessions, for as long as it is open).
            wanted = (options.threads, options.use_gpu, options.spin)
            if self._session is None or self._session_options != wanted:
                self._session = _make_session(self.path, options)
                self._session_options = wanted
            return self._session

    def _probe_dim(self) -> int:
        ids, mask = encode_batch([b"MA"])
        return int(self._load().run(None, {"input_ids": ids, "attention_mask": mask})[0].shape[2])

    @property
    def providers(self) -> list[str]:
        """The ONNX Runtime execution providers in use (``CPUExecutionProvider``...)."""
        return list(self._load().get_providers())

    # ------------------------------------------------------------------ embedding
    def embed(
        self,
        sequences: Sequence[str],
        molecules: Sequence[str] | None = None,
        *,
        cancel: CancelToken | None = None,
        on_progress: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """Embed sequences; see :meth:`Embedder.embed`.

        Parameters
        ----------
        sequences, molecules
            As for every embedder; DNA/RNA records are translated first.
        cancel
            Checked between batches; also interrupts the batch being computed.
        on_progress
            Called after each batch with the number of sequences finished so far.

        Raises
        ------
        Cancelled
            If ``cancel`` was cancelled.
        """
        residues = [s.encode("ascii", errors="replace") for s in sequences]
        if molecules is not None:
            residues = [translate_longest_orf(r) if is_nucleotide(m) else r
                        for r, m in zip(residues, molecules, strict=True)]
        return self.embed_residues(residues, cancel=cancel, on_progress=on_progress)

    def embed_residues(
        self,
        residues: Sequence[bytes],
        *,
        cancel: CancelToken | None = None,
        on_progress: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """Embed protein sequences given as ASCII bytes (no translation); see :meth:`embed`."""
        n = len(residues)
        out = np.zeros((n, self.dim), dtype=np.float64)
        if n == 0:
            return out.astype(np.float32)
        session = self._load()
        options = get_runtime_options()
        # Pieces: (sequence index, start, stop) with per-residue weights 1 / (windows covering it).
        owner: list[int] = []
        spans: list[tuple[int, int]] = []
        weights: list[np.ndarray | None] = []
        for i, r in enumerate(residues):
            wins = windows(len(r), self.window, self.overlap)
            cover = None
            if len(wins) > 1:
                cover = np.zeros(len(r), dtype=np.float64)
                for s, e in wins:
                    cover[s:e] += 1
            for s, e in wins:
                owner.append(i)
                spans.append((s, e))
                weights.append(None if cover is None else 1.0 / cover[s:e])
        lengths = np.array([e - s for s, e in spans], dtype=np.int64)
        remaining = np.bincount(owner, minlength=n)
        finished = 0
        for batch in make_batches(lengths, options.token_budget, options.max_batch, options.attention_cells):
            if cancel is not None:
                cancel.raise_if_cancelled()
            pieces = [residues[owner[j]][spans[j][0] : spans[j][1]] for j in batch.tolist()]
            ids, mask = encode_batch(pieces)
            hidden = _run(session, ids, mask, cancel)
            # Residue weights: 0 on <cls>, <eos> and padding; 1 (or 1/coverage) on residues.
            w = np.zeros(mask.shape, dtype=np.float32)
            for row, j in enumerate(batch.tolist()):
                length = int(lengths[j])
                if length == 0:
                    w[row, :2] = 0.5  # an empty protein: the mean of <cls> and <eos>, so never a zero vector
                else:
                    w[row, 1 : length + 1] = 1.0 if weights[j] is None else weights[j]
            pooled = np.einsum("bt,btd->bd", w, hidden, dtype=np.float64)
            targets = np.asarray([owner[j] for j in batch.tolist()])
            np.add.at(out, targets, pooled)
            np.subtract.at(remaining, targets, 1)
            if on_progress is not None:
                finished_now = int(np.count_nonzero(remaining == 0))
                if finished_now != finished:
                    finished = finished_now
                    on_progress(finished)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        np.divide(out, norms, out=out, where=norms > 0)
        return out.astype(np.float32)


def _run(session: Any, ids: np.ndarray, mask: np.ndarray, cancel: CancelToken | None) -> np.ndarray:
    """One model call; a cancel during it sets ``terminate`` and ONNX Runtime stops within an operator."""
    import onnxruntime as ort

    run_options = ort.RunOptions()
    remove = None
    if cancel is not None:
        def stop() -> None:
            run_options.terminate = True

        remove = cancel.on_cancel(stop)
    try:
        out = session.run(["last_hidden_state"], {"input_ids": ids, "attention_mask": mask}, run_options)
    except Exception as exc:  # onnxruntime raises its own types (Fail, RuntimeException...)
        if cancel is not None and cancel.cancelled:
            raise Cancelled() from None
        raise EmbedderError(f"the ESM model failed on a batch of {ids.shape[0]} sequence(s) of up to "
                            f"{ids.shape[1] - 2} residues: {str(exc).splitlines()[0]}") from None
    finally:
        if remove is not None:
            remove()
    return np.asarray(out[0], dtype=np.float32)


def _make_session(path: Path, options: RuntimeOptions) -> Any:
    """An ONNX Runtime session tuned for a workstation.

    * Full graph optimisation (fuses attention, layer norm, GELU), cached in
      memory only: writing an optimised copy next to the model would need a
      writable models folder.
    * ``threads`` intra-op threads (default: the cores this process may use)
      and one inter-op thread: ESM is a chain of big matrix products, there is
      nothing to run side by side.
    * The CPU memory arena stays on (batches of similar shapes reuse its
      blocks); memory patterns are off because every batch has a new shape.
    """
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.intra_op_num_threads = options.threads or _cpu_count()
    so.inter_op_num_threads = 1
    so.enable_cpu_mem_arena = True
    so.enable_mem_pattern = False
    so.add_session_config_entry("session.intra_op.allow_spinning", "1" if options.spin else "0")
    so.log_severity_level = 3
    available = ort.get_available_providers()
    providers = []
    if options.use_gpu:
        providers = [p for p in ("CUDAExecutionProvider", "DmlExecutionProvider", "CoreMLExecutionProvider")
                     if p in available]
    providers.append("CPUExecutionProvider")
    try:
        return ort.InferenceSession(str(path), so, providers=providers)
    except Exception as exc:
        raise EmbedderError(f"cannot load the model {path}: {str(exc).splitlines()[0]}") from None
