"""Entry point of the frozen app: one script behind both executables of the bundle.

``genocat-desktop`` (the launcher the .desktop file runs) starts the window
(``genocat_desktop.cli.main_gui``); ``genocat`` is the full command line
(``genocat_desktop.cli.main``). The executable's own name picks which, so the
two executables share one analysis and one set of libraries.
"""

import os
import sys

from genocat_desktop.cli import main, main_gui

if __name__ == "__main__":
    name = os.path.basename(sys.executable).lower()
    sys.exit(main_gui() if name.startswith("genocat-desktop") else main())
