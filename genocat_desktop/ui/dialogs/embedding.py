"""The Add embedding dialog: which embedder (an installed ESM-2 model, k-mer counts or MinHash sketches), the new
column, default."""

from __future__ import annotations

from typing import Any

from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from genocat_desktop.ui.app import error_color

__all__ = ["KMER_DIMS", "SKETCH_SCALED", "AddEmbeddingDialog"]

#: Bucket counts offered for a k-mer embedding.
KMER_DIMS = (256, 512, 1024, 2048)
#: ``scaled`` values offered for MinHash sketches (one k-mer kept in about that many); 100 suits inserts and genomes.
SKETCH_SCALED = (50, 100, 200, 1000)


class AddEmbeddingDialog(QDialog):
    """Choose what to embed the catalog with: an installed model or the k-mer embedder; column; default.

    Parameters
    ----------
    models
        Installed models (engine ``ModelInfo``).
    rows
        Rows in the catalog (to say how much work it is).
    columns
        The catalog's vector columns and interrupted runs (a new column must not clash).
    """

    def __init__(self, models: list[Any], rows: int, columns: set[str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Add an embedding")
        self._columns = columns
        self.embedder_combo = QComboBox()
        for m in models:
            layers = f"{m.layers} layers, " if m.layers else ""
            self.embedder_combo.addItem(f"{m.name} ({layers}{m.dim} d, {m.quantization})", ("esm", m.name))
        self.embedder_combo.addItem("k-mer counts (built in, no model)", ("kmer", None))
        self.embedder_combo.addItem("MinHash sketches (DNA: containment of inserts, genome ANI)", ("sketch", None))
        self.embedder_combo.setToolTip("An installed ESM-2 model, hashed k-mer counts with other settings, or "
                                       "MinHash sketches of DNA records (which records contain a query; ANI)")
        self.scaled_combo = QComboBox()
        for scaled in SKETCH_SCALED:
            self.scaled_combo.addItem(f"{scaled}", scaled)
        self.scaled_combo.setCurrentIndex(SKETCH_SCALED.index(100))
        self.scaled_combo.setToolTip("Keep one 21-mer in about this many: 100 finds 1 kb inserts and puts the "
                                     "distance of 50 kb pieces within 0.01; 1000 is sourmash's genome default")
        self.k_spin = QSpinBox()
        self.k_spin.setRange(1, 6)
        self.k_spin.setValue(3)
        self.k_spin.setToolTip("Word length over the 12-letter reduced alphabet (the default embedding uses 4)")
        self.dim_combo = QComboBox()
        for d in KMER_DIMS:
            self.dim_combo.addItem(f"{d}", d)
        self.dim_combo.setCurrentIndex(KMER_DIMS.index(512))
        self.dim_combo.setToolTip("Hash buckets: the vector's length")
        self.column_edit = QLineEdit()
        self.column_edit.setToolTip("The new vector column: vec_ followed by letters, digits and '_'")
        self.default_check = QCheckBox("Search with it by default")
        self.default_check.setToolTip("Make the new embedding the one the Search tab uses unless told otherwise")
        self.message = QLabel("")
        self.message.setStyleSheet(f"color:{error_color()}")
        self.message.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Embed with", self.embedder_combo)
        self.k_label = QLabel("k")
        self.dim_label = QLabel("Buckets")
        form.addRow(self.k_label, self.k_spin)
        form.addRow(self.dim_label, self.dim_combo)
        self.scaled_label = QLabel("Scaled")
        form.addRow(self.scaled_label, self.scaled_combo)
        form.addRow("Column", self.column_edit)
        form.addRow("", self.default_check)
        form.addRow("", self.message)
        note = QLabel(
            f"Every one of the catalog's {rows:,} sequences is embedded into a new column; nothing else is "
            "rewritten. ESM-2 on a CPU is slow (t6 int8: about 10 proteins/s on two idle cores): the job shows "
            "the time left, can be cancelled at any moment and resumed later without losing finished sequences."
        )
        note.setWordWrap(True)
        note.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        if not models:
            hint = QLabel("No ESM-2 model is installed yet: add one on the Models page (Add model…).")
            hint.setWordWrap(True)
            form.addRow("", hint)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText("Start")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(note)
        layout.addWidget(self.buttons)
        self.embedder_combo.currentIndexChanged.connect(lambda _i: self._on_choice())
        self.k_spin.valueChanged.connect(lambda _v: self._suggest())
        self.dim_combo.currentIndexChanged.connect(lambda _i: self._suggest())
        self.scaled_combo.currentIndexChanged.connect(lambda _i: self._suggest())
        self.column_edit.textChanged.connect(lambda _t: self._check())
        self._on_choice()
        self.setMinimumWidth(520)

    def _on_choice(self) -> None:
        kind, _model = self.embedder_combo.currentData()
        kmer = kind == "kmer"
        for w in (self.k_spin, self.dim_combo, self.k_label, self.dim_label):
            w.setVisible(kmer)
        sketch = kind == "sketch"
        for w in (self.scaled_combo, self.scaled_label):
            w.setVisible(sketch)
        # A sketch column answers containment and ANI when chosen; it is never the default embedding.
        self.default_check.setEnabled(not sketch)
        if sketch:
            self.default_check.setChecked(False)
        self._suggest()

    def _suggest(self) -> None:
        kind, model = self.embedder_combo.currentData()
        if kind == "kmer":
            # The default embedding is already vec_kmer: another k-mer embedding needs its own column.
            self.column_edit.setPlaceholderText("")
            self.column_edit.setText(f"vec_kmer_k{self.k_spin.value()}_{self.dim_combo.currentData()}")
        elif kind == "sketch":
            scaled = self.scaled_combo.currentData()
            self.column_edit.setPlaceholderText("")
            self.column_edit.setText("vec_sketch" if scaled == 100 else f"vec_sketch_s{scaled}")
        else:
            self.column_edit.setText("")
            self.column_edit.setPlaceholderText(f"automatic (named after {model})")
        self._check()

    def _check(self) -> None:
        column = self.column_edit.text().strip()
        problem = ""
        if column and (not column.startswith("vec_") or not column.replace("_", "").isalnum()):
            problem = "A column name is vec_ followed by letters, digits and '_'."
        elif column in self._columns:
            problem = f"The catalog already has {column} (or an interrupted run of it: resume it instead)."
        elif not column and self.embedder_combo.currentData()[0] in ("kmer", "sketch"):
            problem = "Name the new column."
        self.message.setText(problem)
        self.ok_button.setEnabled(not problem)

    def values(self) -> tuple[str, dict[str, Any], str | None, bool]:
        """``(embedder, params, column or None for automatic, make_default)``."""
        kind, model = self.embedder_combo.currentData()
        params: dict[str, Any] = {"model": model} if kind == "esm" else {
            "k": self.k_spin.value(), "dim": int(self.dim_combo.currentData())}
        if kind == "sketch":
            params = {"scaled": int(self.scaled_combo.currentData())}
        return kind, params, self.column_edit.text().strip() or None, self.default_check.isChecked()
