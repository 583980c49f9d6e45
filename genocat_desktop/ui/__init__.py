"""The PySide6 desktop front: windows, dialogs and views over :mod:`genocat_desktop.engine`.

Only this package (and :mod:`genocat_desktop.cli.main`, which starts it) may import
Qt. The engine never imports it; ``lint-imports`` (contract in pyproject.toml)
and ``tests/test_engine_has_no_qt.py`` check that.
"""
