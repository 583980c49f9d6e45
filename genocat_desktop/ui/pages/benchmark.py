"""The Benchmark page: measure the open catalog (or a synthetic one) against the design targets.

The run is one engine job (:func:`genocat_desktop.app.benchmark.benchmark_job`,
over the engine's ``run_benchmark``) with a progress bar and Cancel; nothing
is written to the catalog it measures. Each run is saved in the catalog's
``benchmarks`` folder (JSON, plus a line in ``runs.csv``) and earlier runs are
listed next to it for comparison. The plots (pyqtgraph, imported when the
first result is drawn) are the latency histogram, the import throughput over
the run and, when the vector column has an ANN index, recall against search
effort (nprobes).
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QKeySequence, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from genocat_desktop.app import benchmark as bench_ops
from genocat_desktop.app import catalog as catalog_ops
from genocat_desktop.ui.app import error_color, muted_color, ok_color
from genocat_desktop.ui.catalog_model import CatalogModel
from genocat_desktop.ui.engine_thread import EngineThread, Job
from genocat_desktop.ui.settings import settings
from genocat_desktop.ui.widgets.progress import show_fraction

__all__ = ["BenchmarkPage"]

ErrorHandler = Callable[[str, str, str], None]
RUN_COLUMNS = ("started", "source", "rows", "queries", "k", "ingest_seq_per_s", "p50_ms", "p99_ms", "recall",
               "export_seconds", "passed")
RUN_LABELS = ("Started", "Source", "Rows", "Queries", "k", "Import seq/s", "p50 ms", "p99 ms", "Recall", "Export s",
              "All targets")




def _item(text: str, tip: str = "") -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    item.setFlags(Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsEnabled)
    if tip:
        item.setToolTip(tip)
    return item


def _table(headers: tuple[str, ...]) -> QTableWidget:
    table = QTableWidget(0, len(headers))
    table.setHorizontalHeaderLabels(list(headers))
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.verticalHeader().setVisible(False)
    table.setAlternatingRowColors(True)
    table.horizontalHeader().setStretchLastSection(True)
    return table



def average_rate(samples: Sequence[tuple[float, float]], rows: int = 0,
                 seconds: float = 0.0) -> tuple[list[float], list[float]]:
    """The import rate over the run, as the results table measures it, for the throughput plot.

    Parameters
    ----------
    samples
        ``(seconds since the import started, sequences written so far / those seconds)``.
    rows, seconds
        The whole import (commit included): the curve ends at ``rows / seconds``, the table's figure.

    Returns
    -------
    tuple
        The times (after 0, sorted) and the rate at each.
    """
    points = sorted((float(t), float(v)) for t, v in samples if float(t) > 0)
    if rows and seconds > 0:
        points = [p for p in points if p[0] < seconds] + [(float(seconds), rows / seconds)]
    return [t for t, _ in points], [v for _, v in points]

class BenchmarkPage(QWidget):
    """Run the benchmark, show its results, plots and earlier runs.

    Signals
    -------
    result_shown(object)
        A :class:`~genocat_desktop.app.benchmark.BenchmarkOutcome` once on screen.
    runs_shown(list)
        The earlier runs listed (engine ``BenchmarkResult`` objects).
    """

    result_shown = Signal(object)
    runs_shown = Signal(list)

    def __init__(self, engine: EngineThread, on_error: ErrorHandler, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.engine = engine
        self.on_error = on_error
        self.session: catalog_ops.Session | None = None
        self.job: Job | None = None
        self.outcome: bench_ops.BenchmarkOutcome | None = None
        self.runs: list[Any] = []
        self.plots: dict[str, Any] = {}
        self._build()

    # ------------------------------------------------------------------ building
    def _build(self) -> None:
        box = self._build_run_box()
        results_box = self._build_results_box()
        top = QHBoxLayout()
        top.addWidget(box, 2)
        top.addWidget(results_box, 3)
        top_widget = QWidget()
        top_widget.setLayout(top)
        top.setContentsMargins(0, 0, 0, 0)

        runs_box = self._build_plots_and_runs()
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(top_widget)
        split.addWidget(self.plots_area)
        split.addWidget(runs_box)
        split.setStretchFactor(0, 2)
        split.setStretchFactor(1, 3)
        split.setStretchFactor(2, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(split)
        self._update_controls()

    def _build_run_box(self) -> QGroupBox:
        """The Run box: what to measure, how much, and the buttons, progress and status."""
        box = QGroupBox("Run")
        form = QFormLayout(box)
        self.source_combo = QComboBox()
        self.source_combo.addItem("the open catalog", "catalog")
        self.source_combo.addItem("a synthetic catalog", "synthetic")
        self.source_combo.setToolTip(
            "The open catalog: search, recall and export are measured on it (it is never written to).\n"
            "A synthetic catalog: protein families are generated, imported and measured in a scratch folder."
        )
        self.size_spin = QSpinBox()
        self.size_spin.setRange(100, 10_000_000)
        self.size_spin.setSingleStep(1000)
        self.size_spin.setValue(10_000)
        self.size_spin.setGroupSeparatorShown(True)
        self.size_spin.setSuffix(" sequences")
        self.size_spin.setToolTip("Sequences in the synthetic catalog (its import is the throughput measurement)")
        self.import_spin = QSpinBox()
        self.import_spin.setRange(100, 1_000_000)
        self.import_spin.setSingleStep(1000)
        self.import_spin.setValue(10_000)
        self.import_spin.setGroupSeparatorShown(True)
        self.import_spin.setSuffix(" sequences")
        self.import_spin.setToolTip("Synthetic sequences imported into a scratch catalog to measure import speed")
        self.queries_spin = QSpinBox()
        self.queries_spin.setRange(1, 100_000)
        self.queries_spin.setValue(200)
        self.queries_spin.setToolTip("Search queries timed one by one (the latency percentiles are over these)")
        self.k_spin = QSpinBox()
        self.k_spin.setRange(1, 1000)
        self.k_spin.setValue(10)
        self.k_spin.setToolTip("Hits per query, for latency and recall@k")
        form.addRow("Measure", self.source_combo)
        form.addRow("Synthetic size", self.size_spin)
        form.addRow("Import test", self.import_spin)
        form.addRow("Queries", self.queries_spin)
        form.addRow("Hits per query (k)", self.k_spin)
        self.source_combo.currentIndexChanged.connect(lambda _i: self._update_controls())
        buttons = QHBoxLayout()
        self.run_button = QPushButton("Run benchmark")
        self.run_button.setToolTip("Run the benchmark (Ctrl+R)")
        self.run_button.setShortcut(QKeySequence("Ctrl+R"))
        self.run_button.clicked.connect(self.run)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the benchmark; scratch files are removed")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.save_button = QPushButton("Save as…")
        self.save_button.setToolTip("Save this run as JSON (everything) or CSV (one summary line)")
        self.save_button.setEnabled(False)
        self.save_button.clicked.connect(self.choose_save)
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.save_button)
        form.addRow(buttons)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setTextVisible(False)
        self.status_label = QLabel("Not run yet.")
        self.status_label.setWordWrap(True)
        form.addRow(self.progress)
        form.addRow(self.status_label)
        return box

    def _build_results_box(self) -> QGroupBox:
        """The results table and the run's details."""
        results_box = QGroupBox("Results against the targets")
        rv = QVBoxLayout(results_box)
        self.results_table = _table(("Measure", "Value", "Target", "Result"))
        rv.addWidget(self.results_table)
        self.details_label = QLabel("")
        self.details_label.setWordWrap(True)
        self.details_label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        rv.addWidget(self.details_label)
        return results_box

    def _build_plots_and_runs(self) -> QGroupBox:
        """The plots area (filled after a run) and the box of earlier runs."""
        self.plots_area = QWidget()
        self.plots_layout = QHBoxLayout(self.plots_area)
        self.plots_layout.setContentsMargins(0, 0, 0, 0)
        self.plots_placeholder = QLabel("Plots of the latencies, the import throughput and recall against search "
                                        "effort appear here after a run.")
        self.plots_placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.plots_placeholder.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.plots_layout.addWidget(self.plots_placeholder)

        runs_box = QGroupBox("Earlier runs in this catalog's folder")
        runs_layout = QVBoxLayout(runs_box)
        self.runs_table = _table(RUN_LABELS)
        self.runs_table.setToolTip("Select a run to show its results and plots")
        self.runs_table.itemSelectionChanged.connect(self._on_run_selected)
        runs_layout.addWidget(self.runs_table)
        return runs_box

    def _update_controls(self) -> None:
        synthetic = self.source_combo.currentData() == "synthetic" or self.session is None
        running = self.job is not None and not self.job.done
        self.size_spin.setEnabled(synthetic and not running)
        self.import_spin.setEnabled(not synthetic and not running)
        for w in (self.source_combo, self.queries_spin, self.k_spin):
            w.setEnabled(not running)
        self.run_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        self.save_button.setEnabled(self.outcome is not None and not running)

    # ------------------------------------------------------------------ session
    def bind(self, catalog: CatalogModel) -> None:
        """Follow ``catalog``: measure each catalog it opens, nothing once it closes."""
        catalog.opened.connect(lambda _summary: self.set_session(catalog.session))
        catalog.closed.connect(lambda: self.set_session(None))

    def set_session(self, session: catalog_ops.Session | None) -> Job | None:
        """Measure this catalog from now on; list its earlier runs."""
        self.session = session
        self._update_controls()
        if session is None:
            self._show_runs([])
            return None
        job = self.engine.submit("bench-runs", "Reading earlier benchmark runs", bench_ops.benchmark_runs_job(session),
                                 supersede=True)
        job.finished.connect(self._show_runs)
        return job

    # ------------------------------------------------------------------ running
    def run(self) -> Job | None:
        """Start a run with the chosen settings."""
        if self.job is not None and not self.job.done:
            return None
        synthetic = self.source_combo.currentData() == "synthetic" or self.session is None
        size = self.size_spin.value() if synthetic else None
        fn = bench_ops.benchmark_job(self.session, size=size, queries=self.queries_spin.value(), k=self.k_spin.value(),
                                import_size=self.import_spin.value())
        what = f"a synthetic catalog of {size:,} sequences" if size else "the open catalog"
        job = self.engine.submit("benchmark", f"Benchmarking {what}", fn)
        self.job = job
        self.progress.setRange(0, 0)
        self.status_label.setText(f"Benchmarking {what}…")
        job.progress.connect(self._on_progress)
        job.finished.connect(self._on_finished)
        job.failed.connect(self._on_failed)
        job.cancelled.connect(self._on_cancelled)
        self._update_controls()
        return job

    def cancel(self) -> None:
        """Stop the running benchmark."""
        if self.job is not None and not self.job.done:
            self.engine.cancel(self.job)
            self.status_label.setText("Cancelling…")

    def _on_progress(self, p: Any) -> None:
        show_fraction(self.progress, p.fraction)
        if p.message:
            self.status_label.setText(p.message)

    def _end(self, text: str) -> None:
        self.progress.setRange(0, 1000)
        self.status_label.setText(text)
        self._update_controls()

    def _on_failed(self, message: str, details: str) -> None:
        self.progress.setValue(0)
        self._end(f"The benchmark failed: {message}")
        self.on_error("The benchmark failed", message, details)

    def _on_cancelled(self) -> None:
        self.progress.setValue(0)
        self._end("Cancelled; nothing was saved.")

    def _on_finished(self, outcome: bench_ops.BenchmarkOutcome) -> None:
        self.outcome = outcome
        self.progress.setValue(1000)
        r = outcome.result
        verdict = "every measured target met" if r.passed else "some targets missed"
        saved = f" Saved to {outcome.saved}." if outcome.saved else ""
        self._end(f"Done in {r.seconds:.1f} s: {verdict}.{saved}")
        self.show_result(r)
        if outcome.saved:
            self._show_runs([*outcome.earlier, r])
        self.result_shown.emit(outcome)

    # ------------------------------------------------------------------ showing
    def show_result(self, r: Any) -> None:
        """Fill the results table and the plots from an engine ``BenchmarkResult``."""
        from genocat_desktop.app.ui_support import format_measure

        checks = r.checks
        t = self.results_table
        t.setRowCount(len(checks))
        for i, c in enumerate(checks):
            op = "≥" if c.higher_is_better else "<"
            target = format_measure(c.target, c.unit).replace("not measured", "")
            passed = c.passed
            verdict = "not measured" if passed is None else ("PASS" if passed else "FAIL")
            result = _item(verdict)
            if passed is not None:
                result.setForeground(QColor(ok_color() if passed else error_color()))
                font = result.font()
                font.setBold(True)
                result.setFont(font)
            for col, item in enumerate((_item(c.label), _item(format_measure(c.value, c.unit)), _item(f"{op} {target}"),
                                        result)):
                t.setItem(i, col, item)
        t.resizeColumnsToContents()
        p50, p95 = r.percentile(50), r.percentile(95)
        latency = f"p50 {p50:.2f} ms, p95 {p95:.2f} ms; " if p50 is not None and p95 is not None else ""
        index = f"index {r.index}" if r.index else "no ANN index (exact search)"
        source = {"catalog": "the open catalog", "synthetic": "a synthetic catalog"}.get(r.source, r.source)
        self.details_label.setText(
            f"Measured {source} of {r.rows:,} rows ({r.embedder}); {r.queries:,} queries, k = {r.k}; "
            f"{latency}{index}; search: {r.search_method or 'n/a'}; "
            f"machine: {r.machine.get('cpus', '?')} CPUs, {r.machine.get('platform', '')}."
        )
        self._plot(r)

    def _ensure_plots(self) -> None:
        if self.plots:
            return
        import pyqtgraph as pg

        palette = self.palette()
        # The window's palette, not a fixed black on white, so that a dark palette is followed.
        pg.setConfigOptions(antialias=True, background=palette.color(QPalette.ColorRole.Base),
                            foreground=palette.color(QPalette.ColorRole.Text))
        self.plots_placeholder.hide()
        for key, title, bottom, left in (
            ("latency", "Search latency", "latency (ms)", "queries"),
            ("throughput", "Import throughput over the run", "time (s)", "seq/s"),
            ("effort", "Recall against search effort", "nprobes", "recall@k"),
        ):
            plot = pg.PlotWidget()
            plot.setMenuEnabled(False)
            plot.hideButtons()
            item = plot.getPlotItem()
            item.setTitle(title, size="10pt")
            item.setLabel("bottom", bottom)
            item.setLabel("left", left)
            item.getAxis("bottom").enableAutoSIPrefix(False)
            item.getAxis("left").enableAutoSIPrefix(False)
            plot.setMinimumHeight(180)
            self.plots[key] = plot
            self.plots_layout.addWidget(plot)

    def _plot(self, r: Any) -> None:
        import numpy as np
        import pyqtgraph as pg

        self._ensure_plots()
        for plot in self.plots.values():
            plot.clear()
        palette = self.palette()
        # Series in the palette's highlight and link colours; targets red, the measured whole green,
        # each readable on the palette's base colour (light or dark).
        series = palette.color(QPalette.ColorRole.Highlight)
        second = palette.color(QPalette.ColorRole.Link)
        red, green = QColor(error_color()), QColor(ok_color())
        latencies = np.asarray(r.latencies_ms, dtype=float)
        if latencies.size:
            counts, edges = np.histogram(latencies, bins=min(40, max(5, latencies.size // 5)))
            bars = pg.BarGraphItem(x0=edges[:-1], x1=edges[1:], height=counts, brush=series, pen=None)
            self.plots["latency"].addItem(bars)
            target = pg.InfiniteLine(r.targets.search_p99_ms, angle=90, pen=pg.mkPen(red, width=2,
                                                                                     style=Qt.PenStyle.DashLine))
            target.setToolTip(f"target p99 < {r.targets.search_p99_ms:g} ms")
            self.plots["latency"].addItem(target)
        if r.throughput:
            times, average = average_rate(r.throughput, r.import_rows, r.import_seconds)
            plot = self.plots["throughput"]
            # Sequences so far / time so far, ending at the table's figure (which counts the commit).
            plot.plot(times, average, pen=pg.mkPen(series, width=2), symbol="o", symbolSize=5)
            plot.addItem(pg.InfiniteLine(r.targets.ingest_seq_per_s, angle=0, pen=pg.mkPen(
                red, width=1, style=Qt.PenStyle.DashLine)))
            if r.ingest_rate:
                overall = pg.InfiniteLine(r.ingest_rate, angle=0, pen=pg.mkPen(green, width=1),
                                          label=f"whole import: {r.ingest_rate:,.0f} seq/s",
                                          labelOpts={"position": 0.4, "color": green})
                plot.addItem(overall)
            plot.setLimits(xMin=0.0, yMin=0.0)
            plot.setXRange(0.0, max(times) if times else 1.0, padding=0.02)
            plot.setYRange(0.0, max([*average, r.targets.ingest_seq_per_s]) * 1.15, padding=0)
        effort = self.plots["effort"]
        if r.effort:
            effort.addLegend(offset=(-10, -10))
            # One curve per refine_factor (quantised indexes are also tried re-scoring 10·k candidates).
            for refine, color in ((0, series), (10, second)):
                points = [e for e in r.effort if int(e.get("refine_factor", 0)) == refine]
                if not points:
                    continue
                label = "nprobes only" if refine == 0 else f"refine ×{refine}"
                effort.plot([float(e["nprobes"]) for e in points], [float(e["recall"]) for e in points],
                            pen=pg.mkPen(color, width=2), symbol="o", symbolSize=6, symbolBrush=color, name=label)
            effort.setLogMode(x=True, y=False)
            # In log mode tick positions are log10 values: label the settings tried, nothing else.
            tried = sorted({int(e["nprobes"]) for e in r.effort})
            effort.getPlotItem().getAxis("bottom").setTicks([[(math.log10(n), str(n)) for n in tried if n > 0], []])
            effort.getPlotItem().setTitle(f"Recall against search effort ({html.escape(r.index or '')})",
                                          size="10pt")
        else:
            effort.setLogMode(x=False, y=False)
            effort.getPlotItem().getAxis("bottom").setTicks(None)
            effort.getPlotItem().setTitle("Recall against search effort: no ANN index", size="10pt")
            text = pg.TextItem("exact search (no index):\nrecall does not depend on effort", color=muted_color(),
                               anchor=(0.5, 0.5))
            text.setPos(0.5, 0.5)
            effort.addItem(text)
            effort.setXRange(0, 1)
            effort.setYRange(0, 1)
        effort.addItem(pg.InfiniteLine(r.targets.recall, angle=0, pen=pg.mkPen(red, width=1,
                                                                                style=Qt.PenStyle.DashLine)))

    def _show_runs(self, runs: list[Any]) -> None:
        self.runs = list(runs)
        t = self.runs_table
        rows = [r.row() for r in reversed(self.runs)]  # newest first
        t.setRowCount(len(rows))
        for i, row in enumerate(rows):
            for c, name in enumerate(RUN_COLUMNS):
                value = row.get(name)
                if value is None:
                    text = ""
                elif isinstance(value, bool):
                    text = "yes" if value else "no"
                elif isinstance(value, float):
                    text = f"{value:,.1f}" if name == "ingest_seq_per_s" else f"{value:g}"
                elif isinstance(value, int):
                    text = f"{value:,}"
                else:
                    text = str(value)
                t.setItem(i, c, _item(text, str(row.get("machine", ""))))
        t.resizeColumnsToContents()
        self.runs_shown.emit(self.runs)

    def _on_run_selected(self) -> None:
        rows = self.runs_table.selectionModel().selectedRows()
        if rows:
            run = list(reversed(self.runs))[rows[0].row()]
            self.show_result(run)
            self.status_label.setText(f"Showing the run of {run.started} (source: {run.source}, {run.rows:,} rows).")

    # ------------------------------------------------------------------ saving
    def choose_save(self) -> None:
        """Save as… (JSON or CSV)."""
        if self.outcome is None:
            return
        start = str(settings().value("paths/export", str(Path.home())))
        path, chosen = QFileDialog.getSaveFileName(self, "Save the benchmark run",
                                                   str(Path(start) / f"bench-{self.outcome.result.id}.json"),
                                                   "JSON (*.json);;CSV (*.csv)")
        if not path:
            return
        if not Path(path).suffix:
            path += ".csv" if "CSV" in chosen else ".json"
        settings().setValue("paths/export", str(Path(path).parent))
        self.save(path)

    def save(self, path: str) -> Job | None:
        """Save the shown run to ``path`` (.json or .csv) on the engine thread."""
        if self.outcome is None:
            return None
        job = self.engine.submit("export", f"Saving {Path(path).name}",
                                 bench_ops.save_benchmark_job(self.outcome.result, path))
        job.finished.connect(lambda p: self.status_label.setText(f"Saved to {p}."))
        job.failed.connect(lambda m, d: self.on_error("Cannot save the benchmark", m, d))
        return job
