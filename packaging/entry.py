"""Entry point of the frozen app: one script behind both executables of the bundle.

``genocat-desktop`` (the launcher the .desktop file runs) starts the window
(``genocat_desktop.cli.main.main_gui``); ``genocat`` is the full command line
(``genocat_desktop.cli.main.main``). The name it was started under picks which:
``argv[0]``, not ``sys.executable``, because on Linux ``genocat-desktop`` is a
symlink to ``genocat`` and the bootloader resolves ``sys.executable`` through it
(on Windows and macOS they are two executables sharing one set of libraries).
"""

import multiprocessing
import os
import sys

if __name__ == "__main__":
    # First of all: the hit aligner runs in a child process started with "spawn", which in a frozen
    # app is this executable again with --multiprocessing-fork arguments; freeze_support() runs the
    # child's work and exits before any argument parsing (argparse would reject those arguments).
    multiprocessing.freeze_support()
    from genocat_desktop.cli.main import main, main_gui

    name = os.path.basename(sys.argv[0] or sys.executable).lower()
    sys.exit(main_gui() if name.startswith("genocat-desktop") else main())
