"""The detail pane (metadata, sequence, alignment of the selected row) and the score histogram."""

from __future__ import annotations

import html
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QFont, QFontDatabase
from PySide6.QtWidgets import QLabel, QTextBrowser, QVBoxLayout, QWidget

from genocat_desktop.ui.widgets.table_model import COLUMN_LABELS

__all__ = ["DetailPane", "ScoreHistogram"]

_SKIP = {"sequence", "rank", "score", "seq_hash"}
_WIDTH = 60
#: Alignment columns per block: 50 keeps a block (plus names and positions) inside a half-width pane.
_ALIGN_WIDTH = 50
#: How long a selected hit waits for its alignment before it is shown without it (see show_row).
_ALIGNMENT_WAIT_MS = 150


def mono_font() -> QFont:
    """The system's fixed-width font (sequences, alignments, the query box)."""
    font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
    font.setStyleHint(QFont.StyleHint.Monospace)
    return font


class DetailPane(QTextBrowser):
    """Shows one row: its metadata, its sequence, and (for hits) its alignment to the query."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setOpenExternalLinks(True)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        self._row: dict[str, Any] | None = None
        self._alignment_html = ""
        # Laying out the pane costs 5-10 ms of GUI time; a hit's alignment usually arrives within
        # tens of ms, so the pane is drawn once with it rather than twice (bench/gui_bench.py).
        self._pending = QTimer(self)
        self._pending.setSingleShot(True)
        self._pending.timeout.connect(self._render)
        # A scroll bar that came and went with the text's height resized the viewport, and the document
        # was laid out a second time at the new width (bench/gui_bench.py): it stays.
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOn)
        self.show_placeholder()

    def show_placeholder(self, text: str = "Select a row to see its details.") -> None:
        """Empty state."""
        self._pending.stop()
        self._row = None
        self.setHtml(f"<p style='color:#666'>{html.escape(text)}</p>")

    def show_row(self, row: dict[str, Any], alignment_note: str = "") -> None:
        """Show a row's metadata and sequence.

        With ``alignment_note`` an alignment is on its way: the row is drawn together with it
        (:meth:`show_alignment`), or after a short wait with the note standing in for it.
        """
        self._row = row
        self._alignment_html = f"<p style='color:#666'>{html.escape(alignment_note)}</p>" if alignment_note else ""
        if alignment_note:
            self._pending.start(_ALIGNMENT_WAIT_MS)
        else:
            self._render()

    def show_alignment(self, alignment: Any, query_id: str, query_length: int) -> None:
        """Add a ``PairAlignment`` of the shown hit to the query."""
        if self._row is None:
            return
        a = alignment
        if a.length == 0:
            self._alignment_html = "<p>No similar region found by local alignment.</p>"
        else:
            hit_id = str(self._row.get("id") or "Hit")
            qname, tname = _short(query_id), _short(hit_id)
            stats = (
                f"<b>Identity</b> {a.identities}/{a.length} ({a.identity:.0%}) &nbsp; "
                f"<b>Similarity</b> {a.positives}/{a.length} ({a.similarity:.0%}) &nbsp; "
                f"<b>Gaps</b> {a.gaps} &nbsp; <b>Query coverage</b> {a.coverage:.0%} "
                f"({a.query_start + 1}-{a.query_end} of {query_length}) &nbsp; <b>Score</b> {a.score:g}"
            )
            block = html.escape(a.format(width=_ALIGN_WIDTH, query_name=qname, target_name=tname))
            self._alignment_html = (
                f"<p>{stats}<br><span style='color:#666'>{html.escape(a.scoring)}</span></p>"
                f"<pre style='font-family:monospace'>{block}</pre>"
            )
        # Drawn on the next timer turn, not inside the engine's signal: other posted work (the next
        # results, a repaint already due) is then painted first, not in the same long pass.
        self._pending.start(0)

    def show_alignment_error(self, message: str) -> None:
        """Say why there is no alignment."""
        self._alignment_html = f"<p style='color:#a00'>No alignment: {html.escape(message)}</p>"
        self._render()

    def _render(self) -> None:
        self._pending.stop()
        row = self._row or {}
        title = html.escape(str(row.get("id") or ""))
        name = row.get("name") or row.get("description") or ""
        parts = [f"<h3 style='margin:0'>{title}</h3>"]
        if name:
            parts.append(f"<p style='margin-top:2px'>{html.escape(str(name))}</p>")
        if row.get("score") is not None:
            parts.append(f"<p><b>Rank</b> {row.get('rank')} &nbsp; <b>Score</b> {float(row['score']):.4f}</p>")
        if self._alignment_html:
            parts.append("<h4>Alignment to the query</h4>" + self._alignment_html)
        # One line per field, not an HTML table: QTextDocument lays a table out cell by cell, which was
        # half of the pane's 5-10 ms per hit (bench/gui_bench.py); lines of text are laid out at once.
        fields = []
        for key, value in row.items():
            if key in _SKIP or key.startswith("_") or value in (None, "", []):
                continue
            shown = "; ".join(map(str, value)) if isinstance(value, list) else str(value)
            if key == "taxid":
                link = f"https://www.ncbi.nlm.nih.gov/Taxonomy/Browser/wwwtax.cgi?id={int(value)}"
                shown_html = f"<a href='{link}'>{html.escape(shown)}</a>"
            else:
                shown_html = html.escape(shown)
            fields.append(f"<span style='color:#555'>{html.escape(COLUMN_LABELS.get(key, key))}:</span> {shown_html}")
        if row.get("seq_hash"):
            md5 = html.escape(str(row["seq_hash"]))
            fields.append(f"<span style='color:#555'>Sequence MD5:</span> <code>{md5}</code>")
        parts.append("<h4>Metadata</h4><p>" + "<br>".join(fields) + "</p>")
        seq = str(row.get("sequence") or "")
        if seq:
            lines = [f"{i + 1:>6} {seq[i:i + _WIDTH]}" for i in range(0, len(seq), _WIDTH)]
            parts.append(f"<h4>Sequence ({len(seq):,} residues)</h4><pre style='font-family:monospace'>"
                         + html.escape("\n".join(lines)) + "</pre>")
        self.setHtml("".join(parts))


def _short(name: str, width: int = 12) -> str:
    parts = name.split("|")
    if len(parts) >= 3 and parts[0] in ("sp", "tr") and parts[1]:
        name = parts[1]  # UniProt "tr|H6QJ35|H6QJ35_RICMA": the accession says it in 6 letters
    return name if len(name) <= width else name[: width - 1] + "…"


class ScoreHistogram(QWidget):
    """A pyqtgraph histogram of the hits' scores, with the selected hit marked.

    pyqtgraph is imported when the first histogram is drawn, not at start-up.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._placeholder = QLabel("The score distribution of the hits appears here after a search.")
        self._placeholder.setWordWrap(True)
        self._placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._placeholder.setStyleSheet("color:#666")
        self._layout.addWidget(self._placeholder)
        self._plot: Any = None
        self._bars: Any = None
        self._marker: Any = None
        self.scores: Any = None

    def prepare(self) -> None:
        """Build the plot now (pyqtgraph is imported by then); shows it only once there are scores."""
        self._ensure_plot()
        self._plot.setVisible(self.scores is not None)
        self._placeholder.setVisible(self.scores is None)

    def _ensure_plot(self) -> None:
        if self._plot is not None:
            self._plot.setVisible(True)
            self._placeholder.setVisible(False)
            return
        import pyqtgraph as pg

        pg.setConfigOptions(antialias=True, background="w", foreground="k")
        self._plot = pg.PlotWidget()
        self._plot.setMenuEnabled(False)
        self._plot.setMouseEnabled(x=False, y=False)
        self._plot.hideButtons()
        item = self._plot.getPlotItem()
        item.setLabel("bottom", "score (cosine similarity)")
        # Scores are 0-1: pyqtgraph's automatic "(x0.001)" SI scaling only confuses.
        item.getAxis("bottom").enableAutoSIPrefix(False)
        item.setLabel("left", "hits")
        item.setTitle("Score distribution", size="10pt")
        # The ranges are set with each histogram: pyqtgraph's auto-range would recompute them on every change.
        item.getViewBox().disableAutoRange()
        # One bar item for all searches, updated in place: removing and adding items re-laid out the scene.
        self._bars = pg.BarGraphItem(x0=[], width=1.0, height=[], brush="#4c78a8", pen=None)
        self._bars.setVisible(False)
        self._plot.addItem(self._bars)
        self._marker = pg.InfiniteLine(angle=90, pen=pg.mkPen("#d62728", width=2))
        self._marker.setVisible(False)
        self._plot.addItem(self._marker)
        self._placeholder.hide()
        self._layout.addWidget(self._plot)

    def set_scores(self, scores: Any, marked: float | None = None) -> None:
        """Draw the histogram of ``scores`` (a numpy array), with the score ``marked`` marked (see :meth:`mark`).

        Marking the hit that will be selected first here, in the same repaint, spares the plot a
        second full repaint (5-10 ms) when that hit is selected.
        """
        import numpy as np

        self._ensure_plot()
        self.scores = np.asarray(scores, dtype=float)
        self.mark(marked)
        if self.scores.size == 0:
            self._bars.setVisible(False)
            return
        lo, hi = float(self.scores.min()), float(self.scores.max())
        if hi - lo < 1e-6:
            lo, hi = lo - 0.01, hi + 0.01
        bins = int(min(40, max(8, np.sqrt(self.scores.size) * 2)))
        counts, edges = np.histogram(self.scores, bins=bins, range=(lo, hi))
        width = edges[1] - edges[0]
        self._bars.setOpts(x0=edges[:-1], width=width * 0.95, height=counts)
        self._bars.setVisible(True)
        self._plot.getPlotItem().getViewBox().setRange(
            xRange=(lo - width, hi + width), yRange=(0, max(1, int(counts.max())) * 1.1), padding=0
        )

    @property
    def marked(self) -> float | None:
        """The score marked on the plot (``None`` when no hit is marked)."""
        if self._marker is None or not self._marker.isVisible():
            return None
        return float(self._marker.value())

    def mark(self, score: float | None) -> None:
        """Mark the selected hit's score (``None`` hides the marker)."""
        if self._marker is None:
            return
        if score is None:
            self._marker.setVisible(False)
        elif not (self._marker.isVisible() and self._marker.value() == score):  # unchanged: no repaint
            self._marker.setValue(score)
            self._marker.setVisible(True)
