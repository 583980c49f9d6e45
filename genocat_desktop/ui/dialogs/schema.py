"""The Schema page's dialogs: add a field, set a value on rows, preview annotations, view an old version.

They only collect input or show results; the page's methods
(:meth:`~genocat_desktop.ui.pages.schema.SchemaPage.add_field`...) do the work.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from genocat_desktop.app import catalog as catalog_ops
from genocat_desktop.app import schema as schema_ops
from genocat_desktop.ui.app import error_color
from genocat_desktop.ui.engine_thread import EngineThread, Job
from genocat_desktop.ui.widgets.table_view import ArrowTableView

__all__ = [
    "FIELD_TYPE_NAMES",
    "TYPE_HINTS",
    "AddFieldDialog",
    "AnnotationPreviewDialog",
    "SetValueDialog",
    "VersionDialog",
    "split_allowed",
]

#: The user-field types, in the order the Add dialog offers them (the engine's ``FIELD_TYPES``).
FIELD_TYPE_NAMES = ("text", "integer", "float", "boolean", "date", "category")
#: Catalog columns a spreadsheet can be keyed by (the engine's ``ANNOTATION_KEYS``).
ANNOTATION_KEY_NAMES = ("accession", "id", "seq_hash")
TYPE_HINTS = {
    "text": "any text",
    "integer": "whole numbers, e.g. 42",
    "float": "numbers, e.g. 7.5",
    "boolean": "yes/no, true/false, 1/0",
    "date": "ISO dates, e.g. 2024-05-31",
    "category": "one of the allowed values",
}
KIND_LABELS = {"builtin": "built-in", "user": "user", "vector": "embedding"}


def split_allowed(text: str) -> list[str]:
    """The allowed values of a category typed as a comma- or line-separated list."""
    return [v.strip() for v in text.replace("\n", ",").split(",") if v.strip()]


class AddFieldDialog(QDialog):
    """Name (checked live by the engine), type, allowed values of a category, default, description."""

    def __init__(self, engine: EngineThread, session: catalog_ops.Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Add a field")
        self._engine = engine
        self._session = session
        self._name_ok = False
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("e.g. assay, ph_optimum, reviewed")
        self.name_edit.setToolTip("Letters, digits and '_', starting with a letter; at most 64 characters")
        self.name_message = QLabel("")
        self.name_message.setWordWrap(True)
        self.name_message.setStyleSheet(f"color:{error_color()}")
        self.type_combo = QComboBox()
        for name in FIELD_TYPE_NAMES:
            self.type_combo.addItem(name)
            self.type_combo.setItemData(self.type_combo.count() - 1, TYPE_HINTS[name], Qt.ItemDataRole.ToolTipRole)
        self.allowed_edit = QLineEdit()
        self.allowed_edit.setPlaceholderText("e.g. low, medium, high")
        self.allowed_edit.setToolTip("The values a category may take, separated by commas")
        self.allowed_label = QLabel("Allowed values")
        self.default_edit = QLineEdit()
        self.default_edit.setPlaceholderText("none (existing rows stay empty)")
        self.default_edit.setToolTip("Given to every existing row and to rows imported later; leave empty for none")
        self.description_edit = QLineEdit()
        self.description_edit.setToolTip("What the field means, for whoever reads the catalog")
        form = QFormLayout()
        form.addRow("Name", self.name_edit)
        form.addRow("", self.name_message)
        form.addRow("Type", self.type_combo)
        form.addRow(self.allowed_label, self.allowed_edit)
        form.addRow("Default", self.default_edit)
        form.addRow("Description", self.description_edit)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText("Add field")
        self.ok_button.setEnabled(False)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(QLabel("<small>Adding a field never rewrites the sequences or their vectors.</small>"))
        layout.addWidget(self.buttons)
        self.name_edit.textChanged.connect(self._check_name)
        self.type_combo.currentTextChanged.connect(self._on_type)
        self.allowed_edit.textChanged.connect(self._update_ok)
        self._on_type(self.type_combo.currentText())
        self.setMinimumWidth(440)

    def _on_type(self, kind: str) -> None:
        category = kind == "category"
        self.allowed_edit.setVisible(category)
        self.allowed_label.setVisible(category)
        self.default_edit.setToolTip(f"{TYPE_HINTS[kind]}; given to every existing row and to rows imported later")
        self._update_ok()

    def _check_name(self, name: str) -> Job | None:
        self._name_ok = False
        self._update_ok()
        if not name:
            self.name_message.setText("")
            return None
        self.name_message.setText("Checking…")
        job = self._engine.submit("check-name", "Checking the name", schema_ops.check_name_job(self._session, name),
                                  supersede=True)
        job.finished.connect(lambda _name: self._on_name(name, ""))
        job.failed.connect(lambda message, details: self._on_name(name, message))
        return job

    def _on_name(self, name: str, message: str) -> None:
        if name != self.name_edit.text():
            return  # an answer about a name since changed
        self.name_message.setText(message)
        self._name_ok = not message
        self._update_ok()

    def _update_ok(self) -> None:
        ok = self._name_ok
        if self.type_combo.currentText() == "category" and not split_allowed(self.allowed_edit.text()):
            ok = False
        self.ok_button.setEnabled(ok)

    def values(self) -> dict[str, Any]:
        """The field as entered: ``name``, ``type``, ``allowed``, ``default``, ``description``."""
        kind = self.type_combo.currentText()
        return {
            "name": self.name_edit.text().strip(),
            "type": kind,
            "allowed": split_allowed(self.allowed_edit.text()) if kind == "category" else None,
            "default": self.default_edit.text().strip() or None,
            "description": self.description_edit.text().strip(),
        }


class SetValueDialog(QDialog):
    """Choose a user field and the value to give the selected rows."""

    def __init__(self, fields: Sequence[Any], rows: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Set a value for the selected rows")
        self._fields = {f.name: f for f in fields}
        self.field_combo = QComboBox()
        self.field_combo.addItems(list(self._fields))
        self.value_combo = QComboBox()
        self.value_combo.setEditable(True)
        self.value_combo.setToolTip("Leave empty to clear the field on these rows")
        self.hint = QLabel("")
        self.hint.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        form = QFormLayout()
        form.addRow("Field", self.field_combo)
        form.addRow("Value", self.value_combo)
        form.addRow("", self.hint)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText(f"Set on {rows:,} row(s)")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(buttons)
        self.field_combo.currentTextChanged.connect(self._on_field)
        self._on_field(self.field_combo.currentText())

    def _on_field(self, name: str) -> None:
        f = self._fields.get(name)
        self.value_combo.clear()
        if f is None:
            return
        self.value_combo.addItems(["", *f.allowed])
        self.hint.setText(f"{f.type}: {TYPE_HINTS.get(f.type, '')}; empty clears the value")

    def values(self) -> tuple[str, str | None]:
        """The field and the value (``None`` clears)."""
        text = self.value_combo.currentText().strip()
        return self.field_combo.currentText(), text or None


class AnnotationPreviewDialog(QDialog):
    """What a spreadsheet of annotations would change; Apply writes it as one version."""

    def __init__(self, preview: schema_ops.AnnotationPreview, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        plan = preview.plan
        self.setWindowTitle(f"Annotate from {Path(plan.path).name}")
        self.plan = plan
        layout = QVBoxLayout(self)
        self.summary_label = QLabel(html.escape(plan.summary()))
        self.summary_label.setWordWrap(True)
        layout.addWidget(self.summary_label)
        self.ignored_label = QLabel(
            "Left out (not user fields of the catalog; add them on the Schema page to fill them): "
            + html.escape(", ".join(preview.ignored))
        )
        self.ignored_label.setWordWrap(True)
        self.ignored_label.setVisible(bool(preview.ignored))
        layout.addWidget(self.ignored_label)
        self.preview = ArrowTableView("annotation-preview")
        self.preview.set_table(plan.preview)
        layout.addWidget(QLabel(f"First {plan.preview.num_rows:,} change(s) (key, field, old value, new value):"))
        layout.addWidget(self.preview, 1)
        unmatched = list(plan.unmatched_keys)
        self.unmatched_label = QLabel(f"{len(unmatched):,} key(s) of the file are not in the catalog" +
                                      (":" if unmatched else "."))
        layout.addWidget(self.unmatched_label)
        self.unmatched = QPlainTextEdit("\n".join(unmatched[:1000]) + ("\n…" if len(unmatched) > 1000 else ""))
        self.unmatched.setReadOnly(True)
        self.unmatched.setMaximumHeight(90)
        self.unmatched.setVisible(bool(unmatched))
        layout.addWidget(self.unmatched)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Apply | QDialogButtonBox.StandardButton.Cancel)
        self.apply_button = buttons.button(QDialogButtonBox.StandardButton.Apply)
        self.apply_button.setText(f"Apply to {plan.rows:,} row(s)")
        self.apply_button.setEnabled(plan.rows > 0)
        self.apply_button.clicked.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.resize(640, 480)


class VersionDialog(QDialog):
    """The catalog as of an older version, read-only: its fields and first rows."""

    def __init__(self, view: schema_ops.VersionView, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Catalog as of version {view.version} (read-only)")
        layout = QVBoxLayout(self)
        names = ", ".join(f.name for f in view.fields if f.kind == "user") or "none"
        shown = view.rows.num_rows
        self.label = QLabel(
            f"Version {view.version}: {view.total:,} rows; user fields: {html.escape(names)}. "
            f"Showing the first {shown:,} rows. Nothing here can be changed; use Restore to bring this version back."
        )
        self.label.setWordWrap(True)
        layout.addWidget(self.label)
        self.table = ArrowTableView("version-view", ("sequence", "seq_hash", "aliases", "source_file"))
        self.table.set_table(view.rows)
        layout.addWidget(self.table, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.resize(900, 560)
