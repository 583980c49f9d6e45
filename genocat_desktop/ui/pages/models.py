"""The Models page: installed ONNX models, ONNX Runtime options, and the open catalog's embeddings.

Three parts, every engine call a job on the window's one engine thread
(:mod:`genocat_desktop.app`):

* **Embeddings of this catalog**: its vector columns (what made each, dimension,
  rows, which one searches use by default) and interrupted runs. "Add
  embedding…" embeds every row with an installed model or the built-in k-mer
  embedder into a new column, with progress (rows, seq/s, time left) and
  Cancel. A cancelled run keeps what it embedded: it is listed as interrupted
  with Resume and Discard. Set as default and Remove change the catalog.
* **Installed models**: the model registry (name, layers, dimension,
  quantisation, size, SHA-256, source). "Add model…" checks and copies an
  ``.onnx`` file; nothing is ever downloaded, so the page says how to convert
  a checkpoint (``genocat model export``).
* **Runtime**: threads, token budget, GPU, spinning. Saved in QSettings and
  applied through :func:`~genocat_desktop.engine.set_runtime_options`; they
  change speed, never the vectors.

After a change the page emits :attr:`ModelsPage.changed` with a
:class:`~genocat_desktop.app.catalog.Change`; the window then refreshes the
search tab's embedding chooser from the catalog's new summary.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QPalette
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from genocat_desktop.app import catalog as catalog_ops
from genocat_desktop.app import jobs as app_jobs
from genocat_desktop.app import models as models_ops
from genocat_desktop.ui.catalog_model import CatalogModel
from genocat_desktop.ui.dialogs.embedding import AddEmbeddingDialog
from genocat_desktop.ui.engine_thread import EngineThread, Job
from genocat_desktop.ui.settings import settings
from genocat_desktop.ui.widgets.model_text import HELP_HTML, model_source
from genocat_desktop.ui.widgets.progress import describe_embedding_progress, format_size, show_fraction
from genocat_desktop.ui.widgets.runtime_options import RuntimeOptionsBox
from genocat_desktop.ui.widgets.tables import make_table, scrolling, table_item

__all__ = ["ModelsPage"]

ErrorHandler = Callable[[str, str, str], None]

class ModelsPage(QWidget):
    """Installed models, runtime options and the open catalog's embeddings.

    Parameters
    ----------
    engine
        The window's engine thread.
    on_error
        ``(title, message, details)``: shows a job's failure.

    Signals
    -------
    state_shown(object)
        The :class:`~genocat_desktop.app.models.ModelsState` on screen.
    changed(object)
        A :class:`~genocat_desktop.app.catalog.Change` after every change to the catalog
        (an embedding added, removed, made the default; an interrupted run discarded).
    model_added(object)
        The engine ``ModelInfo`` of a model just installed.
    embedding_finished(object)
        The :class:`~genocat_desktop.app.models.EmbedOutcome` of a finished embedding run.
    embedding_stopped(str)
        An embedding run ended without a new column: ``"cancelled"`` or ``"failed"``.
    options_applied(object)
        The engine ``RuntimeOptions`` in force after a change.
    """

    state_shown = Signal(object)
    changed = Signal(object)
    model_added = Signal(object)
    embedding_finished = Signal(object)
    embedding_stopped = Signal(str)
    options_applied = Signal(object)

    def __init__(self, engine: EngineThread, on_error: ErrorHandler, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.engine = engine
        self.on_error = on_error
        self.catalog: CatalogModel | None = None
        self.session: catalog_ops.Session | None = None
        self.state: models_ops.ModelsState | None = None
        #: The running embedding job, if any.
        self.embed_job: Job | None = None
        self._embed_column: str | None = None  # the column it writes, when named (Resume names it)
        self._model_job: Job | None = None
        #: Asked before removing a model or an embedding, or discarding a run; tests replace it.
        self.confirm: Callable[[str, str], bool] = self._ask
        #: Opens the Add embedding dialog and returns its values (None: cancelled); tests replace it.
        self.ask_embedding: Callable[[], tuple[str, dict[str, Any], str | None, bool] | None] = self._dialog
        self._build()

    # ------------------------------------------------------------------ building
    def _build(self) -> None:
        emb_box = self._build_embeddings_box()
        models_box = self._build_models_box()
        #: The ONNX Runtime options; applied (and saved) once the user pauses editing them.
        self.runtime = RuntimeOptionsBox()
        self.runtime.edited.connect(self.apply_options)
        lower = QSplitter(Qt.Orientation.Horizontal)
        lower.addWidget(models_box)
        lower.addWidget(scrolling(self.runtime))
        lower.setStretchFactor(0, 2)  # the runtime options scroll only when the window is narrow
        lower.setStretchFactor(1, 1)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(emb_box)
        split.addWidget(lower)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(split)
        self._update_buttons()

    def _build_embeddings_box(self) -> QGroupBox:
        """The catalog's embeddings: table, actions, the running job's progress."""
        emb_box = QGroupBox("Embeddings of this catalog")
        ev = QVBoxLayout(emb_box)
        self.embeddings_table = make_table(["Column", "Made by", "Dimension", "Rows", "Default", "State"])
        self.embeddings_table.setToolTip("Each embedding is one vector column; searches use the default one "
                                         "unless the Search tab's Embedding chooser names another")
        self.embeddings_table.itemSelectionChanged.connect(self._update_buttons)
        ev.addWidget(self.embeddings_table, 1)
        row = QHBoxLayout()
        self.add_embedding_button = QPushButton("Add embedding…")
        self.add_embedding_button.setToolTip("Embed every sequence with an installed model or k-mer settings, "
                                             "into a new column (Ctrl+Shift+A)")
        self.add_embedding_button.setShortcut(QKeySequence("Ctrl+Shift+A"))
        self.add_embedding_button.clicked.connect(self.choose_embedding)
        self.resume_button = QPushButton("Resume")
        self.resume_button.setToolTip("Continue the selected interrupted run; finished sequences are kept")
        self.resume_button.clicked.connect(lambda: self._with_selected(self.resume, pending=True))
        self.discard_button = QPushButton("Discard…")
        self.discard_button.setToolTip("Throw away the selected interrupted run's saved work")
        self.discard_button.clicked.connect(lambda: self._with_selected(self.choose_discard, pending=True))
        self.default_button = QPushButton("Set as default")
        self.default_button.setToolTip("Search with the selected embedding when none is chosen")
        self.default_button.clicked.connect(lambda: self._with_selected(self.set_default, pending=False))
        self.remove_embedding_button = QPushButton("Remove embedding…")
        self.remove_embedding_button.setToolTip("Drop the selected vector column (older versions keep it)")
        self.remove_embedding_button.clicked.connect(
            lambda: self._with_selected(self.choose_remove_embedding, pending=False))
        for b in (self.add_embedding_button, self.resume_button, self.discard_button, self.default_button,
                  self.remove_embedding_button):
            row.addWidget(b)
        row.addStretch(1)
        ev.addLayout(row)
        prow = QHBoxLayout()
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setTextVisible(False)
        self.progress.setMaximumHeight(16)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop embedding; what is done is kept and Resume continues it (Esc)")
        self.cancel_button.clicked.connect(self.cancel)
        prow.addWidget(self.progress, 1)
        prow.addWidget(self.cancel_button)
        ev.addLayout(prow)
        self.status_label = QLabel("")
        self.status_label.setWordWrap(True)
        ev.addWidget(self.status_label)
        return emb_box

    def _build_models_box(self) -> QGroupBox:
        """The installed models: table, Add/Remove/Refresh, where they live, how to get one."""
        models_box = QGroupBox("Installed models")
        mv = QVBoxLayout(models_box)
        self.models_table = make_table(["Name", "Layers", "Dimension", "Quantisation", "Size", "SHA-256", "Source"])
        self.models_table.itemSelectionChanged.connect(self._update_buttons)
        mv.addWidget(self.models_table, 1)
        mrow = QHBoxLayout()
        self.add_model_button = QPushButton("Add model…")
        self.add_model_button.setToolTip("Install an ESM-2 model converted to ONNX by `genocat model export` "
                                         "(the file is checked, then copied)")
        self.add_model_button.clicked.connect(self.choose_model)
        self.remove_model_button = QPushButton("Remove model…")
        self.remove_model_button.setToolTip("Uninstall the selected model")
        self.remove_model_button.clicked.connect(self.choose_remove_model)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setToolTip("List the models and the catalog's embeddings again")
        self.refresh_button.clicked.connect(self.refresh)
        self.folder_label = QLabel("")
        self.folder_label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        # A long path must not set the window's minimum width (it did, to ~1,290 px): the label takes
        # the room left beside the buttons and the tooltip has the whole path.
        self.folder_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.folder_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.folder_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        mrow.addWidget(self.add_model_button)
        mrow.addWidget(self.remove_model_button)
        mrow.addWidget(self.refresh_button)
        mrow.addWidget(self.folder_label, 1)
        mv.addLayout(mrow)
        self.model_status = QLabel("")
        self.model_status.setWordWrap(True)
        mv.addWidget(self.model_status)
        help_label = QLabel(HELP_HTML)
        help_label.setWordWrap(True)
        help_label.setTextFormat(Qt.TextFormat.RichText)
        help_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.help_label = help_label
        mv.addWidget(help_label)
        return models_box

    # ------------------------------------------------------------------ state
    def bind(self, catalog: CatalogModel) -> None:
        """Follow ``catalog``: show the embeddings of each catalog it opens.

        Once it closes only the session is dropped: the model list stays, and no job is queued
        while another catalog opens.
        """
        self.catalog = catalog
        catalog.opened.connect(lambda _summary: self.set_session(catalog.session))
        catalog.closed.connect(self._forget_session)

    def _forget_session(self) -> None:
        self.session = None

    def activate(self) -> None:
        """The tab is shown: list the embeddings again if the catalog changed since they were listed."""
        summary = self.catalog.summary if self.catalog is not None else None
        if self.session is not None and summary is not None and (
            self.state is None or self.state.version != summary.version
        ):
            self.refresh()

    def set_session(self, session: catalog_ops.Session | None) -> Job | None:
        """Show another catalog's embeddings (``None``: none open); the models are listed either way."""
        self.session = session
        self.embeddings_table.setRowCount(0)
        self._update_buttons()
        return self.refresh()

    def refresh(self) -> Job | None:
        """List the installed models and the catalog's embeddings and interrupted runs again."""
        if not self.engine.running:
            return None  # the window is closing: a cancelled job's last signal arrives after the thread stopped
        job = self.engine.submit("models", "Listing models and embeddings", models_ops.models_state_job(self.session),
                                 supersede=True)
        job.finished.connect(self._show_state)
        job.failed.connect(lambda m, d: self.on_error("Cannot list the models", m, d))
        return job

    def _show_state(self, state: models_ops.ModelsState) -> None:
        self.state = state
        t = self.models_table
        t.setRowCount(len(state.models))
        for i, m in enumerate(state.models):
            source, source_tip = model_source(m.manifest)
            cells = [
                table_item(m.name, str(m.path)), table_item("" if m.layers is None else str(m.layers), right=True),
                table_item(str(m.dim), right=True), table_item(m.quantization),
                table_item(format_size(m.size_bytes), right=True),
                table_item(m.sha256[:12], m.sha256), table_item(source, source_tip),
            ]
            for c, item in enumerate(cells):
                t.setItem(i, c, item)
        t.resizeColumnsToContents()
        t.horizontalHeader().setSectionResizeMode(6, QHeaderView.ResizeMode.Stretch)
        self.folder_label.setText(f"Folder: {state.folder}")
        self.folder_label.setToolTip(str(state.folder))
        self._fill_embeddings(state)
        self._update_buttons()
        self.state_shown.emit(state)

    def _fill_embeddings(self, state: models_ops.ModelsState) -> None:
        selected = self._selected_row()
        e = self.embeddings_table
        e.setRowCount(len(state.embeddings))
        for i, row in enumerate(state.embeddings):
            if row.pending and self.running and row.column == self._embed_column:
                what = f"resuming from {row.done:,} of {row.total:,} (progress below)"
            elif row.pending:
                what = f"interrupted: {row.done:,} of {row.total:,} done; Resume or Discard"
            else:
                what = "ready"
            params = row.record.get("params", {})
            tip = "\n".join(f"{k}: {v}" for k, v in params.items())
            cells = [
                table_item(row.column), table_item(row.label, tip), table_item(str(row.dim), right=True),
                table_item(f"{row.done:,} / {row.total:,}", "rows with a vector / rows in the catalog", right=True),
                table_item("✓ default" if row.default else ""), table_item(what),
            ]
            for c, item in enumerate(cells):
                e.setItem(i, c, item)
        e.resizeColumnsToContents()
        e.horizontalHeader().setSectionResizeMode(5, QHeaderView.ResizeMode.Stretch)
        if selected is not None:
            self.select_embedding(selected.column, pending=selected.pending)

    def _selected_row(self) -> models_ops.EmbeddingRow | None:
        rows = self.embeddings_table.selectionModel().selectedRows()
        if not rows or self.state is None or rows[0].row() >= len(self.state.embeddings):
            return None
        return self.state.embeddings[rows[0].row()]

    def select_embedding(self, column: str, *, pending: bool | None = None) -> bool:
        """Select the row of ``column`` (an interrupted run if ``pending``); return whether it is listed."""
        for i, row in enumerate(self.state.embeddings if self.state else []):
            if row.column == column and (pending is None or row.pending == pending):
                self.embeddings_table.selectRow(i)
                return True
        return False

    def _selected_model(self) -> Any | None:
        rows = self.models_table.selectionModel().selectedRows()
        if not rows or self.state is None or rows[0].row() >= len(self.state.models):
            return None
        return self.state.models[rows[0].row()]

    @property
    def running(self) -> bool:
        """Whether an embedding job is queued or running."""
        return self.embed_job is not None and not self.embed_job.done

    def _update_buttons(self) -> None:
        row = self._selected_row()
        has_catalog = self.session is not None
        busy = self.running
        self.add_embedding_button.setEnabled(has_catalog and not busy)
        self.resume_button.setEnabled(bool(row and row.pending) and not busy)
        self.discard_button.setEnabled(bool(row and row.pending) and not busy)
        # A MinHash sketch column answers containment and ANI when chosen; it is never the default.
        self.default_button.setEnabled(bool(row and not row.pending and not row.default and row.embedder != "sketch")
                                       and not busy)
        n_ready = sum(1 for r in (self.state.embeddings if self.state else []) if not r.pending)
        self.remove_embedding_button.setEnabled(bool(row and not row.pending) and n_ready > 1 and not busy)
        self.cancel_button.setEnabled(busy)
        self.progress.setVisible(busy or self.progress.value() > 0)
        self.cancel_button.setVisible(busy)
        adding = self._model_job is not None and not self._model_job.done
        self.add_model_button.setEnabled(not adding)
        self.remove_model_button.setEnabled(self._selected_model() is not None and not adding and not busy)

    def _with_selected(self, action: Callable[[str], Any], *, pending: bool) -> None:
        row = self._selected_row()
        if row is None or row.pending != pending:
            return
        action(row.column)

    # ------------------------------------------------------------------ models
    def choose_model(self) -> None:
        """Add model…: choose an ``.onnx`` file and install it."""
        start = str(settings().value("paths/models", str(Path.home())))
        path, _ = QFileDialog.getOpenFileName(self, "Add an ONNX model", start, "ONNX models (*.onnx);;All files (*)")
        if path:
            settings().setValue("paths/models", str(Path(path).parent))
            self.add_model(path)

    def add_model(self, path: str) -> Job:
        """Check and install the model file at ``path`` (copied into the models folder) on the engine thread."""
        name = Path(path).name
        job = self.engine.submit("model", f"Adding the model {name}", models_ops.add_model_job(path))
        self._model_job = job
        self.model_status.setText(f"Checking {html.escape(name)}…")
        job.progress.connect(lambda p: self.model_status.setText(describe_embedding_progress(p)[1]))
        job.finished.connect(self._on_model_added)
        job.failed.connect(lambda m, d: self._on_model_failed(name, m, d))
        job.cancelled.connect(lambda: self._model_done("Cancelled; nothing was installed."))
        self._update_buttons()
        return job

    def _model_done(self, text: str) -> None:
        self.model_status.setText(text)
        self._update_buttons()

    def _on_model_added(self, info: Any) -> None:
        self._model_done(f"Installed {info.name}: {info.dim} dimensions, {info.quantization}, "
                         f"SHA-256 {info.sha256[:12]}. Use Add embedding… to embed the catalog with it.")
        self.model_added.emit(info)
        self.refresh()

    def _on_model_failed(self, name: str, message: str, details: str) -> None:
        self._model_done(f"{name} was not added: {message}")
        self.on_error(f"Cannot add {name}", message, details)

    def choose_remove_model(self) -> None:
        """Remove model…: uninstall the selected model after asking."""
        model = self._selected_model()
        if model is None:
            return
        users = [r.column for r in (self.state.embeddings if self.state else [])
                 if r.record.get("params", {}).get("sha256") == model.sha256]
        warning = (f" This catalog's {', '.join(users)} was made with it and cannot be searched until the same "
                   "file is added again." if users else "")
        if self.confirm("Remove the model?", f"Uninstall {model.name} ({format_size(model.size_bytes)})?{warning}"):
            self.remove_model(model.name)

    def remove_model(self, name: str) -> Job:
        """Uninstall the model ``name``."""
        job = self.engine.submit("model", f"Removing the model {name}", models_ops.remove_model_job(name))
        job.finished.connect(self._on_model_removed)
        job.failed.connect(lambda m, d: self.on_error(f"Cannot remove {name}", m, d))
        return job

    def _on_model_removed(self, name: str) -> None:
        self._model_done(f"Removed {name}.")
        self.refresh()

    # ------------------------------------------------------------------ embeddings
    def _dialog(self) -> tuple[str, dict[str, Any], str | None, bool] | None:
        state = self.state
        models = state.models if state else []
        columns = {r.column for r in state.embeddings} if state else set()
        rows = state.embeddings[0].total if state and state.embeddings else 0
        dialog = AddEmbeddingDialog(models, rows, columns, self)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return None
        return dialog.values()

    def choose_embedding(self) -> None:
        """Add embedding…: choose the embedder in a dialog and start the job."""
        if self.session is None or self.running:
            return
        values = self.ask_embedding()
        if values is not None:
            embedder, params, column, make_default = values
            self.add_embedding(embedder, params, column=column, make_default=make_default)

    def add_embedding(self, embedder: str, params: dict[str, Any], *, column: str | None = None,
                      make_default: bool = False) -> Job | None:
        """Start embedding every row with ``embedder`` (``"esm"``/``"kmer"``) and ``params`` into a new column."""
        if self.session is None or self.running:
            return None
        label = str(params.get("model") or embedder)
        fn = models_ops.add_embedding_job(self.session, embedder, params, column=column, make_default=make_default)
        job = self.engine.submit("embed", f"Embedding the catalog with {label}", fn)
        self.embed_job = job
        self._embed_column = column
        if self.state is not None:
            self._fill_embeddings(self.state)  # a resumed run's row says so
        self.progress.setRange(0, 0)
        self.progress.setValue(0)
        self.status_label.setText(f"Starting {html.escape(label)}…")
        job.progress.connect(self._on_progress)
        job.finished.connect(self._on_embedded)
        job.failed.connect(self._on_embed_failed)
        job.cancelled.connect(self._on_embed_cancelled)
        self._update_buttons()
        return job

    def resume(self, column: str) -> Job | None:
        """Resume the interrupted run of ``column`` with the same embedder (its saved vectors are reused)."""
        row = next((r for r in (self.state.embeddings if self.state else []) if r.column == column and r.pending),
                   None)
        if row is None:
            return None
        return self.add_embedding(row.embedder, dict(row.record.get("params", {})), column=column)

    def cancel(self) -> None:
        """Stop the running embedding job (its work so far is kept for Resume)."""
        if self.embed_job is not None and not self.embed_job.done:
            self.engine.cancel(self.embed_job)
            self.status_label.setText("Cancelling… (finished sequences are kept)")

    def _on_progress(self, p: Any) -> None:
        value, text = describe_embedding_progress(p)
        show_fraction(self.progress, None if value < 0 else value / 1000)
        self.status_label.setText(html.escape(text))

    def _on_embedded(self, outcome: models_ops.EmbedOutcome) -> None:
        r = outcome.report
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        if r.version is None:
            text = f"{r.column} is already in the catalog."
        else:
            reused = f", {r.reused:,} of them from the interrupted run" if r.reused else ""
            rate = f" ({r.rate:,.1f} seq/s)" if r.embedded else ""
            text = (f"Added {r.column}: {r.rows:,} sequences{reused} in {r.seconds:,.1f} s{rate}. "
                    "Choose it under Embedding on the Search tab.")
        self.status_label.setText(html.escape(text))
        self._update_buttons()
        summary = outcome.summary
        self.changed.emit(catalog_ops.Change(text, summary, summary.version))
        self.embedding_finished.emit(outcome)
        self.refresh()

    def _on_embed_failed(self, message: str, details: str) -> None:
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.status_label.setText(html.escape(f"Embedding failed: {message}"))
        self._update_buttons()
        self.on_error("Embedding failed", message, details)
        self.embedding_stopped.emit("failed")
        self.refresh()

    def _on_embed_cancelled(self) -> None:
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.status_label.setText("Cancelled; the catalog is unchanged.")
        self._update_buttons()
        self.embedding_stopped.emit("cancelled")
        job = self.refresh()
        if job is not None:
            # Say how much was kept once the listing shows it (vectors are saved in groups of up to 128).
            job.finished.connect(self._say_kept)

    def _say_kept(self, state: models_ops.ModelsState) -> None:
        kept = [r for r in state.embeddings if r.pending]
        if kept:
            r = kept[0] if len(kept) == 1 else max(kept, key=lambda k: k.done)
            self.status_label.setText(
                f"Cancelled; the catalog is unchanged. {r.done:,} of {r.total:,} sequences of {html.escape(r.column)} "
                "are saved: select the interrupted run and press Resume to continue from there.")

    def _change_job(self, title: str, fn: app_jobs.Job[catalog_ops.Change], failure: str) -> Job:
        job = self.engine.submit("schema-change", title, fn)
        job.finished.connect(self._on_change)
        job.failed.connect(lambda m, d: self.on_error(failure, m, d))
        return job

    def _on_change(self, change: catalog_ops.Change) -> None:
        self.status_label.setText(html.escape(change.message))
        self.changed.emit(change)
        self.refresh()

    def set_default(self, column: str) -> Job | None:
        """Make ``column`` the embedding searches use by default."""
        if self.session is None:
            return None
        return self._change_job(f"Making {column} the default",
                                models_ops.set_default_embedding_job(self.session, column),
                                "Cannot change the default embedding")

    def choose_remove_embedding(self, column: str) -> None:
        """Remove embedding…: drop ``column`` after asking."""
        if self.confirm("Remove the embedding?",
                        f"Drop the vector column {column}? Older versions of the catalog keep it (Schema → History)."):
            self.remove_embedding(column)

    def remove_embedding(self, column: str) -> Job | None:
        """Drop the vector column ``column``."""
        if self.session is None:
            return None
        return self._change_job(f"Removing {column}", models_ops.remove_embedding_job(self.session, column),
                                "Cannot remove the embedding")

    def choose_discard(self, column: str) -> None:
        """Discard…: throw away an interrupted run's saved vectors after asking."""
        if self.confirm("Discard the interrupted run?",
                        f"Delete the vectors saved so far for {column}? Adding it again starts from the beginning."):
            self.discard(column)

    def discard(self, column: str) -> Job | None:
        """Delete the saved work of the interrupted run of ``column``."""
        if self.session is None:
            return None
        return self._change_job(f"Discarding {column}", models_ops.discard_embedding_job(self.session, column),
                                "Cannot discard the interrupted run")

    # ------------------------------------------------------------------ runtime options
    def options(self) -> dict[str, Any]:
        """The runtime options as the page shows them (engine ``RuntimeOptions`` fields)."""
        return self.runtime.options()

    def has_saved_options(self) -> bool:
        """Whether runtime options were saved by an earlier session."""
        return self.runtime.has_saved()

    def save_pending_options(self) -> None:
        """Apply an edit still waiting for the user's pause (the window is about to close)."""
        if self.runtime.pending():
            self.apply_options()

    def apply_options(self) -> Job | None:
        """Save the runtime options in QSettings and apply them on the engine thread."""
        opts = self.runtime.save()
        if not self.engine.running:
            return None  # saved for the next start; the window is closing
        job = self.engine.submit("runtime-options", "Applying runtime options", models_ops.runtime_options_job(**opts),
                                 supersede=True)
        job.finished.connect(self.options_applied)
        job.failed.connect(lambda m, d: self.on_error("Cannot apply the runtime options", m, d))
        return job

    # ------------------------------------------------------------------ helpers
    def _ask(self, title: str, text: str) -> bool:
        answer = QMessageBox.question(self, title, text, QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                      QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes
