"""The embedder interface and registry.

An embedder turns sequences into fixed-size ``float32`` vectors whose cosine
similarity tracks sequence similarity. The catalog stores, per vector column,
the embedder's :attr:`Embedder.name`, :attr:`Embedder.version`, dimension
and parameters, so that a query is always embedded the same way as the rows
it is compared with (see :class:`~genocat_desktop.engine.catalog.table.Catalog`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from genocat_desktop.engine.core.errors import EmbedderError

__all__ = ["Embedder", "EmbedderSpec", "available", "create", "new_column_params", "register"]


@runtime_checkable
class Embedder(Protocol):
    """What the catalog needs from an embedder."""

    #: Registry name, e.g. ``"kmer"``.
    name: str
    #: Bumped whenever the vectors for the same input change.
    version: int
    #: Length of each vector.
    dim: int

    def params(self) -> dict[str, Any]:
        """Return the parameters that, with name and version, recreate this embedder."""
        ...

    def embed(self, sequences: Sequence[str], molecules: Sequence[str] | None = None) -> np.ndarray:
        """Embed sequences.

        Parameters
        ----------
        sequences
            Normalised (upper-case) residues.
        molecules
            ``"protein"``, ``"dna"`` or ``"rna"`` per sequence; ``None`` means protein.

        Returns
        -------
        numpy.ndarray
            ``float32`` array of shape ``(len(sequences), dim)``, rows L2-normalised.
        """
        ...


EmbedderSpec = dict[str, Any]
_REGISTRY: dict[str, Callable[..., Embedder]] = {}
_NEW_COLUMN_DEFAULTS: dict[str, list[dict[str, Any]]] = {}


def register(
    name: str, factory: Callable[..., Embedder],
    new_column: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
) -> None:
    """Make an embedder available by name (``factory(**params)`` builds it).

    ``new_column`` holds parameters a new vector column records unless the caller names them:
    defaults that differ from the factory's, whose own defaults must keep recreating the columns
    recorded before those parameters existed. A mapping: each parameter on its own. A sequence of
    mappings: groups that go together, each applied only when the caller names none of its
    parameters (a record that names ``k`` gets none of a group that sets ``k`` and the alphabet
    it was chosen for).
    """
    _REGISTRY[name] = factory
    if new_column is None:
        groups: list[dict[str, Any]] = []
    elif isinstance(new_column, Mapping):
        groups = [{key: value} for key, value in new_column.items()]
    else:
        groups = [dict(g) for g in new_column]
    _NEW_COLUMN_DEFAULTS[name] = groups


def new_column_params(name: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The parameters a new vector column of embedder ``name`` records: its new-column defaults, then ``params``.

    A group of defaults is left out when ``params`` names any parameter of it (see :func:`register`).
    """
    _load_builtins()
    given = dict(params or {})
    out: dict[str, Any] = {}
    for group in _NEW_COLUMN_DEFAULTS.get(name, []):
        if not group.keys() & given.keys():
            out.update(group)
    return {**out, **given}


def available() -> list[str]:
    """Names of the registered embedders."""
    _load_builtins()
    return sorted(_REGISTRY)


def create(name: str, **params: Any) -> Embedder:
    """Build a registered embedder.

    Raises
    ------
    EmbedderError
        If no embedder of that name is registered or the parameters are wrong.
    """
    _load_builtins()
    try:
        factory = _REGISTRY[name]
    except KeyError:
        raise EmbedderError(f"unknown embedder {name!r}; available: {', '.join(sorted(_REGISTRY))}") from None
    try:
        return factory(**params)
    except (TypeError, ValueError) as exc:
        raise EmbedderError(f"embedder {name!r} cannot be built with {params}: {exc}") from None


def _load_builtins() -> None:
    if "kmer" not in _REGISTRY:
        from genocat_desktop.engine.embed.embedders.kmer import NEW_COLUMN_GROUPS, KmerEmbedder

        register("kmer", KmerEmbedder, NEW_COLUMN_GROUPS)
    if "esm" not in _REGISTRY:
        from genocat_desktop.engine.embed.embedders.esm_onnx import EsmOnnxEmbedder

        register("esm", EsmOnnxEmbedder)
    if "sketch" not in _REGISTRY:
        from genocat_desktop.engine.embed.embedders.sketch import SketchEmbedder

        register("sketch", SketchEmbedder)
