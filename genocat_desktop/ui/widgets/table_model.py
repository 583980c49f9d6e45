"""A Qt table model over an Arrow table: sorted and filtered by Arrow.

The model keeps the Arrow table as it is (no copy into Python lists): a cell
is converted when the view asks for it, which is only for the rows on screen.
Sorting is done by Arrow (``sort_indices``) into a permutation, not by Qt
comparing cells one pair at a time through Python (10,000 hits sort in a few
milliseconds instead of about a second). The browser sets ``server_sort``: a
header click then asks the engine for the first page in that order instead.

Filtering by a typed text is done here too (an Arrow mask over the rows), not by
a ``QSortFilterProxyModel``: through a proxy, each of the seven roles the view
asks of a painted cell made the proxy create a source index, which calls this
model's ``rowCount`` and ``columnCount`` in Python; that was a third of the
table's repaint time (bench/gui_bench.py).
"""

from __future__ import annotations

import datetime as _dt
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtGui import QBrush, QGuiApplication, QPalette

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

__all__ = ["COLUMN_LABELS", "HEADER_TIPS", "ArrowTableModel"]

Index = QModelIndex | QPersistentModelIndex

#: Header labels for the built-in columns (others show their own name).
COLUMN_LABELS = {
    "rank": "Rank", "score": "Score", "id": "ID", "accession": "Accession", "name": "Name",
    "organism": "Organism", "taxid": "TaxID", "gene": "Gene", "length": "Length", "molecule": "Molecule",
    "description": "Description", "aliases": "Aliases", "db": "DB", "entry_name": "Entry name",
    "protein_existence": "PE", "sequence_version": "SV", "source_file": "Source file", "seq_hash": "Sequence MD5",
    "sequence": "Sequence", "imported_at": "Imported", "query_id": "Query",
    "aln_score": "Aln score", "bits": "Bits", "evalue": "E-value", "identity": "% identity",
    "query_cov": "Query cover", "target_cov": "Hit cover", "title": "Description",
    "sstrand": "Strand", "frame": "Frame", "hit_start": "Start", "hit_end": "End", "query_start": "Query start",
    "query_end": "Query end",
    "containment": "Containment", "ani": "ANI", "distance": "Distance", "jaccard": "Jaccard",
    "shared_hashes": "Shared hashes",
}
#: Text cells longer than this are cut in the table (the detail pane shows all).
MAX_CELL = 120
SORT_ROLE = Qt.ItemDataRole.UserRole + 1

# Plain ints and precomputed answers for ArrowTableModel.data(), which runs for every painted cell.
_DISPLAY = int(Qt.ItemDataRole.DisplayRole)
_ALIGNMENT = int(Qt.ItemDataRole.TextAlignmentRole)
_TOOLTIP = int(Qt.ItemDataRole.ToolTipRole)
_FOREGROUND = int(Qt.ItemDataRole.ForegroundRole)
_ANSWERED = frozenset({_DISPLAY, _ALIGNMENT, _TOOLTIP, _FOREGROUND, int(SORT_ROLE), int(Qt.ItemDataRole.EditRole)})
_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
_LEFT = int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
_FLAGS = Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemNeverHasChildren
_EDITABLE_FLAGS = _FLAGS | Qt.ItemFlag.ItemIsEditable
_NO_FLAGS = Qt.ItemFlag.NoItemFlags


