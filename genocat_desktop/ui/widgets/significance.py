"""The Search tab's BLAST-style results: the E-value cut-off, the hit titles, and the "no significant
similarity" banner that stands in for a hit table whose hits are all past the cut-off."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QWidget

from genocat_desktop.ui.widgets.table_view import ArrowTableView

__all__ = ["ALIGNED_HIT_ORDER", "SignificanceBanner", "blast_table", "fit_blast_columns", "parse_cutoff"]

#: With alignment: the columns a BLAST user scans first, in BLAST's order (then the rest of the fields).
ALIGNED_HIT_ORDER = ("rank", "title", "organism", "bits", "query_cov", "evalue", "identity", "accession", "id",
                     "length", "score")


def parse_cutoff(text: str) -> float | None:
    """An E-value cut-off typed by the user, or ``None`` when ``text`` is not a number ≥ 0."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value >= 0 else None


def blast_table(hits: Any) -> Any:
    """The aligned hits with a ``title`` column (name, else description, else id) and BLAST's column order."""
    import pyarrow as pa

    names = hits.column("name").to_pylist() if "name" in hits.column_names else [None] * hits.num_rows
    descriptions = (hits.column("description").to_pylist() if "description" in hits.column_names
                    else [None] * hits.num_rows)
    ids = hits.column("id").to_pylist()
    titles = [n or d or i for n, d, i in zip(names, descriptions, ids, strict=True)]
    table = hits.append_column("title", pa.array(titles, pa.string()))
    first = [c for c in ALIGNED_HIT_ORDER if c in table.column_names]
    return table.select(first + [c for c in table.column_names if c not in first])


def fit_blast_columns(view: ArrowTableView) -> None:
    """Size the title column so the BLAST columns fit the table's width (unless the user hid it)."""
    names = view.source.column_names
    if "title" not in names or view.isColumnHidden(names.index("title")):
        return
    header = view.horizontalHeader()
    others = sum(header.sectionSize(names.index(n)) for n in ALIGNED_HIT_ORDER[:8]
                 if n != "title" and n in names and not view.isColumnHidden(names.index(n)))
    available = view.viewport().width() or view.width()
    header.resizeSection(names.index("title"), max(140, min(420, available - others - 4)))


class SignificanceBanner(QWidget):
    """"No significant similarity found" above ``hits_table``, which it hides, with a button to list them.

    Parameters
    ----------
    hits_table
        The hit table whose rows past the cut-off are dimmed (and hidden when none passes).
    """

    def __init__(self, hits_table: ArrowTableView, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.hits_table = hits_table
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.show_button = QPushButton("Show them")
        self.show_button.setToolTip("List the hits past the E-value cut-off (dimmed)")
        self.show_button.clicked.connect(lambda: self.show_hits(True))
        layout.addWidget(self.label, 1)
        layout.addWidget(self.show_button)
        self.setVisible(False)

    def apply(self, cutoff: float, *, judged: bool = True) -> int | None:
        """Dim the hits past ``cutoff``; say so when none passes.

        Parameters
        ----------
        cutoff
            The largest E-value of a significant hit.
        judged
            ``False`` when no search results are shown (nothing is judged).

        Returns
        -------
        int or None
            How many hits pass; ``None`` when the hits have no E-values.
        """
        import numpy as np

        source = self.hits_table.source
        table = source.table
        if not judged or table is None or "evalue" not in table.column_names:
            self._no_statistics()
            return None
        evalues = table.column("evalue").to_numpy(zero_copy_only=False).astype(float)
        known = np.isfinite(evalues)
        if not known.any():  # nucleotide hits: no statistics, nothing to judge
            self._no_statistics()
            return None
        passing = known & (evalues <= cutoff)
        source.set_dimmed(known & ~passing)
        count = int(passing.sum())
        none = count == 0 and table.num_rows > 0
        if none:
            self.label.setText(
                f"<b>No significant similarity found.</b> No hit has an E-value ≤ {cutoff:g}; "
                f"{table.num_rows:,} hits past the cut-off are hidden."
            )
        self.setVisible(none)
        self.show_hits(not none)
        return count

    def _no_statistics(self) -> None:
        self.setVisible(False)
        self.hits_table.setVisible(True)

    def show_hits(self, shown: bool) -> None:
        """Show or hide the hit table (hidden when no hit is significant, until the user asks)."""
        self.hits_table.setVisible(shown)
        self.show_button.setVisible(not shown)
