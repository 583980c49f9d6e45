"""The page shown while the catalog is empty."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

__all__ = ["WelcomePage"]


class WelcomePage(QWidget):
    """Shown while the catalog is empty: a big drop target, "Open FASTA…", "Load sample data"."""

    open_fasta = Signal()
    load_sample = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        outer = QVBoxLayout(self)
        outer.addStretch(1)
        box = QFrame()
        box.setObjectName("dropTarget")
        box.setStyleSheet(
            # palette() roles, not fixed colours: a dark theme keeps light text on a dark box.
            "#dropTarget { border: 2px dashed palette(mid); border-radius: 12px; background: palette(base); }"
        )
        box.setMinimumSize(560, 300)
        inner = QVBoxLayout(box)
        inner.setContentsMargins(40, 30, 40, 30)
        title = QLabel("<h2>Welcome to GenoCat</h2>")
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        text = QLabel(
            "Your catalog is empty. <b>Drop FASTA files or folders anywhere on this window</b> to import them "
            "(plain, gzip, bzip2 or xz), or start with a small set of real proteins."
        )
        text.setWordWrap(True)
        text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        buttons = QHBoxLayout()
        self.open_button = QPushButton("Open FASTA…")
        self.open_button.setToolTip("Choose FASTA files to import (Ctrl+I)")
        self.sample_button = QPushButton("Load sample data")
        self.sample_button.setToolTip("Import 379 real proteins from 15 Pfam families (CC0/BSD/MIT)")
        for b in (self.open_button, self.sample_button):
            b.setMinimumHeight(36)
            b.setMinimumWidth(170)
        self.open_button.clicked.connect(self.open_fasta)
        self.sample_button.clicked.connect(self.load_sample)
        buttons.addStretch(1)
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.sample_button)
        buttons.addStretch(1)
        hint = QLabel("Each file is imported in one step: a file that is not valid FASTA changes nothing.")
        hint.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        inner.addWidget(title)
        inner.addWidget(text)
        inner.addSpacing(16)
        inner.addLayout(buttons)
        inner.addSpacing(8)
        inner.addWidget(hint)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(box, 3)
        row.addStretch(1)
        outer.addLayout(row)
        outer.addStretch(2)
