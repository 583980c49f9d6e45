"""Metadata filter rows (field, operator, value) built from the catalog's fields: no SQL to write."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from genocat_desktop.app.catalog import FieldSpec, FilterSpec

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

    def __init__(self, fields: Sequence[FieldSpec], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._fields = {f.name: f for f in fields}
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        self.field = QComboBox()
        self.field.setToolTip("The field to filter on")
        for f in fields:
            self.field.addItem(f.name)
            self.field.setItemData(self.field.count() - 1, f.description, 3)  # 3 = ToolTipRole
        self.op = QComboBox()
        self.op.setToolTip("How to compare")
        self.value = QLineEdit()
        self.value.setClearButtonEnabled(True)
        self.value.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.remove = QToolButton()
        self.remove.setText("✕")
        self.remove.setToolTip("Remove this filter")
        self.remove.setAutoRaise(True)
        layout.addWidget(self.field, 3)
        layout.addWidget(self.op, 2)
        layout.addWidget(self.value, 4)
        layout.addWidget(self.remove)
        self.field.currentTextChanged.connect(self._on_field)
        self.op.currentTextChanged.connect(self._on_op)
        self.value.textChanged.connect(self.changed)
        self.value.returnPressed.connect(self.changed)
        self.remove.clicked.connect(lambda: self.removed.emit(self))
        self._on_field(self.field.currentText())

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
        return (self.field.currentText(), op, self.value.text())


class FilterEditor(QWidget):
    """A list of filter rows and an "Add filter" button.

    Signals
    -------
    changed()
        A row was added, removed or edited.
    """

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._fields: list[FieldSpec] = []
        self._rows: list[_FilterRow] = []
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(4)
        self.add_button = QPushButton("+ Add filter")
        self.add_button.setToolTip("Keep only rows whose metadata match, e.g. organism contains coli, length > 200")
        self.add_button.clicked.connect(lambda: self.add_row())
        self.add_button.setEnabled(False)
        self._layout.addWidget(self.add_button)

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
            row.field.setCurrentText(field)
        if op:
            row.op.setCurrentText(op)
        row.value.setText(value)
        row.changed.connect(self.changed)
        row.removed.connect(self._remove)
        self._rows.append(row)
        self._layout.insertWidget(self._layout.count() - 1, row)
        row.value.setFocus()
        self.changed.emit()

    def _remove(self, row: _FilterRow) -> None:
        self._rows.remove(row)
        self._layout.removeWidget(row)
        row.deleteLater()
        self.changed.emit()

    def clear(self) -> None:
        """Remove every row."""
        for row in list(self._rows):
            self._remove(row)

    def specs(self) -> list[FilterSpec]:
        """The complete rows, as (field, operator, value text)."""
        return [s for s in (r.spec() for r in self._rows) if s is not None]
