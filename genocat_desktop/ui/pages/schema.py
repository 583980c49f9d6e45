"""The Schema page: the catalog's fields, user-field editing, annotations from a spreadsheet, history.

Every change is an engine job (:mod:`genocat_desktop.app`) on the one
engine thread; this module only builds widgets and reads results. After a
change the page emits :attr:`SchemaPage.changed` with a
:class:`~genocat_desktop.app.catalog.Change` (the catalog's new summary), and
the window refreshes what it shows. Errors reach the window's error handler
as the engine's own message (``str(exc)``), which says what was wrong.

The dialogs (:mod:`genocat_desktop.ui.dialogs.schema`) only collect input or
show results; the page's methods (:meth:`SchemaPage.add_field`,
:meth:`SchemaPage.drop_field`...) do the work, so tests drive them directly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QMessageBox,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from genocat_desktop.app import catalog as catalog_ops
from genocat_desktop.app import schema as schema_ops
from genocat_desktop.ui.catalog_model import CatalogModel
from genocat_desktop.ui.dialogs.schema import AddFieldDialog, AnnotationPreviewDialog, VersionDialog, split_allowed
from genocat_desktop.ui.engine_thread import EngineThread, Job, JobFunction
from genocat_desktop.ui.widgets.tables import make_table, table_item

__all__ = ["SchemaPage"]

#: Catalog columns a spreadsheet can be keyed by (the engine's ``ANNOTATION_KEYS``).
ANNOTATION_KEY_NAMES = ("accession", "id", "seq_hash")
KIND_LABELS = {"builtin": "built-in", "user": "user", "vector": "embedding"}

ErrorHandler = Callable[[str, str, str], None]


# ---------------------------------------------------------------------- the page
class SchemaPage(QWidget):
    """Fields of the catalog and their editing; the catalog's history.

    Parameters
    ----------
    engine
        The window's engine thread.
    on_error
        ``(title, message, details)``: shows a job's failure.

    Signals
    -------
    changed(object)
        A :class:`~genocat_desktop.app.catalog.Change` after every change to the catalog.
    state_shown(object)
        The :class:`~genocat_desktop.app.schema.SchemaState` on screen (fields and versions).
    plan_ready(object)
        An :class:`~genocat_desktop.app.schema.AnnotationPreview`, once its dialog is open.
    version_shown(object)
        A :class:`~genocat_desktop.app.schema.VersionView` whose dialog just opened.
    """

    changed = Signal(object)
    state_shown = Signal(object)
    plan_ready = Signal(object)
    version_shown = Signal(object)

    def __init__(self, engine: EngineThread, on_error: ErrorHandler, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.engine = engine
        self.on_error = on_error
        self.catalog: CatalogModel | None = None
        self.session: catalog_ops.Session | None = None
        self.state: schema_ops.SchemaState | None = None
        self._shown: list[Any] = []  # state.fields in table order
        #: Asked before dropping a field or restoring a version; tests replace it.
        self.confirm: Callable[[str, str], bool] = self._ask
        #: The open annotation preview and version view, if any.
        self.preview_dialog: AnnotationPreviewDialog | None = None
        self.version_dialog: VersionDialog | None = None
        self._build()

    # ------------------------------------------------------------------ building
    def _build(self) -> None:
        fields_box = QGroupBox("Fields")
        fv = QVBoxLayout(fields_box)
        self.fields_table = make_table(["Field", "Type", "Kind", "Filled", "Allowed values", "Default", "Description"])
        self.fields_table.itemSelectionChanged.connect(self._update_buttons)
        self.fields_table.doubleClicked.connect(lambda _index: self.edit_selected())
        fv.addWidget(self.fields_table, 1)
        row = QHBoxLayout()
        self.add_button = QPushButton("Add field…")
        self.add_button.setToolTip("Add a user field (Ctrl+Shift+N); existing data is not rewritten")
        self.add_button.setShortcut(QKeySequence("Ctrl+Shift+N"))
        self.add_button.clicked.connect(self.choose_add)
        self.rename_button = QPushButton("Rename…")
        self.rename_button.setToolTip("Rename the selected user field (F2)")
        self.rename_button.setShortcut(QKeySequence("F2"))
        self.rename_button.clicked.connect(self.choose_rename)
        self.edit_button = QPushButton("Edit…")
        self.edit_button.setToolTip("Change the selected field's description or a category's allowed values")
        self.edit_button.clicked.connect(self.edit_selected)
        self.drop_button = QPushButton("Drop…")
        self.drop_button.setToolTip("Remove the selected user field (Delete); older versions keep its values")
        self.drop_button.setShortcut(QKeySequence.StandardKey.Delete)
        self.drop_button.clicked.connect(self.choose_drop)
        self.annotate_button = QPushButton("Annotate from CSV/TSV…")
        self.annotate_button.setToolTip("Fill user fields from a spreadsheet keyed by accession, id or seq_hash;"
                                        " a preview comes first")
        self.annotate_button.clicked.connect(self.choose_annotations)
        self.key_combo = QComboBox()
        self.key_combo.addItems(list(ANNOTATION_KEY_NAMES))
        self.key_combo.setToolTip("The catalog column the spreadsheet's key column is matched against")
        for b in (self.add_button, self.rename_button, self.edit_button, self.drop_button):
            row.addWidget(b)
        row.addStretch(1)
        row.addWidget(QLabel("Key"))
        row.addWidget(self.key_combo)
        row.addWidget(self.annotate_button)
        fv.addLayout(row)
        self.status_label = QLabel("")
        self.status_label.setWordWrap(True)
        fv.addWidget(self.status_label)

        history_box = QGroupBox("History")
        hv = QVBoxLayout(history_box)
        self.history_table = make_table(["Version", "Time", "Rows", "Change"])
        self.history_table.itemSelectionChanged.connect(self._update_buttons)
        hv.addWidget(self.history_table, 1)
        hrow = QHBoxLayout()
        self.show_version_button = QPushButton("Show as of this version")
        self.show_version_button.setToolTip("Browse the catalog as it was at the selected version (read-only)")
        self.show_version_button.clicked.connect(lambda: self._with_version(self.show_version))
        self.restore_button = QPushButton("Restore…")
        self.restore_button.setToolTip("Make the selected version the latest again (nothing is deleted)")
        self.restore_button.clicked.connect(lambda: self._with_version(self.choose_restore))
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setToolTip("Count the values again and reload the history")
        self.refresh_button.clicked.connect(self.refresh)
        hrow.addWidget(self.show_version_button)
        hrow.addWidget(self.restore_button)
        hrow.addStretch(1)
        hrow.addWidget(self.refresh_button)
        hv.addLayout(hrow)

        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(fields_box)
        split.addWidget(history_box)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(split)
        self._update_buttons()

    # ------------------------------------------------------------------ state
    def bind(self, catalog: CatalogModel) -> None:
        """Follow ``catalog``: show each catalog it opens, nothing once it closes."""
        self.catalog = catalog
        catalog.opened.connect(lambda _summary: self.set_session(catalog.session))
        catalog.closed.connect(lambda: self.set_session(None))

    def activate(self) -> None:
        """The tab is shown: list the fields again if the catalog changed since they were listed."""
        summary = self.catalog.summary if self.catalog is not None else None
        if self.session is not None and summary is not None and (
            self.state is None or self.state.version != summary.version
        ):
            self.refresh()

    def set_session(self, session: catalog_ops.Session | None) -> None:
        """Show another catalog (``None``: none open)."""
        self.session = session
        self.state = None
        self._shown = []
        self.fields_table.setRowCount(0)
        self.history_table.setRowCount(0)
        if session is not None:
            self.refresh()
        self._update_buttons()

    @property
    def user_fields(self) -> list[Any]:
        """The user fields as last listed (engine ``FieldSummary`` objects)."""
        return [f for f in self.state.fields if f.kind == "user"] if self.state else []

    def refresh(self) -> Job | None:
        """List the fields (with value counts) and the versions again."""
        if self.session is None:
            return None
        job = self.engine.submit("schema", "Reading the fields", schema_ops.schema_state_job(self.session),
                                 supersede=True)
        job.finished.connect(self._show_state)
        job.failed.connect(lambda m, d: self.on_error("Cannot list the fields", m, d))
        return job

    def _show_state(self, state: schema_ops.SchemaState) -> None:
        # The selection is kept by version and field name: a change adds a version on top of the
        # history, and the selected row number then named another version (after a restore too).
        kept_version = self.selected_version()
        kept_field = self.selected_field()
        self.state = state
        # User fields first (what this page edits), then built-in fields and embeddings.
        order = {"user": 0, "builtin": 1, "vector": 2}
        self._shown = sorted(state.fields, key=lambda f: order.get(f.kind, 1))
        t = self.fields_table
        t.setRowCount(len(self._shown))
        for i, f in enumerate(self._shown):
            filled = "" if f.filled is None else f"{f.filled:,} / {f.rows:,}"
            default = "" if f.default is None else str(f.default)
            cells = [
                table_item(f.name), table_item(f.type), table_item(KIND_LABELS.get(f.kind, f.kind)),
                table_item(filled, "rows with a value / all rows", right=True), table_item(", ".join(f.allowed)),
                table_item(default), table_item(f.description, f.description),
            ]
            for c, item in enumerate(cells):
                t.setItem(i, c, item)
        t.resizeColumnsToContents()
        h = self.history_table
        versions = list(reversed(state.versions))  # newest first
        h.setRowCount(len(versions))
        for i, v in enumerate(versions):
            when = v.timestamp.astimezone().strftime("%Y-%m-%d %H:%M:%S")
            rows = "" if v.rows is None else f"{v.rows:,}"
            message = v.message or ("created" if v.version == 1 else "")
            current = " (current)" if v.version == state.version else ""
            for c, item in enumerate((table_item(f"{v.version}{current}", right=True), table_item(when),
                                      table_item(rows, right=True), table_item(message, message))):
                h.setItem(i, c, item)
        h.resizeColumnsToContents()
        h.horizontalHeader().setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        h.clearSelection()
        t.clearSelection()
        if kept_version is not None:
            self.select_version(kept_version)
        if kept_field is not None:
            self.select_field(kept_field.name)
        self._update_buttons()
        self.state_shown.emit(state)

    def selected_field(self) -> Any | None:
        """The field selected in the table (engine ``FieldSummary``), if any."""
        rows = self.fields_table.selectionModel().selectedRows()
        if not rows or self.state is None:
            return None
        return self._shown[rows[0].row()]

    def select_field(self, name: str) -> None:
        """Select a field's row by name."""
        for i in range(self.fields_table.rowCount()):
            item = self.fields_table.item(i, 0)
            if item is not None and item.text() == name:
                self.fields_table.selectRow(i)
                return

    def selected_version(self) -> int | None:
        """The version selected in the history, if any."""
        rows = self.history_table.selectionModel().selectedRows()
        if not rows or self.state is None:
            return None
        return int(list(reversed(self.state.versions))[rows[0].row()].version)

    def select_version(self, version: int) -> None:
        """Select a version's row in the history."""
        if self.state is None:
            return
        for i, v in enumerate(reversed(self.state.versions)):
            if v.version == version:
                self.history_table.selectRow(i)
                return

    def _update_buttons(self) -> None:
        f = self.selected_field()
        user = f is not None and f.kind == "user"
        has = self.session is not None
        self.add_button.setEnabled(has)
        self.annotate_button.setEnabled(has)
        self.refresh_button.setEnabled(has)
        for b in (self.rename_button, self.edit_button, self.drop_button):
            b.setEnabled(user)
            if not user:
                b.setToolTip(b.toolTip().split("\n")[0] + "\n(select a user field first)")
            else:
                b.setToolTip(b.toolTip().split("\n")[0])
        version = self.selected_version()
        self.show_version_button.setEnabled(version is not None)
        self.restore_button.setEnabled(version is not None and self.state is not None
                                       and version != self.state.version)

    # ------------------------------------------------------------------ changes
    def _submit_change(self, title: str, fn: JobFunction, error_title: str) -> Job | None:
        job = self.engine.submit("schema-change", title, fn)
        self.status_label.setText(title + "…")
        job.finished.connect(self._on_changed)
        job.failed.connect(lambda m, d: self.status_label.setText(f"Not changed: {m}"))
        job.failed.connect(lambda m, d: self.on_error(error_title, m, d))
        job.cancelled.connect(lambda: self.status_label.setText("Cancelled; nothing changed."))
        return job

    def _on_changed(self, change: catalog_ops.Change) -> None:
        self.status_label.setText(f"{change.message} (version {change.version}).")
        self.changed.emit(change)
        self.refresh()

    def add_field(self, name: str, type: str, *, allowed: Sequence[str] | None = None, default: str | None = None,
                  description: str = "") -> Job | None:
        """Add a user field."""
        if self.session is None:
            return None
        fn = schema_ops.add_field_job(self.session, name, type, allowed=allowed, default=default,
                                      description=description)
        return self._submit_change(f"Adding the field {name!r}", fn, "Cannot add the field")

    def rename_field(self, old: str, new: str) -> Job | None:
        """Rename a user field."""
        if self.session is None:
            return None
        return self._submit_change(f"Renaming {old!r} to {new!r}", schema_ops.rename_field_job(self.session, old, new),
                                   "Cannot rename the field")

    def drop_field(self, name: str) -> Job | None:
        """Drop a user field (no question asked: :meth:`choose_drop` asks)."""
        if self.session is None:
            return None
        return self._submit_change(f"Dropping the field {name!r}", schema_ops.drop_field_job(self.session, name),
                                   "Cannot drop the field")

    def update_field(self, name: str, *, description: str | None = None,
                     allowed: Sequence[str] | None = None) -> Job | None:
        """Change a field's description or a category's allowed values."""
        if self.session is None:
            return None
        fn = schema_ops.update_field_job(self.session, name, description=description, allowed=allowed)
        return self._submit_change(f"Updating the field {name!r}", fn, "Cannot change the field")

    def set_values(self, name: str, value: str | None, hashes: Sequence[str]) -> Job | None:
        """Give rows (by ``seq_hash``) one value of a user field; ``None`` clears it."""
        if self.session is None:
            return None
        fn = schema_ops.set_values_job(self.session, name, value, list(hashes))
        return self._submit_change(f"Setting {name} on {len(hashes):,} row(s)", fn, "Cannot set the value")

    def set_cells(self, name: str, values: dict[str, str | None], labels: dict[str, str] | None = None) -> Job | None:
        """Give rows (by ``seq_hash``) each their own value of a user field.

        ``labels`` maps a ``seq_hash`` to what the user sees for that row (its ID): an error names
        the row by it, not by the MD5 the engine keys rows with.
        """
        if self.session is None:
            return None
        fn = schema_ops.set_cells_job(self.session, name, values)
        if not labels:
            return self._submit_change(f"Saving {name}", fn, "Cannot save the value")
        job = self.engine.submit("schema-change", f"Saving {name}", fn)
        self.status_label.setText(f"Saving {name}…")
        job.finished.connect(self._on_changed)

        def failed(message: str, details: str) -> None:
            for seq_hash, label in labels.items():
                message = message.replace(seq_hash, repr(label))
            self.status_label.setText(f"Not changed: {message}")
            self.on_error("Cannot save the value", message, details)

        job.failed.connect(failed)
        job.cancelled.connect(lambda: self.status_label.setText("Cancelled; nothing changed."))
        return job

    def preview_annotations(self, path: str, key: str | None = None) -> Job | None:
        """Read a spreadsheet and show what it would change (:attr:`plan_ready`, then the preview dialog)."""
        if self.session is None:
            return None
        key = key or self.key_combo.currentText()
        job = self.engine.submit("plan", f"Reading {Path(path).name}",
                                 schema_ops.plan_annotations_job(self.session, path, key))
        self.status_label.setText(f"Reading {Path(path).name}…")
        job.finished.connect(self._show_plan)
        job.failed.connect(lambda m, d: self.status_label.setText(f"Not changed: {m}"))
        job.failed.connect(lambda m, d: self.on_error("Cannot use this spreadsheet", m, d))
        return job

    def _show_plan(self, preview: schema_ops.AnnotationPreview) -> None:
        plan = preview.plan
        self.status_label.setText(plan.summary())
        dialog = AnnotationPreviewDialog(preview, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: self.apply_annotations(plan))
        self.preview_dialog = dialog
        dialog.destroyed.connect(lambda _obj=None: setattr(self, "preview_dialog", None))
        dialog.open()
        self.plan_ready.emit(preview)

    def apply_annotations(self, plan: Any) -> Job | None:
        """Write a previewed plan as one version."""
        if self.session is None:
            return None
        return self._submit_change(f"Annotating from {Path(plan.path).name}",
                                   schema_ops.annotate_job(self.session, plan),
                                   "Cannot apply the annotations")

    def show_version(self, version: int) -> Job | None:
        """Open a read-only view of the catalog as of ``version``."""
        if self.session is None:
            return None
        job = self.engine.submit("version", f"Reading version {version}",
                                 schema_ops.version_view_job(self.session, version), supersede=True)
        job.finished.connect(self._show_version)
        job.failed.connect(lambda m, d: self.on_error("Cannot show this version", m, d))
        return job

    def _show_version(self, view: schema_ops.VersionView) -> None:
        dialog = VersionDialog(view, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.version_dialog = dialog
        dialog.destroyed.connect(lambda _obj=None: setattr(self, "version_dialog", None))
        dialog.open()
        self.version_shown.emit(view)

    def restore(self, version: int) -> Job | None:
        """Make ``version`` the latest again (no question asked: :meth:`choose_restore` asks)."""
        if self.session is None:
            return None
        return self._submit_change(f"Restoring version {version}", schema_ops.restore_job(self.session, version),
                                   "Cannot restore the version")

    # ------------------------------------------------------------------ user actions (dialogs)
    def _ask(self, title: str, text: str) -> bool:
        answer = QMessageBox.question(self, title, text, QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                      QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def choose_add(self) -> None:
        """Add field… (a dialog)."""
        if self.session is None:
            return
        dialog = AddFieldDialog(self.engine, self.session, self)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.add_field(**dialog.values())

    def choose_rename(self) -> None:
        """Rename… the selected user field."""
        f = self.selected_field()
        if f is None or f.kind != "user":
            return
        new, ok = QInputDialog.getText(self, "Rename a field", f"New name for {f.name!r}:", text=f.name)
        if ok and new.strip() and new.strip() != f.name:
            self.rename_field(f.name, new.strip())

    def choose_drop(self) -> None:
        """Drop… the selected user field, after asking."""
        f = self.selected_field()
        if f is None or f.kind != "user":
            return
        filled = f"{f.filled:,} row(s) have a value. " if f.filled else ""
        if self.confirm("Drop the field?", f"Drop the field {f.name!r}? {filled}"
                        "Its values stay in the older versions (History → Restore brings them back)."):
            self.drop_field(f.name)

    def edit_selected(self) -> None:
        """Edit… the selected user field's description (and a category's allowed values)."""
        f = self.selected_field()
        if f is None or f.kind != "user":
            return
        description, ok = QInputDialog.getText(self, "Describe the field", f"Description of {f.name!r}:",
                                               text=f.description)
        if not ok:
            return
        allowed = None
        if f.type == "category":
            text, ok = QInputDialog.getText(self, "Allowed values", f"Allowed values of {f.name!r} (comma-separated):",
                                            text=", ".join(f.allowed))
            if not ok:
                return
            allowed = split_allowed(text)
        self.update_field(f.name, description=description, allowed=allowed)

    def choose_annotations(self) -> None:
        """Annotate from CSV/TSV… (a file dialog, then the preview)."""
        path, _ = QFileDialog.getOpenFileName(self, "Annotations to import", str(Path.home()),
                                              "Spreadsheets (*.csv *.tsv *.tab *.txt);;All files (*)")
        if path:
            self.preview_annotations(path)

    def _with_version(self, action: Callable[[int], Any]) -> None:
        version = self.selected_version()
        if version is not None:
            action(version)

    def choose_restore(self, version: int) -> None:
        """Restore… a version, after asking."""
        if self.confirm("Restore this version?",
                        f"Make version {version} the latest version of the catalog? The versions after it are kept "
                        "in the history (restoring is itself a new version)."):
            self.restore(version)
