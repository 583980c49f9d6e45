"""Take docs/models.png: the real app's Models tab while an interrupted ESM-2 embedding is resumed.

Run it under a display at 1280×800 (``make screenshot`` runs it after the other pages)::

    xvfb-run -a -s '-screen 0 1280x800x24' env QT_QPA_PLATFORM=xcb .venv/bin/python scripts/screenshot_models.py

Nothing is downloaded: a model of ESM-2 t6's shape (6 layers, 320 dimensions) with *random
weights* is built and exported by ``genocat model export``'s code path (needs the ``[export]``
extra, which ``[dev]`` installs) into a throw-away models folder. With a throw-away catalog and
settings folder, the script imports the Pfam sample families, installs the model through the
page, adds a 3-mer embedding, starts the ESM-2 embedding, cancels it, resumes it, and saves the
window while the resumed run shows its progress. Exits non-zero if any step fails or the whole
takes more than ten minutes.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
MODEL = "esm2_t6_random_weights"


def main(out: Path) -> int:
    """Drive the window through the Models tab and save the grab to ``out``."""
    tmp = Path(tempfile.mkdtemp(prefix="genocat-shot-"))
    atexit.register(shutil.rmtree, tmp, True)  # the catalog, settings and models made for the shots
    os.environ["GENOCAT_MODELS"] = str(tmp / "models")
    from genocat_desktop.engine.embed.esm_export import build_random_model, export_esm

    build_random_model(tmp / "esm2_t6_shape", hidden=320, layers=6, heads=20)
    onnx = export_esm(tmp / "esm2_t6_shape", tmp / f"{MODEL}.onnx", name=MODEL).path

    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtWidgets import QApplication

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
    page = window.models_page
    status: dict[str, Any] = {"code": 1, "step": "import", "resumed_from": 0}

    def fail(message: str) -> None:
        print(f"screenshot: {message}", file=sys.stderr)
        window.confirm = lambda title, text: True
        window.close()
        app.exit(1)

    def on_imports(results: list[object]) -> None:
        if window._last_report is not None:
            window._last_report.close()
        window.import_panel.setVisible(False)
        window.show_models()
        status["step"] = "model"
        page.add_model(str(onnx))

    def on_model(info: Any) -> None:
        status["step"] = "kmer"
        page.add_embedding("kmer", {"k": 3, "dim": 512}, column="vec_kmer_k3_512")

    def on_embedded(outcome: Any) -> None:
        if status["step"] == "kmer":
            status["step"] = "esm"
            # Cancelled after the first 128 sequences, which the engine saves as one group.
            job = page.add_embedding("esm", {"model": MODEL})
            if job is not None:
                job.progress.connect(lambda p: page.cancel() if p.phase == "embedding" and p.done >= 140 else None)

    def on_stopped(how: str) -> None:
        if status["step"] == "esm" and how == "cancelled":
            status["step"] = "pending"  # the page lists its state again: resume from there
        else:
            fail(f"the embedding {how}")

    def on_state(state: Any) -> None:
        if status["step"] != "pending":
            return
        pending = [r for r in state.embeddings if r.pending]
        if not pending:
            return
        status["step"] = "resume"
        status["resumed_from"] = pending[0].done
        page.select_embedding(pending[0].column, pending=True)
        job = page.resume(pending[0].column)
        if job is not None:
            job.progress.connect(on_resume_progress)

    def on_resume_progress(p: Any) -> None:
        if status["step"] == "resume" and p.phase == "embedding" and p.rate and p.done >= status["resumed_from"] + 24:
            status["step"] = "shoot"
            QTimer.singleShot(200, shoot)

    def shoot() -> None:
        out.parent.mkdir(parents=True, exist_ok=True)
        if not window.grab().save(str(out)):
            fail(f"could not write {out}")
            return
        print(f"wrote {out} ({window.width()}×{window.height()})")
        status["code"] = 0
        window.confirm = lambda title, text: True
        window.close()  # cancels the resumed run; its work stays in the throw-away catalog
        app.exit(0)

    window.imports_done.connect(on_imports)
    page.model_added.connect(on_model)
    page.embedding_finished.connect(on_embedded)
    page.embedding_stopped.connect(on_stopped)
    page.state_shown.connect(on_state)
    window.job_failed.connect(fail)
    QTimer.singleShot(600_000, lambda: fail("timed out"))
    app.exec()
    return int(status["code"])


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "models.png"))
