"""Query sequences: the :class:`Query` record and reading queries from a file, FASTA text or a bare sequence."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genocat_desktop.engine.core.errors import QueryError
from genocat_desktop.engine.ingest.fasta import (
    MOL_DNA,
    MOL_PROTEIN,
    MOL_RNA,
    MOLECULES,
    FastaReader,
    molecules,
    normalise_query,
    split_title,
)

__all__ = ["Query", "detect_molecule", "read_queries"]


@dataclass(frozen=True, slots=True)
class Query:
    """A query sequence."""

    id: str
    sequence: str
    molecule: str = "protein"


def detect_molecule(sequence: str) -> str:
    """``"protein"``, ``"dna"`` or ``"rna"`` for one normalised sequence (short ones count as protein)."""
    arr = np.frombuffer(sequence.encode("ascii"), dtype=np.uint8)
    code = int(molecules(arr, np.array([0, arr.size], dtype=np.int64))[0])
    return MOLECULES[code] if code in (MOL_PROTEIN, MOL_DNA, MOL_RNA) else "protein"


def read_queries(source: str | Path, *, limit: int = 100_000) -> list[Query]:
    """Read queries from a FASTA file, FASTA text, or one bare sequence.

    Parameters
    ----------
    source
        A path to a FASTA file, FASTA text (starting with ``>``), or one sequence.
    limit
        Most queries read from a file.

    Returns
    -------
    list of Query
        The queries, each with its detected molecule type.

    Raises
    ------
    QueryError
        If nothing usable is found, or a bare sequence has characters that are not residues.
    """
    if isinstance(source, Path) or _is_file(source):
        return _read_file(source, limit)
    text = str(source).strip()
    if not text:
        raise QueryError("the query is empty; paste a sequence or a FASTA record")
    if text.startswith(">"):
        queries: list[Query] = []
        for block in text[1:].split("\n>"):
            title, _, body = block.partition("\n")
            seq = _normalise(body, split_title(title)[0] or f"query{len(queries) + 1}")
            queries.append(Query(split_title(title)[0] or f"query{len(queries) + 1}", seq, detect_molecule(seq)))
        return queries
    seq = _normalise(text, "query")
    return [Query("query", seq, detect_molecule(seq))]


def _read_file(source: str | Path, limit: int) -> list[Query]:
    reader = FastaReader(source)
    out: list[Query] = []
    for batch in reader:
        for i, title in enumerate(batch.titles):
            ident = split_title(title)[0] or f"query{len(out) + 1}"
            seq = batch.sequence(i)
            out.append(Query(ident, seq, detect_molecule(seq)))
            if len(out) > limit:
                raise QueryError(f"more than {limit:,} queries in {source}; split the file")
    if not out:
        raise QueryError(f"no usable query sequence in {source}")
    return out


def _is_file(text: str) -> bool:
    if "\n" in text or len(text) > 4096:
        return False
    try:
        return Path(text).expanduser().is_file()
    except OSError:  # e.g. a long pasted sequence is "too long" as a file name
        return False


def _normalise(text: str, ident: str) -> str:
    try:
        seq = normalise_query(text)
    except ValueError as exc:
        raise QueryError(f"query {ident!r}: {exc}") from None
    if not seq:
        raise QueryError(f"query {ident!r} has no residues")
    return seq
