"""The detail pane (metadata, sequence, alignment of the selected row) and the score histogram."""

from __future__ import annotations

import html
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QFont, QFontDatabase, QFontMetrics, QPalette, QResizeEvent
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QTextBrowser, QVBoxLayout, QWidget

from genocat_desktop.ui.widgets.table_model import COLUMN_LABELS

__all__ = ["DetailPane", "HitDetailsDialog", "ScoreHistogram", "blast_lines"]

_SKIP = {"sequence", "rank", "score", "seq_hash", "title"}
_WIDTH = 60
#: Residues of a hit's sequence written into the pane (1,000 lines); longer records are cut there.
_MAX_SEQUENCE_SHOWN = 60_000
#: Fewest and most alignment columns per line (the pane's width chooses in between).
_MIN_ALIGN_WIDTH, _MAX_ALIGN_WIDTH = 20, 120
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
        self._alignment: tuple[Any, str, int] | None = None
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
        self.setHtml(f"<p style='color:{self._dim()}'>{html.escape(text)}</p>")

    def show_row(self, row: dict[str, Any], alignment_note: str = "") -> None:
        """Show a row's metadata and sequence.

        With ``alignment_note`` an alignment is on its way: the row is drawn together with it
        (:meth:`show_alignment`), or after a short wait with the note standing in for it.
        """
        self._row = row
        self._alignment = None
        note = html.escape(alignment_note)
        self._alignment_html = f"<p style='color:{self._dim()}'>{note}</p>" if alignment_note else ""
        if alignment_note:
            self._pending.start(_ALIGNMENT_WAIT_MS)
        else:
            self._render()

    def show_alignment(self, alignment: Any, query_id: str, query_length: int) -> None:
        """Add a ``PairAlignment`` of the shown hit to the query (BLAST's pairwise layout)."""
        if self._row is None:
            return
        self._alignment = (alignment, query_id, query_length)
        self._alignment_html = self._alignment_block()
        # Drawn on the next timer turn, not inside the engine's signal: other posted work (the next
        # results, a repaint already due) is then painted first, not in the same long pass.
        self._pending.start(0)

    def alignment_width(self) -> int:
        """Alignment columns per line that fit the pane's width (names and coordinates included)."""
        chars = self.viewport().width() // max(QFontMetrics(mono_font()).horizontalAdvance("M"), 1)
        # "Sbjct  12345  " before and "  12345" after the residues, and the document's margins.
        return max(_MIN_ALIGN_WIDTH, min(_MAX_ALIGN_WIDTH, chars - 23))

    def _alignment_block(self) -> str:
        if self._alignment is None or self._row is None:
            return self._alignment_html
        a, query_id, query_length = self._alignment
        row = self._row
        hit_id = str(row.get("id") or "Hit")
        title = str(row.get("description") or row.get("name") or "")
        length = row.get("length") or (len(str(row.get("sequence") or "")) or None)
        names = (
            f"<p style='margin:0'><b>Query:</b> {html.escape(query_id)} &nbsp;Length={query_length:,}</p>"
            f"<p style='margin:0'><b>Sbjct:</b> {html.escape(hit_id)} {html.escape(title)}"
            + (f" &nbsp;Length={int(length):,}" if length else "") + "</p>"
        )
        if a.length == 0:
            return names + "<p>No similar region found by local alignment.</p>"
        score = f"Score = {a.score:g}"
        if isinstance(row.get("bits"), float) and row["bits"] == row["bits"]:  # not NaN (nucleotides have none)
            score = f"Score = {row['bits']:.1f} bits ({a.score:g})"
        if isinstance(row.get("evalue"), float) and row["evalue"] == row["evalue"]:
            score += f", Expect = {row['evalue']:.2g}"
        stats = (
            f"{score}<br>Identities = {a.identities}/{a.length} ({a.identity:.0%}), "
            f"Positives = {a.positives}/{a.length} ({a.similarity:.0%}), "
            f"Gaps = {a.gaps}/{a.length} ({a.gaps / a.length:.0%})<br>"
            f"Query coverage = {a.coverage:.0%} ({a.query_start + 1}-{a.query_end} of {query_length:,})"
        )
        block = html.escape("\n".join(blast_lines(a, self.alignment_width())))
        return (
            f"{names}<p>{stats}<br><span style='color:{self._dim()}'>{html.escape(a.scoring)}</span></p>"
            f"<pre style='font-family:monospace'>{block}</pre>"
        )

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        # The alignment re-wraps to the new width (only when the columns per line change).
        if self._alignment is not None and self._row is not None and event.oldSize().width() != event.size().width():
            block = self._alignment_block()
            if block != self._alignment_html:
                self._alignment_html = block
                self._pending.start(0)

    def _dim(self) -> str:
        """The palette's colour for secondary text (readable in light and dark palettes)."""
        return self.palette().color(QPalette.ColorRole.PlaceholderText).name()

    def show_alignment_error(self, message: str) -> None:
        """Say why there is no alignment."""
        self._alignment = None
        error = self.palette().color(QPalette.ColorRole.Link).name()
        self._alignment_html = f"<p style='color:{error}'>No alignment: {html.escape(message)}</p>"
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
            bits = row.get("bits")
            aligned = isinstance(bits, float) and bits == bits
            if aligned and "frame" in row:  # a translated hit: its score is the bit score, there is no cosine
                score = f"<b>Score</b> {bits:.1f} bits &nbsp; <b>Frame</b> {html.escape(str(row['frame']))}"
            elif aligned:
                score = f"<b>Score</b> {bits:.1f} bits &nbsp; <b>Cosine</b> {float(row['score']):.4f}"
            elif row.get("containment") is not None:  # a sketch hit: its score is the containment
                score = f"<b>Containment</b> {float(row['containment']):.3f}"
                if row.get("ani") is not None:
                    score += f" &nbsp; <b>ANI</b> {float(row['ani']):.3f}"
            else:
                score = f"<b>Score</b> {float(row['score']):.4f} (cosine)"
            parts.append(f"<p><b>Rank</b> {row.get('rank')} &nbsp; {score}{_where(row)}</p>")
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
            label = html.escape(COLUMN_LABELS.get(key, key))
            fields.append(f"<span style='color:{self._dim()}'>{label}:</span> {shown_html}")
        if row.get("seq_hash"):
            md5 = html.escape(str(row["seq_hash"]))
            fields.append(f"<span style='color:{self._dim()}'>Sequence MD5:</span> <code>{md5}</code>")
        parts.append("<h4>Metadata</h4><p>" + "<br>".join(fields) + "</p>")
        seq = str(row.get("sequence") or "")
        if seq:
            # A genome's whole sequence would take the text layout a second at every selection:
            # its first residues are shown (the alignment above shows the hit's region).
            shown_seq = seq[:_MAX_SEQUENCE_SHOWN]
            lines = [f"{i + 1:>6} {shown_seq[i:i + _WIDTH]}" for i in range(0, len(shown_seq), _WIDTH)]
            if len(seq) > len(shown_seq):
                lines.append(f"… {len(seq) - len(shown_seq):,} more residues (Export → FASTA for the whole record)")
            parts.append(f"<h4>Sequence ({len(seq):,} residues)</h4><pre style='font-family:monospace'>"
                         + html.escape("\n".join(lines)) + "</pre>")
        self.setHtml("".join(parts))


