"""The Search tab's BLAST-style results: the E-value cut-off, the hit titles, and the "no significant
similarity" banner that stands in for a hit table whose hits are all past the cut-off."""

from __future__ import annotations

from collections import Counter
from typing import Any

from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QWidget

from genocat_desktop.app.search import is_nucleotide
from genocat_desktop.ui.widgets.table_view import ArrowTableView

__all__ = ["ALIGNED_HIT_ORDER", "SignificanceBanner", "blast_table", "fit_blast_columns", "hit_headers",
           "parse_cutoff"]

#: With alignment: the columns a BLAST user scans first, in BLAST's order (then the rest of the fields);
#: a nucleotide hit's strand and, located in a long record or translated, where on the record it lies.
ALIGNED_HIT_ORDER = ("rank", "title", "organism", "bits", "query_cov", "evalue", "identity", "sstrand", "frame",
                     "hit_start", "hit_end", "accession", "id", "length", "score")
#: The columns :func:`fit_blast_columns` fits beside the title (the title takes what remains; strand and
#: region may need the scroll bar on a narrow window: the detail pane says them too).
_SCANNED = ("rank", "organism", "bits", "query_cov", "evalue", "identity", "accession")


def parse_cutoff(text: str) -> float | None:
    """An E-value cut-off typed by the user, or ``None`` when ``text`` is not a number ≥ 0."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value >= 0 else None


def blast_table(hits: Any, *, nucleotide: bool = False) -> Any:
    """The aligned hits with a ``title`` column and BLAST's column order.

    The title is the name, else the description, else the id. A name that several hits share
    ("predicted protein", "hypothetical protein") tells them apart by nothing: their description
    stands in for it (it names the gene's record and place), else the id follows the name.
    ``sstrand`` is kept for a nucleotide query only (a protein hit has no strand).
    """
    import pyarrow as pa

    names = hits.column("name").to_pylist() if "name" in hits.column_names else [None] * hits.num_rows
    descriptions = (hits.column("description").to_pylist() if "description" in hits.column_names
                    else [None] * hits.num_rows)
    ids = hits.column("id").to_pylist()
    counts = Counter(n for n in names if n)
    titles = [(n if counts[n] == 1 else d if d and d != n else f"{n} · {i}") if n else d or i
              for n, d, i in zip(names, descriptions, ids, strict=True)]
    table = hits.append_column("title", pa.array(titles, pa.string()))
    if not nucleotide and "sstrand" in table.column_names:
        table = table.drop_columns(["sstrand"])
    first = [c for c in ALIGNED_HIT_ORDER if c in table.column_names]
    return table.select(first + [c for c in table.column_names if c not in first])


def hit_headers(result: Any, aligned: bool) -> tuple[dict[str, str], dict[str, str]]:
    """The hit table's header labels and tooltips that say what this result's columns are.

    Parameters
    ----------
    result
        A :class:`~genocat_desktop.engine.search.searcher.SearchResult` (its ``extra["strategy"]``,
        query and embedding column say which search made it).
    aligned
        Whether the hits carry alignment columns (the bit score ranks them).

    Returns
    -------
    tuple of dict
        Labels and tooltips by column name, over :data:`~.table_model.COLUMN_LABELS` and
        :data:`~.table_model.HEADER_TIPS`.
    """
    strategy = result.extra.get("strategy")
    if strategy == "sketch":  # score = containment (engine/search/sketches.py)
        return {"score": "Score (containment)"}, {
            "score": "containment: the share of the query's sketch hashes (k-mers, either strand) found in this "
                     "record; hits are ranked by it, then by Jaccard (the same value as Containment)"}
    if strategy == "translated":  # score = bit score (engine/search/translated.py); coordinates in bases
        return {"bits": "Score (bits)", "score": "Bits"}, {
            "score": "bit score of the translated alignment (the ranking; no embedding is compared)",
            "aln_score": "raw Smith-Waterman score of the protein alignment through the reading frame "
                         "(BLOSUM62, gaps 11 + 1 per residue)",
            "hit_start": "first base of the aligned region on the record (1-based; above End on a minus frame)",
            "hit_end": "last base of the aligned region on the record",
            "query_start": "first base of the aligned region on the nucleotide query (1-based; above Query end on "
                           "a minus frame)",
            "query_end": "last base of the aligned region on the nucleotide query"}
    cosine = f"cosine similarity of the query's and the hit's embeddings ({result.column}; 1 = the same vector)"
    tips = {
        # Located in a long record (engine/search/locate.py): BLAST's subject coordinates.
        "hit_start": "first aligned base on the record (1-based; above End when the query aligned to the minus "
                     "strand)",
        "hit_end": "last aligned base on the record",
        "query_start": "first aligned base of the query (1-based)",
        "query_end": "last aligned base of the query",
    }
    if is_nucleotide(result.query.molecule):
        tips["aln_score"] = ("raw Smith-Waterman score of the alignment to the query (blastn's scheme: match 2, "
                             "mismatch -3, gaps 5 + 2 per base, both strands)")
    else:
        tips["aln_score"] = ("raw Smith-Waterman score of the alignment to the query (BLOSUM62, gaps 11 + 1 per "
                             "residue)")
    if aligned:
        tips["score"] = f"{cosine}: shown beside the alignment; hits are ranked by bit score"
        return {"bits": "Score (bits)", "score": "Cosine"}, tips
    tips["score"] = f"{cosine}: hits are ranked by it"
    return {"score": "Score (cosine)"}, tips


def fit_blast_columns(view: ArrowTableView) -> None:
    """Size the title column so the BLAST columns fit the table's width (unless the user hid it)."""
    names = view.source.column_names
    if "title" not in names or view.isColumnHidden(names.index("title")):
        return
    header = view.horizontalHeader()
    table = view.source.table
    for col, name in enumerate(names):
        # A column no hit has a value in (organisms of unannotated contigs) gives its width to the title.
        if table is not None and not view.isColumnHidden(col) and name != "title" and table.num_rows and \
                table.column(name).null_count == table.num_rows:
            header.resizeSection(col, max(header.sectionSizeFromContents(col).width(), 40))
    others = sum(header.sectionSize(names.index(n)) for n in _SCANNED
                 if n in names and not view.isColumnHidden(names.index(n)))
    available = view.viewport().width() or view.width()
    if "organism" in names and not view.isColumnHidden(names.index("organism")):
        # A narrow window: the organism gives way (down to 110 pixels) before the title goes below 220.
        col = names.index("organism")
        cut = min(header.sectionSize(col) - 110, 220 - (available - others - 4))
        if cut > 0:
            header.resizeSection(col, header.sectionSize(col) - cut)
            others -= cut
    # At least 120 pixels: on a narrow window E-value and identity matter more (the pane has the title).
    header.resizeSection(names.index("title"), max(120, min(420, available - others - 4)))


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
