"""Showing a job's progress on a bar: one rule for every page and dialog."""

from __future__ import annotations

from PySide6.QtWidgets import QProgressBar

__all__ = ["show_fraction"]

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