def _where(row: dict[str, Any]) -> str:
    """Where a nucleotide hit aligned: its strand and, located in a long record or translated, the region."""
    out = ""
    if row.get("sstrand") in ("plus", "minus"):
        out += f"<br><b>Strand</b> {html.escape(str(row['sstrand']))}"
    if row.get("hit_start") is not None and row.get("hit_end") is not None:
        length = f" of {int(row['length']):,}" if row.get("length") else ""
        out += f" &nbsp; <b>Hit region</b> {int(row['hit_start']):,}–{int(row['hit_end']):,}{length}"
    if row.get("query_start") is not None and row.get("query_end") is not None:
        out += f" &nbsp; <b>Query region</b> {int(row['query_start']):,}–{int(row['query_end']):,}"
    return out


def blast_lines(a: Any, width: int) -> list[str]:
    """A ``PairAlignment`` as BLAST's ``Query``/``Sbjct`` lines of ``width`` columns, with coordinates.

    Coordinates are 1-based and inclusive, as BLAST prints them; the match line
    (``|`` identical, ``+`` similar) sits between, under the residues.
    """
    out: list[str] = []
    # On the minus strand the Sbjct rows read the hit's reverse complement: its positions count down.
    minus = getattr(a, "strand", "plus") == "minus"
    length = getattr(a, "target_length", 0)
    qpos, tpos = a.query_start, (length - a.target_end if minus else a.target_start)
    digits = len(str(max(a.query_end, a.target_end)))
    for start in range(0, a.length, width):
        q = a.aligned_query[start : start + width]
        t = a.aligned_target[start : start + width]
        q_end = qpos + sum(c != "-" for c in q)
        t_end = tpos + sum(c != "-" for c in t)
        first, last = (length - tpos, length - t_end + 1) if minus else (tpos + 1, t_end)
        out.append(f"Query  {qpos + 1:<{digits}}  {q}  {q_end}")
        out.append(f"       {'':<{digits}}  {a.match_line[start : start + width]}")
        out.append(f"Sbjct  {first:<{digits}}  {t}  {last}")
        out.append("")
        qpos, tpos = q_end, t_end
    return out[:-1]


