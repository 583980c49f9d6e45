"""Take docs/indexes.png and docs/s3.png: the real app's Indexes dialog and Open S3 catalog dialog.

Run it under a display (``make screenshot`` runs it after the other screenshot scripts)::

    xvfb-run -a -s '-screen 0 1280x800x24' env QT_QPA_PLATFORM=xcb .venv/bin/python scripts/screenshot_storage.py

It uses a throw-away catalog and settings folder: imports the Pfam sample
families, builds the indexes through the dialog, imports 500 more proteins
(so the dialog shows rows not yet indexed), and grabs the Indexes dialog.
Then it fills the S3 dialog for a store on a local port where nothing listens
and presses "Test connection", so the grab shows the real answer ("Endpoint
unreachable"). Exits non-zero if any step fails or the whole takes more than
three minutes.
"""

from __future__ import annotations

import atexit
import shutil
import socket
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main(out_dir: Path) -> int:
    """Drive the window through both dialogs and save a grab of each into ``out_dir``."""
    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtWidgets import QApplication, QWidget

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
    dialog = window.index_dialog
    dialog.auto_check.setChecked(False)  # the second import should leave rows to optimize
    status = {"code": 1, "imports": 0}

    def fail(message: str) -> None:
        print(f"screenshot: {message}", file=sys.stderr)
        window.confirm = lambda title, text: True
        window.close()
        app.exit(1)

    def save(widget: QWidget, name: str) -> bool:
        out = out_dir / name
        out.parent.mkdir(parents=True, exist_ok=True)
        if not widget.grab().save(str(out)):
            fail(f"could not write {out}")
            return False
        print(f"wrote {out} ({widget.width()}×{widget.height()})")
        return True

    def on_imports(results: list[object]) -> None:
        if window._last_report is not None:
            window._last_report.close()
        window.import_panel.setVisible(False)
        status["imports"] += 1
        if status["imports"] == 1:
            dialog.show_dialog()
            dialog.move(150, 120)
            dialog.build()

    def on_outcome(outcome: Any) -> None:
        if outcome.action == "built":
            window.import_paths([str(DATA / "mmseqs2_QUERY.fasta")])
        elif status["imports"] == 2 and outcome.action == "status":
            # The row the eye goes to: the vector index, with its new rows not yet indexed.
            dialog.table.selectRow(0)
            QTimer.singleShot(300, shoot_indexes)

    def shoot_indexes() -> None:
        if not save(dialog, "indexes.png"):
            return
        dialog.hide()
        s3 = window.choose_s3_catalog()
        s3.move(250, 100)
        s3.location_edit.setText("s3://lab-catalogs/proteins")
        s3.endpoint_edit.setText(f"http://127.0.0.1:{_free_port()}")
        s3.http_check.setChecked(True)
        s3.keys_radio.setChecked(True)
        s3.key_edit.setText("AKIAEXAMPLEKEY123456")
        s3.secret_edit.setText("not-a-real-secret")
        s3.checked.connect(lambda result: QTimer.singleShot(300, lambda: shoot_s3(s3)))
        s3.test_connection()

    def shoot_s3(s3: QWidget) -> None:
        if save(s3, "s3.png"):
            status["code"] = 0
            s3.close()
            window.close()
            app.exit(0)

    window.imports_done.connect(on_imports)
    dialog.status_shown.connect(on_outcome)
    window.job_failed.connect(fail)
    QTimer.singleShot(180_000, lambda: fail("timed out"))
    app.exec()
    return status["code"]


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs"))
