"""Showing a job's progress on a bar, and in words (and what an export wrote): one rule for every page and dialog."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QProgressBar

__all__ = ["describe_embedding_progress", "export_message", "format_eta", "format_size", "show_fraction"]

#: Bars count in thousandths, so a long job still moves visibly.
STEPS = 1000


def show_fraction(bar: QProgressBar, fraction: float | None) -> None:
    """Set ``bar`` to ``fraction`` (0-1), or to Qt's busy indicator when the total is unknown (``None``)."""
    if fraction is None:
        bar.setRange(0, 0)
    else:
        bar.setRange(0, STEPS)
        # QProgressBar.setValue repaints at once (QWidget.repaint), and a synchronous repaint paints every
        # pending region of the window with it (a search's progress painted the new hit table inside
        # the engine's progress signal: bench/gui_bench.py). With updates off for the call, the bar is
        # painted in the next regular update instead.
        bar.setUpdatesEnabled(False)
        bar.setValue(round(min(1.0, max(0.0, fraction)) * STEPS))
        bar.setUpdatesEnabled(True)


def format_eta(seconds: float | None) -> str:
    """``"ETA 1 min 05 s"``-style text (empty when unknown)."""
    if seconds is None:
        return ""
    s = round(seconds)
    if s < 60:
        return f"about {s} s left"
    if s < 3600:
        return f"about {s // 60} min {s % 60:02d} s left"
    return f"about {s // 3600} h {s % 3600 // 60:02d} min left"


def format_size(n: int) -> str:
    """A file size in MB (GB from 1e9 bytes)."""
    return f"{n / 1e6:,.1f} MB" if n < 1e9 else f"{n / 1e9:,.2f} GB"


def describe_embedding_progress(p: Any, *, compact: bool = False) -> tuple[int, str]:
    """A progress bar value (0-1000, -1 when unknown) and a line for an embedding job's ``Progress``.

    ``"Embedding with esm2_t6: 1,200 of 10,000 sequences · 9.8 seq/s · about 15 min 00 s left"``;
    ``compact`` (the status bar) leaves out the model: ``"Embedding 1,200/10,000 · 9.8 seq/s · …"``.
    """
    fraction = p.fraction
    value = int(fraction * 1000) if fraction is not None else -1
    if p.phase == "embedding":
        if compact:
            parts = [f"Embedding {p.done:,}/{p.total or 0:,}"]
        else:
            parts = [p.message or f"Embedding: {p.done:,} of {p.total or 0:,}"]
        if p.unit == "sequences" and not compact and "sequences" not in parts[0]:
            parts[0] += " sequences"
        if p.rate:
            parts.append(f"{p.rate:,.1f} seq/s" if p.rate < 100 else f"{p.rate:,.0f} seq/s")
        eta = format_eta(p.eta_seconds)
        if eta:
            parts.append(eta)
        return value, " · ".join(parts)
    if p.unit == "bytes" and p.total:
        return value, f"{p.message}: {format_size(p.done)} of {format_size(p.total)}"
    return value, p.message or p.phase


def export_message(count: int, path: str, hits: tuple[int, int] | None) -> str:
    """What an export wrote, in words: rows for the browser; for hits, of how many queries, and for
    FASTA that a sequence hit by several queries (or twice) is written once.

    Parameters
    ----------
    count
        Rows (CSV) or sequences (FASTA) written.
    path
        The file written.
    hits
        (hits, queries) exported from a search; ``None`` for the catalog browser's rows.
    """
    if hits is None:
        return f"Wrote {count:,} row{'' if count == 1 else 's'} to {path}"
    n, queries = hits
    of = f"{n:,} hit{'' if n == 1 else 's'} of {queries:,} quer{'y' if queries == 1 else 'ies'}"
    if Path(path).suffix.lower() in (".csv", ".tsv", ".txt"):
        return f"Wrote {of} to {path}"
    if count == n:
        return f"Wrote {of} to {path} ({count:,} sequences)"
    return (f"Wrote {of} to {path}: {count:,} distinct sequences (a sequence hit more than once is written "
            "once; export CSV for one row per hit)")

