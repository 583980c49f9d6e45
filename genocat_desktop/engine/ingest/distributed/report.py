"""The outcome of a bulk ingest (:class:`IngestReport`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from genocat_desktop.engine.ingest.reports import FileReport

__all__ = ["IngestReport"]


@dataclass(slots=True)
class IngestReport:
    """The outcome of :func:`ingest`.

    ``committed`` is true when the ingest's rows were published (or nothing was
    new); ``version`` is then the catalog version holding them. On failure
    ``error`` says why and ``failed_parts`` names the inputs whose tasks failed;
    the catalog is unchanged.
    """

    engine: str
    workers: int
    files: list[FileReport] = field(default_factory=list)
    parts: int = 0
    committed: bool = False
    version: int | None = None
    cancelled: bool = False
    error: str | None = None
    failed_parts: list[str] = field(default_factory=list)
    aliases_added: int = 0
    bytes: int = 0
    seconds: float = 0.0
    phase_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def imported(self) -> int:
        """New rows over all files (0 unless committed)."""
        return sum(f.imported for f in self.files) if self.committed else 0

    @property
    def records(self) -> int:
        """Records read over all files."""
        return sum(f.records for f in self.files)

    @property
    def failed(self) -> list[FileReport]:
        """Files that were rejected."""
        return [f for f in self.files if not f.ok]

    @property
    def proteins_predicted(self) -> int:
        """Proteins predicted on the DNA records over all files (gene calling; 0 without)."""
        return sum(f.proteins_predicted for f in self.files)

    @property
    def contigs_called(self) -> int:
        """DNA records gene calling went through, over all files."""
        return sum(f.contigs_called for f in self.files)

    @property
    def rate(self) -> float:
        """Records per second over the whole ingest."""
        return self.records / self.seconds if self.seconds else 0.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        return {
            "engine": self.engine, "workers": self.workers, "parts": self.parts, "committed": self.committed,
            "version": self.version, "cancelled": self.cancelled, "error": self.error,
            "failed_parts": self.failed_parts, "records": self.records, "imported": self.imported,
            "aliases_added": self.aliases_added, "bytes": self.bytes, "seconds": round(self.seconds, 3),
            "records_per_second": round(self.rate, 1),
            "phase_seconds": {k: round(v, 3) for k, v in self.phase_seconds.items()},
            "files": [
                {"path": f.path, "records": f.records, "imported": f.imported if self.committed else 0,
                 "duplicates_in_file": f.duplicates_in_file, "already_in_catalog": f.already_in_catalog,
                 "skipped": f.skipped, "warnings": f.warnings, "error": f.error,
                 "issues": [str(i) for i in f.issues],
                 **({"proteins_predicted": f.proteins_predicted, "contigs_called": f.contigs_called,
                     "gene_modes": f.gene_modes} if f.contigs_called else {})}
                for f in self.files
            ],
        }
