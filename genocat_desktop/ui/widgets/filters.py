"""Metadata filter rows (field, operator, value) built from the catalog's fields: no SQL to write."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from genocat_desktop.app.catalog import FieldSpec, FilterSpec
from genocat_desktop.ui.widgets.table_model import COLUMN_LABELS as FIELD_LABELS

__all__ = ["FilterEditor"]

#: Operators offered per kind of field (the engine checks them again).
OPERATORS_BY_KIND = {
    "text": ["contains", "=", "!=", "starts with", "in", "is empty", "is not empty"],
    "number": [">", ">=", "<", "<=", "=", "!=", "in", "is empty", "is not empty"],
    "date": [">", ">=", "<", "<=", "is empty", "is not empty"],
    "list": ["contains", "is empty", "is not empty"],
}
_UNARY = {"is empty", "is not empty"}
_HINTS = {
    "text": "text (case-insensitive for 'contains')",
    "number": "a number",
    "date": "a date, e.g. 2026-01-31",
    "list": "an identifier",
}
#: Fields offered first (the ones biologists filter on most).
_PREFERRED = ("organism", "length", "taxid", "gene", "name", "description", "id", "molecule", "source_file")


class _FilterRow(QWidget):
    changed = Signal()
    removed = Signal(object)
    submitted = Signal()

    def __init__(self, fields: Sequence[FieldSpec], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._fields = {f.name: f for f in fields}
        # Two lines: field and operator above, the value below at the full width of the pane (on one
        # line the combos left the value box ~25 px wide).
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(2)
        layout = QHBoxLayout()
        layout.setSpacing(4)
        self.field = QComboBox()
        self.field.setToolTip("The field to filter on")
        self.field.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.field.setMinimumContentsLength(8)
        for f in fields:
            # The label a user reads ("Sequence MD5"); the field's own name is the item's data.
            self.field.addItem(FIELD_LABELS.get(f.name, f.name), f.name)
            self.field.setItemData(self.field.count() - 1, f"{f.name}: {f.description}", 3)  # 3 = ToolTipRole
        self.op = QComboBox()
        self.op.setToolTip("How to compare")
        self.value = QLineEdit()
        self.value.setClearButtonEnabled(True)
        self.value.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.value.setMinimumWidth(120)
        self.remove = QToolButton()
        self.remove.setText("✕")
        self.remove.setToolTip("Remove this filter")
        self.remove.setAutoRaise(True)
        layout.addWidget(self.field, 3)
        layout.addWidget(self.op, 2)
        layout.addWidget(self.remove)
        outer.addLayout(layout)
        outer.addWidget(self.value)
        self.field.currentIndexChanged.connect(lambda _i: self._on_field(self.field_name()))
        self.op.currentTextChanged.connect(self._on_op)
        self.value.textChanged.connect(self.changed)
        self.value.returnPressed.connect(self.submitted)
        self.remove.clicked.connect(lambda: self.removed.emit(self))
        self._on_field(self.field_name())

    def field_name(self) -> str:
        """The name of the chosen field (the combo shows its label)."""
        return str(self.field.currentData() or self.field.currentText())

    def set_field(self, name: str) -> None:
        """Choose the field called ``name``."""
        index = self.field.findData(name)
        if index >= 0:
            self.field.setCurrentIndex(index)

    def _on_field(self, name: str) -> None:
        kind = self._fields[name].kind if name in self._fields else "text"
        current = self.op.currentText()
        self.op.blockSignals(True)
        self.op.clear()
        self.op.addItems(OPERATORS_BY_KIND.get(kind, OPERATORS_BY_KIND["text"]))
        if current and self.op.findText(current) >= 0:
            self.op.setCurrentText(current)
        self.op.blockSignals(False)
        self.value.setPlaceholderText(_HINTS.get(kind, "value"))
        self._on_op(self.op.currentText())

    def _on_op(self, op: str) -> None:
        self.value.setEnabled(op not in _UNARY)
        if op == "in":
            self.value.setPlaceholderText("values separated by commas")
        self.changed.emit()

    def spec(self) -> FilterSpec | None:
        op = self.op.currentText()
        if op not in _UNARY and not self.value.text().strip():
            return None  # an unfinished row filters nothing
        return (self.field_name(), op, self.value.text())


class _RowsArea(QScrollArea):
    """The filter rows: as tall as they need (room allowing), at least about one row, then scrolled."""

    def __init__(self, rows: QWidget) -> None:
        super().__init__()
        self._rows = rows
        self.setWidget(rows)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)

    def sizeHint(self) -> QSize:
        inner = self._rows.sizeHint()
        return QSize(inner.width() + self.verticalScrollBar().sizeHint().width(), inner.height())

    def minimumSizeHint(self) -> QSize:
        inner = self._rows.minimumSizeHint()
        one_row = min(inner.height(), 2 * self.fontMetrics().height() + 12)
        return QSize(inner.width() + self.verticalScrollBar().sizeHint().width(), one_row)


class FilterEditor(QWidget):
    """A list of filter rows and an "Add filter" button.

    Signals
    -------
    changed()
        A row was added, removed or edited.
    submitted()
        Enter was pressed in a value box: search (or list) with the filters now.
    """

    changed = Signal()
    submitted = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._fields: list[FieldSpec] = []
        self._rows: list[_FilterRow] = []
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(4)
        # The rows scroll: each added row raised the window's minimum height, until a search with
        # many filters (restored from the history) pushed the window past the bottom of the screen.
        rows = QWidget()
        self._layout = QVBoxLayout(rows)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(4)
        self._layout.addStretch(1)
        self._scroll = _RowsArea(rows)
        self.add_button = QPushButton("+ Add filter")
        self.add_button.setToolTip("Keep only rows whose metadata match, e.g. organism contains coli, length > 200")
        self.add_button.clicked.connect(lambda: self.add_row())
        self.add_button.setEnabled(False)
        outer.addWidget(self._scroll, 1)
        outer.addWidget(self.add_button)

    def set_fields(self, fields: Sequence[FieldSpec]) -> None:
        """The catalog's fields (vector columns are left out); keeps rows whose field still exists."""
        usable = [f for f in fields if f.kind != "vector"]
        order = {name: i for i, name in enumerate(_PREFERRED)}
        self._fields = sorted(usable, key=lambda f: (order.get(f.name, len(order)), f.name))
        self.add_button.setEnabled(bool(self._fields))

    def add_row(self, field: str | None = None, op: str | None = None, value: str = "") -> None:
        """Add a filter row, optionally filled in."""
        if not self._fields:
            return
        row = _FilterRow(self._fields, self)
        if field:
            row.set_field(field)
        if op:
            row.op.setCurrentText(op)
        row.value.setText(value)
        row.changed.connect(self.changed)
        row.submitted.connect(self.submitted)
        row.removed.connect(self._remove)
        self._rows.append(row)
        self._layout.insertWidget(self._layout.count() - 1, row)
        self._scroll.updateGeometry()
        row.value.setFocus()
        self.changed.emit()

    def _remove(self, row: _FilterRow) -> None:
        self._rows.remove(row)
        self._layout.removeWidget(row)
        self._scroll.updateGeometry()
        row.deleteLater()
        self.changed.emit()

    def clear(self) -> None:
        """Remove every row."""
        for row in list(self._rows):
            self._remove(row)

    def specs(self) -> list[FilterSpec]:
        """The complete rows, as (field, operator, value text)."""
        return [s for s in (r.spec() for r in self._rows) if s is not None]