class ArrowTableModel(QAbstractTableModel):
    """Rows of an Arrow table; read-only except the columns named in :attr:`editable`.

    An edited cell is not written into the table: the model emits
    ``cell_edited`` and the owner saves the value with an engine job, then
    shows the rows again (the catalog is the only copy of the truth).

    Signals
    -------
    sort_requested(str, bool)
        With ``server_sort``: the column name and descending, when a header is clicked.
    cell_edited(int, str, str)
        View row, column name and the text typed into an editable cell.
    """

    sort_requested = Signal(str, bool)
    cell_edited = Signal(int, str, str)

    def __init__(self, parent: Any = None, *, server_sort: bool = False) -> None:
        super().__init__(parent)
        self.server_sort = server_sort
        self._table: pa.Table | None = None
        self._names: list[str] = []
        self._arrays: list[Any] = []
        #: Table rows in the sort order (None: the table's own order).
        self._sorted: np.ndarray | None = None
        #: View row -> table row: the sorted rows that pass the filter (None: all rows, unsorted).
        self._order: np.ndarray | None = None
        self._rows = 0
        self._filter_text = ""
        #: Per column: its values as Python objects, converted on first use (None until then).
        self._values: list[list[Any] | None] = []
        #: Display text per (view row, column), made once; cleared whenever rows move.
        self._shown: dict[tuple[int, int], str] = {}
        self._numeric: list[bool] = []
        self._docs: dict[str, str] = {}
        self.sort_column: str | None = None
        self.sort_descending = False
        #: Columns whose cells can be edited (user fields, in the catalog browser).
        self.editable: set[str] = set()
        #: Header labels that differ from :data:`COLUMN_LABELS` for this table (e.g. which score).
        self.labels: dict[str, str] = {}
        #: Header tooltips that differ from the built-in ones for this table (what the score is).
        self.tips: dict[str, str] = {}
        #: Per table row: drawn dimmed (hits past the E-value cut-off); None: none is.
        self._dimmed: np.ndarray | None = None

    # ------------------------------------------------------------------ data in
    def set_table(self, table: pa.Table | None, docs: dict[str, str] | None = None) -> None:
        """Show ``table`` (``None`` empties the view). Column order follows the table."""
        import pyarrow as pa

        self.beginResetModel()
        if table is not None:
            # One chunk per column: indexing a ChunkedArray walks its chunks.
            table = table.combine_chunks()
        self._table = table
        self._names = list(table.column_names) if table is not None else []
        self._arrays = [table.column(i).chunk(0) if table.column(i).num_chunks else None
                        for i in range(table.num_columns)] if table is not None else []
        self._numeric = [
            pa.types.is_integer(f.type) or pa.types.is_floating(f.type) for f in table.schema
        ] if table is not None else []
        self._values = [None] * len(self._names)
        self._shown = {}
        if docs is not None:
            self._docs = docs
        self._dimmed = None
        self._sorted = None
        if table is not None and not self.server_sort and self.sort_column in self._names:
            self._sorted = self._sorted_order(self.sort_column, self.sort_descending)
        self._apply_filter()
        self.endResetModel()

    @property
    def table(self) -> pa.Table | None:
        """The Arrow table shown, in its original order."""
        return self._table

    @property
    def column_names(self) -> list[str]:
        """The table's column names."""
        return list(self._names)

    def table_row(self, row: int) -> int:
        """The Arrow row behind view row ``row`` (they differ once sorted)."""
        return int(self._order[row]) if self._order is not None else row

    def row_dict(self, row: int) -> dict[str, Any]:
        """All values of view row ``row``, as Python objects."""
        r = self.table_row(row)
        return {name: (arr[r].as_py() if arr is not None else None) for name, arr in zip(self._names, self._arrays,
                                                                                          strict=True)}

    def take(self, rows: list[int]) -> pa.Table:
        """The Arrow rows behind view rows ``rows``, in that order."""
        assert self._table is not None
        return self._table.take([self.table_row(r) for r in rows])

    def view_row(self, table_row: int) -> int:
        """The view row showing Arrow row ``table_row`` (-1 when the filter hides it)."""
        import numpy as np

        if self._order is None:
            return table_row if 0 <= table_row < self._rows else -1
        found = np.flatnonzero(self._order == table_row)
        return int(found[0]) if found.size else -1

    def set_dimmed(self, rows: np.ndarray | None) -> None:
        """Draw the table rows where ``rows`` (a bool array in table order) is true in the palette's dim colour."""
        self._dimmed = rows
        if self._rows and self._names:
            self.dataChanged.emit(self.index(0, 0), self.index(self._rows - 1, len(self._names) - 1),
                                  [Qt.ItemDataRole.ForegroundRole])

    def is_dimmed(self, row: int) -> bool:
        """Whether view row ``row`` is drawn dimmed (see :meth:`set_dimmed`)."""
        return self._dimmed is not None and bool(self._dimmed[self.table_row(row)])

    def reset_sort(self) -> None:
        """Forget the sort order: the next table is shown in its own order (best hit first)."""
        self.sort_column, self.sort_descending = None, False
        if self._sorted is not None:
            self._change_rows(lambda: setattr(self, "_sorted", None))

    def value(self, row: int, name: str) -> Any:
        """One cell by column name, as a Python object."""
        col = self._names.index(name)
        return self._value(row, col) if self._arrays[col] is not None else None

    # ------------------------------------------------------------------ Qt model
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 (Qt's own signature)
        return 0 if parent.isValid() else self._rows

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._names)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        # The view asks for six or seven roles of every cell it paints, from C++, once per repaint:
        # the roles this model never answers return first, and a cell's text is made once per table.
        # (Converting cells here was the largest part of a results repaint: bench/gui_bench.py.)
        if role not in _ANSWERED:
            return None
        row, col = index.row(), index.column()
        if row < 0 or col < 0 or col >= len(self._names) or self._arrays[col] is None:
            return None
        if role == _DISPLAY:
            key = (row, col)
            text = self._shown.get(key)
            if text is None:
                text = self._shown[key] = _display(self._names[col], self._value(row, col))
            return text
        if role == _ALIGNMENT:
            return _RIGHT if self._numeric[col] else _LEFT
        if role == _FOREGROUND:
            if self._dimmed is None or not self._dimmed[self.table_row(row)]:
                return None
            # The palette's own dim text colour, so a dark palette stays readable.
            return QBrush(QGuiApplication.palette().color(QPalette.ColorRole.PlaceholderText))
        if role == _TOOLTIP:
            text = _display(self._names[col], self._value(row, col), limit=2000)
            return text if len(text) > 40 else None
        if role == SORT_ROLE:
            return self._value(row, col)
        value = self._value(row, col)  # EditRole
        return "" if value is None else str(value)

    def _value(self, row: int, col: int) -> Any:
        """A cell as a Python object; a column is converted to Python once, when first shown."""
        values = self._values[col]
        if values is None:
            values = self._values[col] = self._arrays[col].to_pylist()
        return values[self.table_row(row)]

    def flags(self, index: Index) -> Qt.ItemFlag:
        if self.editable and index.isValid() and self._names[index.column()] in self.editable:
            return _EDITABLE_FLAGS
        return _FLAGS if index.isValid() else _NO_FLAGS

    def setData(self, index: Index, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:
        if role != Qt.ItemDataRole.EditRole or not index.isValid():
            return False
        name = self._names[index.column()]
        if name not in self.editable:
            return False
        text = "" if value is None else str(value)
        if text == self.data(index, Qt.ItemDataRole.EditRole):
            return False
        self.cell_edited.emit(index.row(), name, text)
        return False  # saved by an engine job; the page is shown again afterwards

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and 0 <= section < len(self._names):
            name = self._names[section]
            if role == Qt.ItemDataRole.DisplayRole:
                return self.labels.get(name) or COLUMN_LABELS.get(name, name)
            if role == Qt.ItemDataRole.ToolTipRole:
                doc = self.tips.get(name) or self._docs.get(name) or HEADER_TIPS.get(name, "")
                return f"{name}: {doc}" if doc else name
        if orientation == Qt.Orientation.Vertical and role == Qt.ItemDataRole.DisplayRole:
            return section + 1
        return None

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Sort by a column with Arrow (or, with ``server_sort``, ask for it)."""
        if not 0 <= column < len(self._names):
            return
        name = self._names[column]
        descending = order == Qt.SortOrder.DescendingOrder
        self.sort_column, self.sort_descending = name, descending
        if self.server_sort:
            self.sort_requested.emit(name, descending)
            return
        if self._table is None:
            return
        self._change_rows(lambda: setattr(self, "_sorted", self._sorted_order(name, descending)))

    # ------------------------------------------------------------------ filter
    #: The columns a filter text is looked for in.
    SEARCHED = ("id", "accession", "name", "organism", "gene", "description", "entry_name")

    @property
    def filter_text(self) -> str:
        """The text rows are filtered by ("" when all rows are shown)."""
        return self._filter_text

    def set_filter_text(self, text: str) -> None:
        """Show only rows whose identifier, name, organism, gene or description contains ``text``.

        Case-insensitive; an empty text shows all rows. Selected rows that still pass stay selected.
        """
        text = text.strip().lower()
        if text != self._filter_text:
            self._change_rows(lambda: setattr(self, "_filter_text", text))

    def _change_rows(self, change: Any) -> None:
        """Apply ``change()`` (a new sort order or filter) as a layout change that keeps persistent indexes."""
        import numpy as np

        self.layoutAboutToBeChanged.emit()
        old_rows = [(p, self.table_row(p.row())) for p in self.persistentIndexList()]
        change()
        self._apply_filter()
        self._shown = {}
        if old_rows and self._table is not None:
            position = np.full(self._table.num_rows, -1, dtype=np.int64)  # table row -> view row
            position[self._order if self._order is not None else np.arange(self._rows)] = np.arange(self._rows)
            for p, table_row in old_rows:
                row = int(position[table_row])
                self.changePersistentIndex(p, self.index(row, p.column()) if row >= 0 else QModelIndex())
        self.layoutChanged.emit()

    def _apply_filter(self) -> None:
        """Compute the view rows (:attr:`_order`, :attr:`_rows`) from the sort order and the filter text."""
        import numpy as np

        if self._table is None:
            self._order, self._rows = None, 0
            return
        order = self._sorted
        if self._filter_text:
            mask = self._filter_mask(self._filter_text)
            order = order[mask[order]] if order is not None else np.flatnonzero(mask)
        self._order = order
        self._rows = int(order.size) if order is not None else self._table.num_rows

    def _filter_mask(self, text: str) -> np.ndarray:
        """Which table rows contain ``text`` in a searched column: one Arrow kernel per column."""
        import numpy as np
        import pyarrow.compute as pc

        assert self._table is not None
        mask = np.zeros(self._table.num_rows, dtype=bool)
        for name in self.SEARCHED:
            if name in self._names:
                column = pc.cast(self._table.column(name), "string")
                hit = pc.match_substring(pc.utf8_lower(column), text)
                mask |= np.asarray(hit.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)
        return mask

    def _sorted_order(self, name: str, descending: bool) -> np.ndarray:
        import pyarrow as pa
        import pyarrow.compute as pc

        assert self._table is not None
        column = self._table.column(name)
        if pa.types.is_list(column.type) or pa.types.is_large_list(column.type):
            column = pc.list_value_length(column)
        order = "descending" if descending else "ascending"
        indices = pc.sort_indices(pa.table({"k": column}), sort_keys=[("k", order, "at_end")])
        return indices.to_numpy()


#: Header tooltips of the built-in columns (a hit table's own, :attr:`ArrowTableModel.tips`, come first).
HEADER_TIPS = {
    "rank": "position in the hit list (1 = most similar)",
    "score": "cosine similarity of the query's and the hit's embeddings (1 = the same vector)",
    "query_id": "the query this hit answers",
    "aln_score": "raw Smith-Waterman score of the alignment to the query (the scheme is under the alignment "
                 "in the detail pane)",
    "bits": "bit score of the alignment (higher is better; independent of the catalog's size)",
    "title": "the hit's name, or its FASTA description",
    "evalue": "expected number of alignments this good by chance in a catalog of this size",
    "identity": "identical positions / alignment length (gaps count)",
    "query_cov": "share of the query inside the alignment",
    "target_cov": "share of the hit inside the alignment",
    "sstrand": "strand of the hit the query aligned to: plus (as stored) or minus (its reverse complement)",
    "frame": "reading frame of the translated alignment (+1..+3 as stored, -1..-3 on the reverse complement)",
    "hit_start": "first aligned base on the record (1-based; above End on the minus strand)",
    "hit_end": "last aligned base on the record",
    "query_start": "first aligned base on the nucleotide query (1-based; above its end on the minus strand)",
    "query_end": "last aligned base on the nucleotide query",
    "containment": "share of the query's k-mers (sketch hashes, either strand) found in this record",
    "ani": "average nucleotide identity estimated from the containment (sourmash's containment ANI)",
    "distance": "Mash-like distance from the Jaccard index (sourmash's Jaccard ANI; about the divergence)",
    "jaccard": "shared hashes / hashes in either sketch",
    "shared_hashes": "sketch hashes the query and the record share (about one k-mer in 'scaled')",
}


def _display(name: str, value: Any, limit: int = MAX_CELL) -> str:
    if value is None:
        return ""
    if name == "score" and isinstance(value, float):
        return f"{value:.3f}"
    if name in ("identity", "query_cov", "target_cov") and isinstance(value, float):
        return f"{value:.0%}"
    if name == "evalue" and isinstance(value, float):
        return f"{value:.1e}" if value < 0.01 else f"{value:.2g}"
    if name == "bits" and isinstance(value, float):
        return f"{value:.1f}"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        text = "; ".join(str(v) for v in value)
    elif isinstance(value, _dt.datetime):
        text = value.strftime("%Y-%m-%d %H:%M")
    else:
        text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
