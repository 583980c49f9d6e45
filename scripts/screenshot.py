"""Take docs/screenshot.png: the real app, a real import, a real search (run by ``make screenshot``).

Run it under a display at 1280×800, e.g.::

    xvfb-run -a -s '-screen 0 1280x800x24' env QT_QPA_PLATFORM=xcb .venv/bin/python scripts/screenshot.py

It uses a throw-away catalog and settings folder, imports UniProt entries
(tests/data/mmseqs2_QUERY.fasta) and the Pfam sample families, searches with one
of those proteins, shows a homologue's alignment, and saves ``window.grab()``.
Exits non-zero if any step fails or takes more than two minutes.
"""

from __future__ import annotations

import atexit
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
#: The query: a UniProt entry of the imported file (Rickettsia peptide chain release factor 1), as
#: "Find similar" on a catalog row would search it; the second hit, a homologue, is shown in detail.
QUERY_ID = "tr|H6QJ35|H6QJ35_RICMA"


def _query() -> str:
    text = (DATA / "mmseqs2_QUERY.fasta").read_text()
    for block in text.split(">")[1:]:
        if block.startswith(QUERY_ID):
            return ">" + block.strip()
    raise SystemExit(f"screenshot: {QUERY_ID} is not in mmseqs2_QUERY.fasta")


def main(out: Path) -> int:
    """Drive the window through import and search, then save the grab to ``out``."""
    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    tmp = Path(tempfile.mkdtemp(prefix="genocat-shot-"))
    atexit.register(shutil.rmtree, tmp, True)  # the catalog, settings and models made for the shots
    for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(fmt, QSettings.Scope.UserScope, str(tmp / "settings"))
    app = QApplication(sys.argv[:1])
    from genocat_desktop.ui.errors import install_excepthook
    from genocat_desktop.ui.main_window import MainWindow

    install_excepthook()
    window = MainWindow(str(tmp / "catalog"), [str(DATA / "mmseqs2_QUERY.fasta"), str(DATA / "families_small.faa")])
    window.resize(1280, 800)
    window.move(0, 0)
    window.show()
    status = {"code": 1}

    def fail(message: str) -> None:
        print(f"screenshot: {message}", file=sys.stderr)
        window.confirm = lambda title, text: True
        window.close()
        app.exit(1)

    def on_imports(results: list[object]) -> None:
        if window._last_report is not None:
            window._last_report.close()
        window.import_panel.setVisible(False)
        window.search_page.query_edit.setPlainText(_query())
        window.search_page.search_filters.add_row("length", ">", "200")
        window.run_search()

    def on_results(outcome: object) -> None:
        window.search_page.hits_table.select_source_row(1)
        # Wait for that hit's alignment to be drawn before grabbing.
        def check() -> None:
            if "Identity" in window.search_page.hit_detail.toPlainText():
                QTimer.singleShot(300, grab)  # one more paint of the histogram marker
            else:
                QTimer.singleShot(100, check)

        check()

    def grab() -> None:
        out.parent.mkdir(parents=True, exist_ok=True)
        if not window.grab().save(str(out)):
            fail(f"could not write {out}")
            return
        print(f"wrote {out} ({window.width()}×{window.height()})")
        status["code"] = 0
        window.close()
        app.exit(0)

    window.imports_done.connect(on_imports)
    window.results_shown.connect(on_results)
    window.job_failed.connect(fail)
    QTimer.singleShot(120_000, lambda: fail("timed out"))
    app.exec()
    return status["code"]


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screenshot.png"))
