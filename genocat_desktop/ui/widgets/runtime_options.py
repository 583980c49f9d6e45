"""The ONNX Runtime options box of the Models page: threads, batch size, GPU, busy-waiting."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QCheckBox, QFormLayout, QGroupBox, QLabel, QSpinBox, QWidget

from genocat_desktop.ui.settings import settings

__all__ = ["RUNTIME_KEYS", "RuntimeOptionsBox"]

#: Runtime options kept in QSettings (key under ``models/``, engine option name, type).
RUNTIME_KEYS: tuple[tuple[str, type], ...] = (("threads", int), ("token_budget", int), ("use_gpu", bool),
                                              ("spin", bool))


class RuntimeOptionsBox(QGroupBox):
    """The runtime options as the user sets them; :attr:`edited` once they pause.

    The box only shows and stores the options (QSettings under ``models/``);
    the page applies them on the engine thread.
    """

    #: The options changed and the user paused editing (spin boxes change on every keystroke).
    edited = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Runtime (ONNX Runtime)", parent)
        form = QFormLayout(self)
        self.threads_spin = QSpinBox()
        self.threads_spin.setRange(0, 256)
        self.threads_spin.setSpecialValueText("automatic (one per core)")
        self.threads_spin.setToolTip("Threads one model call may use; 0 = one per CPU core available to GenoCat.\n"
                                     "Fewer leaves cores for other work on a shared machine.")
        self.budget_spin = QSpinBox()
        self.budget_spin.setRange(256, 65536)
        self.budget_spin.setSingleStep(512)
        self.budget_spin.setSuffix(" tokens")
        self.budget_spin.setGroupSeparatorShown(True)
        self.budget_spin.setToolTip("Most tokens (sequences × padded length) in one model call; larger batches "
                                    "amortise overhead but need more memory")
        # Short labels, the detail in tooltips: a long check box text set the Models tab's (and so the
        # window's) minimum width beyond a 1024-px screen.
        self.gpu_check = QCheckBox("Use a GPU if available")
        self.gpu_check.setToolTip("When ONNX Runtime offers one (CUDA, DirectML, CoreML)")
        self.spin_check = QCheckBox("Busy-wait idle threads")
        self.spin_check.setToolTip("A few % faster on an idle machine, slower on a busy one")
        form.addRow("Threads", self.threads_spin)
        form.addRow("Batch size", self.budget_spin)
        form.addRow("", self.gpu_check)
        form.addRow("", self.spin_check)
        note = QLabel("Saved for next time and applied from the next batch on. These settings change speed "
                      "and memory, never the vectors.")
        note.setWordWrap(True)
        note.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        form.addRow(note)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(400)
        self._timer.timeout.connect(self.edited)
        self.threads_spin.valueChanged.connect(lambda _v: self._timer.start())
        self.budget_spin.valueChanged.connect(lambda _v: self._timer.start())
        self.gpu_check.toggled.connect(lambda _v: self._timer.start())
        self.spin_check.toggled.connect(lambda _v: self._timer.start())
        self.load()

    def load(self) -> None:
        """Show the saved options (the engine's defaults, ``RuntimeOptions()``, until some are saved)."""
        s = settings()
        self.threads_spin.setValue(int(str(s.value("models/threads", 0))))
        self.budget_spin.setValue(int(str(s.value("models/token_budget", 4096))))
        self.gpu_check.setChecked(str(s.value("models/use_gpu", "true")).lower() == "true")
        self.spin_check.setChecked(str(s.value("models/spin", "false")).lower() == "true")
        self._timer.stop()  # loading is not an edit

    def options(self) -> dict[str, Any]:
        """The options as shown (engine ``RuntimeOptions`` fields)."""
        return {"threads": self.threads_spin.value(), "token_budget": self.budget_spin.value(),
                "use_gpu": self.gpu_check.isChecked(), "spin": self.spin_check.isChecked()}

    def save(self) -> dict[str, Any]:
        """Store the options shown in QSettings (an edit waiting for the pause is taken now) and return them."""
        self._timer.stop()
        opts = self.options()
        s = settings()
        for key, value in opts.items():
            s.setValue(f"models/{key}", value)
        return opts

    def pending(self) -> bool:
        """Whether an edit waits for the user's pause."""
        return self._timer.isActive()

    @staticmethod
    def has_saved() -> bool:
        """Whether options were saved by an earlier session."""
        return any(settings().contains(f"models/{key}") for key, _type in RUNTIME_KEYS)
