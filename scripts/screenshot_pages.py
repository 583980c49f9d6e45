"""Take docs/schema.png and docs/benchmark.png: the real app's Schema and Benchmark pages.

Run it under a display at 1280×800 (``make screenshot`` runs it after scripts/screenshot.py)::

    xvfb-run -a -s '-screen 0 1280x800x24' env QT_QPA_PLATFORM=xcb .venv/bin/python scripts/screenshot_pages.py

It uses a throw-away catalog and settings folder, imports the Pfam sample
families, adds two user fields through the Schema page, fills one from a small
spreadsheet, grabs the Schema page, then runs the benchmark on a synthetic
catalog of 2,000 sequences and grabs the Benchmark page. Exits non-zero if
any step fails or the whole takes more than five minutes.
"""

from __future__ import annotations

import atexit
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"


def main(out_dir: Path) -> int:
    """Drive the window through the two pages and save a grab of each into ``out_dir``."""
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
    window = MainWindow(str(tmp / "catalog"), [str(DATA / "families_small.faa")])
    window.resize(1280, 800)
    window.move(0, 0)
    window.show()
    page, bench = window.schema_page, window.benchmark_page
    status = {"code": 1, "imported": 0, "shot": 0}
    # The annotation sheet: the family of each sequence (tests/data/families_small.tsv), by id.
    rows = [line.split("\t") for line in (DATA / "families_small.tsv").read_text().splitlines()[1:]]
    sheet = tmp / "families.csv"
    sheet.write_text("id,family\n" + "".join(f"{r[0]},{r[1]}\n" for r in rows[:300]))
    steps: list[Callable[[], Any]] = [
        lambda: page.add_field("family", "text", description="Pfam family (from the lab's spreadsheet)"),
        lambda: page.add_field("assay", "category", allowed=["low", "medium", "high"], default="medium",
                               description="activity in our plate assay"),
        lambda: page.add_field("ph_optimum", "float", description="pH optimum measured in 2024"),
        lambda: page.preview_annotations(str(sheet), "id"),
    ]

    def fail(message: str) -> None:
        print(f"screenshot: {message}", file=sys.stderr)
        window.confirm = lambda title, text: True
        window.close()
        app.exit(1)

    def save(name: str) -> bool:
        out = out_dir / name
        out.parent.mkdir(parents=True, exist_ok=True)
        if not window.grab().save(str(out)):
            fail(f"could not write {out}")
            return False
        print(f"wrote {out} ({window.width()}×{window.height()})")
        return True

    def next_step(_: object = None) -> None:
        if steps:
            steps.pop(0)()

    def on_imports(results: list[object]) -> None:
        if window._last_report is not None:
            window._last_report.close()
        window.import_panel.setVisible(False)
        status["imported"] = 1
        window.tabs.setCurrentIndex(2)
        next_step()

    def on_plan(preview: object) -> None:
        dialog = page.preview_dialog
        if dialog is not None:
            dialog.apply_button.click()

    def on_state(state: Any) -> None:
        if not status["imported"] or status["shot"]:
            return  # the listing of the empty catalog, before the import
        if steps:
            next_step()
        elif any(f.name == "family" and f.filled for f in state.fields):
            status["shot"] = 1
            page.select_field("family")
            QTimer.singleShot(300, shoot_schema)

    def shoot_schema() -> None:
        if not save("schema.png"):
            return
        window.tabs.setCurrentIndex(3)
        bench.source_combo.setCurrentIndex(bench.source_combo.findData("synthetic"))
        bench.size_spin.setValue(2000)
        bench.queries_spin.setValue(200)
        bench.run()

    def on_result(outcome: object) -> None:
        QTimer.singleShot(500, shoot_bench)

    def shoot_bench() -> None:
        if save("benchmark.png"):
            status["code"] = 0
            window.close()
            app.exit(0)

    window.imports_done.connect(on_imports)
    page.plan_ready.connect(on_plan)
    page.state_shown.connect(on_state)
    bench.result_shown.connect(on_result)
    window.job_failed.connect(fail)
    QTimer.singleShot(300_000, lambda: fail("timed out"))
    app.exec()
    return status["code"]


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs"))
