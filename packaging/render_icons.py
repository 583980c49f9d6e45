"""Render the PNG sizes of the app icon from ``genocat_desktop/resources/icons/genocat.svg`` with Qt.

Run after changing the SVG (``QT_QPA_PLATFORM=offscreen .venv/bin/python packaging/render_icons.py``);
the PNGs are committed, so neither the build nor the install needs Qt's SVG renderer.
Writes ``genocat-<size>.png`` for the freedesktop hicolor sizes.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

ICONS = Path(__file__).resolve().parent.parent / "genocat_desktop" / "resources" / "icons"
SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def render(svg: Path, size: int) -> QImage:
    """The SVG drawn at ``size`` x ``size`` on a transparent background."""
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"cannot read {svg}")
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    return image


def main() -> int:
    app = QGuiApplication(sys.argv[:1])  # noqa: F841 (QImage/QPainter need an application object)
    svg = ICONS / "genocat.svg"
    for size in SIZES:
        out = ICONS / f"genocat-{size}.png"
        if not render(svg, size).save(str(out)):
            raise SystemExit(f"cannot write {out}")
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
