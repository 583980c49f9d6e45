"""Take a screenshot of the results view: the real app, a real import, a real search with alignment.

Run by ``make screenshot`` under a display, e.g.::

    xvfb-run -a -s '-screen 0 1280x800x24' env QT_QPA_PLATFORM=xcb .venv/bin/python scripts/screenshot.py \
        docs/screenshot.png --size 1280x800 [--dark]

It uses a throw-away catalog and settings folder, imports UniProt entries
(tests/data/mmseqs2_QUERY.fasta) and the Pfam sample families, searches with one
of those proteins in the default mode (aligned, so the BLAST columns show), shows
a homologue's alignment, and saves ``window.grab()`` at ``--size`` (logical pixels:
with ``QT_SCALE_FACTOR=1.5`` a 960x600 window is a 1440x900 image). ``--dark``
applies the app's dark palette. The PNG is recompressed with ImageMagick when it is
installed. Exits non-zero if any step fails or takes more than two minutes.
"""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import subprocess
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


def main(out: Path, size: tuple[int, int] = (1280, 800), dark: bool = False) -> int:
    """Drive the window through import and an aligned search, then save the grab to ``out``."""
    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    tmp = Path(tempfile.mkdtemp(prefix="genocat-shot-"))
    atexit.register(shutil.rmtree, tmp, True)  # the catalog, settings and models made for the shots
    for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(fmt, QSettings.Scope.UserScope, str(tmp / "settings"))
    os.environ["GENOCAT_HISTORY"] = str(tmp / "search_history.json")  # not the user's searches
    app = QApplication(sys.argv[:1])
    if dark:
        from genocat_desktop.ui.app import dark_palette

        app.setStyle("Fusion")  # a style that draws with the palette on every platform
        app.setPalette(dark_palette())
    from genocat_desktop.ui.errors import install_excepthook
    from genocat_desktop.ui.main_window import MainWindow

    install_excepthook()
    window = MainWindow(str(tmp / "catalog"), [str(DATA / "mmseqs2_QUERY.fasta"), str(DATA / "families_small.faa")])
    window.move(0, 0)
    window.resize(*size)
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
        window.search_page.set_mode("auto")  # the default: aligned, the BLAST columns (E-value, identity, cover)
        window.run_search()

    def on_results(outcome: object) -> None:
        window.search_page.hits_table.select_source_row(1)
        # Wait for that hit's alignment to be drawn before grabbing.
        def check() -> None:
            if "Identities =" in window.search_page.hit_detail.toPlainText():
                QTimer.singleShot(300, grab)  # one more paint of the histogram marker
            else:
                QTimer.singleShot(100, check)

        check()

    def grab() -> None:
        out.parent.mkdir(parents=True, exist_ok=True)
        if not window.grab().save(str(out)):
            fail(f"could not write {out}")
            return
        _optimise(out)
        print(f"wrote {out} ({window.width()}×{window.height()}, {out.stat().st_size // 1024} KiB)")
        status["code"] = 0
        window.close()
        app.exit(0)

    window.imports_done.connect(on_imports)
    window.results_shown.connect(on_results)
    window.job_failed.connect(fail)
    QTimer.singleShot(120_000, lambda: fail("timed out"))
    app.exec()
    return status["code"]


def _optimise(path: Path) -> None:
    """Recompress ``path`` losslessly with ImageMagick if it is installed (Qt writes large PNGs)."""
    convert = shutil.which("magick") or shutil.which("convert")
    if convert is None:
        return
    smaller = path.with_suffix(".min.png")
    done = subprocess.run([convert, str(path), "-strip", "-define", "png:compression-level=9", str(smaller)],
                          capture_output=True, timeout=60, check=False)
    if done.returncode == 0 and smaller.is_file() and smaller.stat().st_size < path.stat().st_size:
        smaller.replace(path)
    else:
        smaller.unlink(missing_ok=True)


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(n) for n in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, e.g. 1280x800, not {text!r}") from None
    return width, height


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Screenshot the results view of a real import and search.")
    parser.add_argument("out", nargs="?", type=Path, default=ROOT / "docs" / "screenshot.png")
    parser.add_argument("--size", type=_size, default=(1280, 800), help="window size, WxH (default 1280x800)")
    parser.add_argument("--dark", action="store_true", help="use the app's dark palette")
    args = parser.parse_args()
    sys.exit(main(args.out, args.size, args.dark))
