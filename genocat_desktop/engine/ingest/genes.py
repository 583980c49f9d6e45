"""Gene calling at import: the predicted proteins of genomes and contigs, as rows linked to their record.

With gene calling on (``import_files(..., call_genes=True)``, ``genocat import --call-genes``, the
window's File → Call genes at import; bulk ingest with ``genocat ingest --call-genes`` and its
dialog's checkbox runs the same reader in every task), every DNA record of a file goes through Prodigal (the
``pyrodigal`` binding) and each predicted protein becomes one more record of the file, right after
the batch of its contig. The rest of the import treats them like any record: the same checks,
hashes, deduplication (one row per sequence; a protein already in the catalog gains the
identifier as an alias), vectors, and the file's one commit. The contig row itself is kept.

A predicted protein's header is the one Prodigal writes to its ``-a`` protein file::

    <contig>_<n> # <start> # <end> # <1|-1> # ID=<record>_<n>;partial=00;start_type=ATG;rbs_motif=...

so its identifier is ``<contig>_<n>`` (the n-th gene of the contig, in order along it), and
:mod:`~genocat_desktop.engine.ingest.headers` reads the same header from Prodigal's own output
files and from ours alike: the contig, the 1-based inclusive coordinates (as NCBI and Prodigal
give them) and the strand go to the catalog's gene fields (:data:`GENE_FIELDS`), which NCBI
``cds_from_genomic`` headers (``[location=complement(158..988)]``) fill too.

Which Prodigal mode: a record of at least :data:`TRAIN_MIN_LENGTH` (100 kbp) is a genome or a
large contig: Prodigal is trained on that record alone and finds its genes in *single* mode, as
``prodigal`` does by default; shorter records (draft-assembly contigs, plasmids, phages, single
genes) use the *metagenomic* mode (``-p meta``), whose 50 pre-trained models need no training.
Why 100 kbp: Prodigal's documentation asks for at least 100 kbp of training sequence (pyrodigal
warns below it, and refuses below 20 kbp); on a 44.7 kbp MIBiG cluster with 10 annotated genes,
meta mode found 8 exactly and training on the record itself only 7. Training per record, not
per file, keeps a file that mixes genomes (several plasmids, a bin of several species) right,
and lets the import stream. Single mode on a genome is also 7x faster than meta mode (one
model instead of 50): 1.2 against 8.8 CPU-seconds for the 2.46 Mbp chromosome of *C. diphtheriae*,
2.4 against 17.6 for a 4.9 Mbp record (``bench/genes_run.py``). On the *E. coli* contig
MIIJ01000039 both modes give exactly the genes and proteins Prodigal itself wrote (404 in single
mode, 381 in meta mode).

Only DNA records are called (RNA and protein records are left alone), with the bacterial and
archaeal translation table 11, Prodigal's default; genes running over the ends of a contig
are kept as partial genes (``partial=10`` / ``01``), as Prodigal does.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from genocat_desktop.engine.catalog.commits import raise_if_conflict, retried
from genocat_desktop.engine.catalog.definitions import UserField
from genocat_desktop.engine.core.errors import SchemaError
from genocat_desktop.engine.core.progress import CancelToken, Progress, ProgressCallback
from genocat_desktop.engine.ingest.records import MOL_DNA, MOL_PROTEIN, ParsedBatch, RecordIssue, sequence_hash

if TYPE_CHECKING:
    from genocat_desktop.engine.catalog.table import Catalog
    from genocat_desktop.engine.ingest.fasta import FastaReader
    from genocat_desktop.engine.ingest.reports import FileReport

__all__ = [
    "GENE_FIELDS",
    "TRAIN_MIN_LENGTH",
    "GeneCaller",
    "GeneCallingReader",
    "PredictedGenes",
    "add_gene_fields",
    "missing_gene_fields",
]

#: Records at least this long are trained on (Prodigal's single mode); shorter ones use meta mode.
TRAIN_MIN_LENGTH: Final = 100_000
#: Records shorter than this are not called: Prodigal's shortest gene is 90 bp (edge genes 60 bp).
MIN_CALL_LENGTH: Final = 60
#: Predicted proteins per batch handed to the import (the reader's own batch bound).
PROTEINS_PER_BATCH: Final = 8192
#: Start codons of translation table 11 (Prodigal's ``start_type``).
_START_CODONS: Final = frozenset({"ATG", "GTG", "TTG"})

#: The catalog fields that link a protein (or a CDS) to the record it is encoded on. Added to a
#: catalog by its first import with gene calling that predicts a protein (one schema-only version,
#: before that file's rows are written); ordinary user fields afterwards: filterable
#: (``cds_contig = 'NC_000913.3'``), exported, shown, and filled from NCBI and Prodigal headers.
GENE_FIELDS: Final = (
    UserField("cds_contig", "text", description="identifier of the nucleotide record this CDS or protein is on"),
    UserField("cds_start", "integer", description="first base of the CDS on cds_contig (1-based, inclusive)"),
    UserField("cds_end", "integer", description="last base of the CDS on cds_contig (1-based, inclusive)"),
    UserField("cds_strand", "category", ("+", "-"), description="strand of the CDS on cds_contig"),
)


def missing_gene_fields(catalog: Catalog) -> list[UserField]:
    """The :data:`GENE_FIELDS` the catalog does not have yet.

    Raises
    ------
    SchemaError
        A field of that name exists with another type (the user's own field).
    """
    schema = catalog.schema
    missing = []
    for definition in GENE_FIELDS:
        if definition.name not in schema.names:
            missing.append(definition)
        elif schema.field(definition.name).type != definition.arrow_type:
            raise SchemaError(
                f"the catalog has a field {definition.name!r} of type {schema.field(definition.name).type}, "
                f"but gene calling stores {definition.type} values there: rename that field first"
            )
    return missing


@retried
def add_gene_fields(catalog: Catalog) -> int:
    """Add the missing :data:`GENE_FIELDS` in one schema-only version; return the catalog version.

    No data file is written: the existing rows read the fields as empty.
    """
    import pyarrow as pa

    catalog.refresh()
    missing = missing_gene_fields(catalog)
    if not missing:
        return catalog.version
    fields = [pa.field(d.name, d.arrow_type, nullable=True, metadata=d.to_metadata()) for d in missing]
    try:
        catalog.dataset().add_columns(fields)
    except (OSError, ValueError) as exc:
        raise_if_conflict(exc)
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise SchemaError(f"could not add the gene fields to {catalog.location}: {first}") from None
    return catalog.refresh()


@dataclass(slots=True)
class PredictedGenes:
    """The proteins predicted on one record: Prodigal-style headers and residues, and the mode used."""

    titles: list[str]
    proteins: list[bytes]
    mode: str  # "single" or "meta"


class GeneCaller:
    """Finds the genes of DNA records with pyrodigal (see the module docstring for the mode).

    Parameters
    ----------
    train_min_length
        Records at least this long are trained on (single mode); shorter ones use meta mode.
    """

    def __init__(self, train_min_length: int = TRAIN_MIN_LENGTH) -> None:
        self.train_min_length = train_min_length
        self._meta: Any = None

    def _meta_finder(self) -> Any:
        if self._meta is None:
            import pyrodigal

            self._meta = pyrodigal.GeneFinder(meta=True)
        return self._meta

    def call(self, contig: str, record: int, sequence: bytes) -> PredictedGenes:
        """Predict the proteins of one DNA record.

        Parameters
        ----------
        contig
            The record's identifier: the proteins are named ``<contig>_<n>``.
        record
            The record's number in its file (1-based), for Prodigal's ``ID=<record>_<n>``.
        sequence
            The normalised (upper-case) residues.

        Returns
        -------
        PredictedGenes
            One header and protein per gene, in order along the record.
        """
        mode = "meta"
        genes: Any = ()
        if len(sequence) >= MIN_CALL_LENGTH:
            finder = None
            if len(sequence) >= self.train_min_length:
                finder = _trained_finder(sequence)
                mode = "single" if finder is not None else "meta"
            genes = (finder or self._meta_finder()).find_genes(sequence)
        titles: list[str] = []
        proteins: list[bytes] = []
        for n, gene in enumerate(genes, start=1):
            protein = gene.translate(include_stop=False).encode("ascii")
            if not protein or b"*" in protein:
                continue  # cannot happen with table 11; a record check would skip it anyway
            start_codon = _whole_record_cds(gene, sequence)
            if start_codon:
                protein = b"M" + protein[1:]
            titles.append(_prodigal_title(contig, record, n, gene, start_codon))
            proteins.append(protein)
        return PredictedGenes(titles, proteins, mode)


def _trained_finder(sequence: bytes) -> Any:
    """A single-mode gene finder trained on ``sequence``, or None if it cannot be trained (mostly ``N``)."""
    import pyrodigal

    finder = pyrodigal.GeneFinder(meta=False)
    try:
        finder.train(sequence)
    except (ValueError, RuntimeError):
        return None
    return finder


def _whole_record_cds(gene: Any, sequence: bytes) -> str:
    """The start codon of a gene that is the whole record (a CDS file's record), else ``""``.

    Prodigal cannot see a start codon at the very first base: the gene runs off the edge
    (``partial=10``, ``start_type=Edge``) and its first codon is translated as it reads (GTG: V).
    A record that begins with a start codon and ends with the gene's stop codon, in frame, is
    taken to be that CDS: its first residue is M, as in the NCBI protein. On the first 100 CDS
    of *B. velezensis* CP040672.1 (99 complete) this made 95 proteins identical to NCBI's instead of 75.
    """
    codon = sequence[:3].decode("ascii")
    if (gene.strand == 1 and gene.begin == 1 and gene.end == len(sequence) and gene.partial_begin
            and not gene.partial_end and len(sequence) % 3 == 0 and codon in _START_CODONS):
        return codon
    return ""


def _prodigal_title(contig: str, record: int, n: int, gene: Any, start_codon: str = "") -> str:
    """The header Prodigal writes for a protein (``prodigal -a``), field for field.

    ``start_codon``: the gene is the whole record (:func:`_whole_record_cds`), complete, with this start.
    """
    partial = "00" if start_codon else f"{int(gene.partial_begin)}{int(gene.partial_end)}"
    return (
        f"{contig}_{n} # {gene.begin} # {gene.end} # {gene.strand} # ID={record}_{n};partial={partial};"
        f"start_type={start_codon or gene.start_type};rbs_motif={gene.rbs_motif};rbs_spacer={gene.rbs_spacer};"
        f"gc_cont={gene.gc_cont:.3f}"
    )


def _protein_batch(numbers: list[int], lines: list[int], titles: list[str], proteins: list[bytes]) -> ParsedBatch:
    """Predicted proteins as a parsed batch; each points at its contig's record number and header line."""
    lens = np.fromiter(map(len, proteins), dtype=np.int64, count=len(proteins))
    offsets = np.zeros(len(proteins) + 1, dtype=np.int64)
    np.cumsum(lens, out=offsets[1:])
    hashes = np.array([sequence_hash(p).encode("ascii") for p in proteins], dtype="S32")
    return ParsedBatch(
        numbers=np.asarray(numbers, dtype=np.int64),
        lines=np.asarray(lines, dtype=np.int64),
        titles=titles,
        data=b"".join(proteins),
        offsets=offsets,
        hashes=hashes,
        # Set, not detected: a short protein of letters that are also IUPAC bases is still a protein.
        molecule=np.full(len(proteins), MOL_PROTEIN, dtype=np.uint8),
    )


class GeneCallingReader:
    """A :class:`~genocat_desktop.engine.ingest.fasta.FastaReader` that also yields the predicted proteins.

    Each batch of the file is followed by the batches of the proteins predicted on its DNA
    records. Deterministic: reading the file again (pass 2 without a spill) gives the same
    records in the same order.

    Parameters
    ----------
    reader
        The file's reader.
    progress, cancel
        One report after each called record; the token is checked between records.
    prefix
        The file's name in progress messages.
    report
        Given the counts (:attr:`FileReport.proteins_predicted`, ``contigs_called``) after each batch.
    """

    def __init__(
        self,
        reader: FastaReader,
        progress: ProgressCallback,
        cancel: CancelToken,
        prefix: str,
        report: FileReport | None = None,
    ) -> None:
        self.reader = reader
        self.progress = progress
        self.cancel = cancel
        self.prefix = prefix
        self.report = report
        self.caller = GeneCaller()
        self.contigs = 0
        self.proteins = 0
        self.modes: dict[str, int] = {}

    # The reader's counters, which the scan reads.
    @property
    def size(self) -> int:
        """The file's size on disk."""
        return self.reader.size

    @property
    def bytes_read(self) -> int:
        """Bytes of the file read so far."""
        return self.reader.bytes_read

    @property
    def records(self) -> int:
        """Records of the file seen so far (predicted proteins not counted)."""
        return self.reader.records

    @property
    def file_issues(self) -> list[RecordIssue]:
        """The reader's warnings about the whole file."""
        return self.reader.file_issues

    def __iter__(self) -> Iterator[ParsedBatch]:
        self.contigs = self.proteins = 0
        self.modes = {}
        name = Path(self.reader.path).name
        for batch in self.reader:
            yield batch
            yield from self._called(batch, name)

    def _called(self, batch: ParsedBatch, name: str) -> Iterator[ParsedBatch]:
        """The batches of proteins predicted on the DNA records of ``batch``."""
        numbers: list[int] = []
        lines: list[int] = []
        titles: list[str] = []
        proteins: list[bytes] = []
        for i in np.flatnonzero(batch.molecule == MOL_DNA).tolist():
            self.cancel.raise_if_cancelled()
            number = int(batch.numbers[i])
            parts = batch.titles[i].split(None, 1)
            # The identifier the scan gives the record (a header without one: <file>#<record>).
            contig = parts[0] if parts else f"{name}#{number}"
            start, end = int(batch.offsets[i]), int(batch.offsets[i + 1])
            found = self.caller.call(contig, number, batch.data[start:end])
            self.contigs += 1
            self.proteins += len(found.proteins)
            self.modes[found.mode] = self.modes.get(found.mode, 0) + 1
            numbers += [number] * len(found.proteins)
            lines += [int(batch.lines[i])] * len(found.proteins)
            titles += found.titles
            proteins += found.proteins
            self._report()
            self.progress(Progress(self.reader.bytes_read, self.reader.size or None, "bytes", "calling genes",
                                   f"Calling genes in {self.prefix}: {self.proteins:,} proteins on "
                                   f"{self.contigs:,} record(s)"))
            while len(titles) >= PROTEINS_PER_BATCH:
                k = PROTEINS_PER_BATCH
                yield _protein_batch(numbers[:k], lines[:k], titles[:k], proteins[:k])
                numbers, lines, titles, proteins = numbers[k:], lines[k:], titles[k:], proteins[k:]
        if titles:
            yield _protein_batch(numbers, lines, titles, proteins)

    def _report(self) -> None:
        if self.report is not None:
            self.report.proteins_predicted = self.proteins
            self.report.contigs_called = self.contigs
            self.report.gene_modes = dict(self.modes)
