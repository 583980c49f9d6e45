"""What an import reports: per file (:class:`FileReport`), per run (:class:`ImportReport`), and its warnings."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from genocat_desktop.engine.core.errors import FastaFormatError, GenoCatError
from genocat_desktop.engine.ingest.records import RecordIssue

__all__ = ["MAX_ISSUES", "FileReport", "ImportReport", "IssueLog"]

#: At most this many warnings per file are kept in the report (the count is exact).
MAX_ISSUES: Final = 200


@dataclass(slots=True)
class FileReport:
    """What happened to one file."""

    path: str
    records: int = 0
    imported: int = 0
    duplicates_in_file: int = 0
    already_in_catalog: int = 0
    aliases_added: int = 0
    alias_rows: int = 0  # catalog rows that gained the aliases_added identifiers
    rows_filled: int = 0  # catalog rows whose empty description fields were filled from this file
    skipped: int = 0
    warnings: int = 0
    issues: list[RecordIssue] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0
    version: int | None = None
    line: int | None = None  # where in the file the error is, when it is at one place
    column: int | None = None
    # Gene calling (import with call_genes): proteins predicted, DNA records called, records per Prodigal mode.
    proteins_predicted: int = 0
    contigs_called: int = 0
    gene_modes: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True if the file was read (even if nothing in it was new)."""
        return self.error is None

    def fail(self, exc: GenoCatError) -> None:
        """Record why the file was not imported; a FASTA error keeps its record, line and column."""
        if not isinstance(exc, FastaFormatError):
            self.error = str(exc)
            return
        self.line, self.column = exc.line, exc.column
        where = [f"{name} {value}" for name, value in (("record", exc.record), ("line", exc.line),
                                                        ("column", exc.column)) if value is not None]
        self.error = f"{', '.join(where)}: {exc.reason}" if where else exc.reason

    def catalog_changes(self) -> str:
        """What this file changed in rows already in the catalog; the import report and History both say this."""
        changes = []
        if self.aliases_added:
            ids = "identifier" if self.aliases_added == 1 else "identifiers"
            rows = "row" if self.alias_rows == 1 else "rows"
            changes.append(f"{self.aliases_added:,} {ids} added as aliases to {self.alias_rows:,} {rows}")
        if self.rows_filled:
            rows = "row" if self.rows_filled == 1 else "rows"
            changes.append(f"empty description fields filled on {self.rows_filled:,} {rows}")
        return "; ".join(changes) or "no new identifier or description"

    def summary(self) -> str:
        """One line for a log or a status bar."""
        name = Path(self.path).name
        if self.error:
            return f"{name}: not imported: {self.error}"
        parts = [f"{self.imported:,} new sequence(s) from {self.records:,} record(s)"]
        if self.contigs_called:
            modes = " and ".join(f"{n:,} {mode} mode" for mode, n in sorted(self.gene_modes.items()))
            parts.append(f"{self.proteins_predicted:,} protein(s) predicted on {self.contigs_called:,} DNA "
                         f"record(s) ({modes})")
        if self.duplicates_in_file:
            parts.append(f"{self.duplicates_in_file:,} duplicate(s) in the file")
        if self.already_in_catalog:
            parts.append(f"{self.already_in_catalog:,} already in the catalog ({self.catalog_changes()})")
        if self.skipped:
            parts.append(f"{self.skipped:,} skipped")
        if self.warnings:
            parts.append(f"{self.warnings:,} warning(s)")
        return f"{name}: " + ", ".join(parts)


@dataclass(slots=True)
class ImportReport:
    """The outcome of :func:`~genocat_desktop.engine.ingest.importer.import_files`."""

    files: list[FileReport] = field(default_factory=list)
    cancelled: bool = False

    @property
    def imported(self) -> int:
        """New rows over all files."""
        return sum(f.imported for f in self.files)

    @property
    def failed(self) -> list[FileReport]:
        """Files that were rejected or failed."""
        return [f for f in self.files if not f.ok]

    @property
    def records(self) -> int:
        """Records read over all files."""
        return sum(f.records for f in self.files)


class IssueLog:
    """Adds warnings and skipped records to a :class:`FileReport`, keeping at most :data:`MAX_ISSUES`."""

    def __init__(self, report: FileReport) -> None:
        self.report = report

    def add(self, issues: Sequence[RecordIssue], skipped: int = 0) -> None:
        """Count ``issues`` (of which ``skipped`` are skipped records) and keep the first ones.

        Parameters
        ----------
        issues
            Warnings, in file order.
        skipped
            How many of them are records that were skipped.
        """
        self.report.skipped += skipped
        self.report.warnings += len(issues) - skipped
        room = MAX_ISSUES - len(self.report.issues)
        if room > 0:
            self.report.issues.extend(issues[:room])
