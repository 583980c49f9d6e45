"""What the desktop pages need from the engine beyond jobs, so that no page imports the engine itself.

Each helper imports the engine when first called, not when the window starts.
"""

from __future__ import annotations

__all__ = ["format_measure"]


def format_measure(value: float | None, unit: str) -> str:
    """A benchmark measure (or target) as text in its unit, as the CLI prints it.

    Parameters
    ----------
    value
        The measured value, ``None`` when not measured.
    unit
        The check's unit (e.g. ``"ms"``, ``"seq/s"``).

    Returns
    -------
    str
        The text shown in the benchmark table.
    """
    from genocat_desktop.engine.benchmark import format_measure as engine_format_measure

    return engine_format_measure(value, unit)