class HitDetailsDialog(QDialog):
    """A hit's details in a window of their own (double-click on a hit): a large :class:`DetailPane`."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Hit details")
        self.resize(820, 640)
        self.pane = DetailPane(self)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.pane)
        layout.addWidget(buttons)


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
        self._placeholder.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self._layout.addWidget(self._placeholder)
        self._plot: Any = None
        self._bars: Any = None
        self._marker: Any = None
        self.scores: Any = None
        #: What the scores are (the bottom axis's label).
        self.label = "score (cosine similarity)"

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

        palette = self.palette()
        # The window's palette, not pyqtgraph's fixed black on white, so a dark palette is followed.
        pg.setConfigOptions(antialias=True, background=palette.color(QPalette.ColorRole.Base),
                            foreground=palette.color(QPalette.ColorRole.Text))
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
        self._bars = pg.BarGraphItem(x0=[], width=1.0, height=[], brush=palette.color(QPalette.ColorRole.Highlight),
                                     pen=None)
        self._bars.setVisible(False)
        self._plot.addItem(self._bars)
        self._marker = pg.InfiniteLine(angle=90, pen=pg.mkPen(palette.color(QPalette.ColorRole.Text), width=2))
        self._marker.setVisible(False)
        self._plot.addItem(self._marker)
        self._placeholder.hide()
        self._layout.addWidget(self._plot)

    def set_scores(self, scores: Any, marked: float | None = None, label: str = "score (cosine similarity)") -> None:
        """Draw the histogram of ``scores`` (a numpy array), with the score ``marked`` marked (see :meth:`mark`).

        ``label`` names the score on the axis (the ranking in use: cosine or bit score).

        Marking the hit that will be selected first here, in the same repaint, spares the plot a
        second full repaint (5-10 ms) when that hit is selected.
        """
        import numpy as np

        self._ensure_plot()
        self.scores = np.asarray(scores, dtype=float)
        self.scores = self.scores[np.isfinite(self.scores)]
        if label != self.label:
            self.label = label
            self._plot.getPlotItem().setLabel("bottom", label)
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
