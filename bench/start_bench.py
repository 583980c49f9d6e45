"""Start to the first shown window: the frozen bundle beside the source tree, median of several launches.

Standalone (not part of ``python -m bench``)::

    .venv/bin/python bench/start_bench.py [--bundle dist/genocat] [--launches 7]
    xvfb-run -a env QT_QPA_PLATFORM=xcb .venv/bin/python bench/start_bench.py    (a real X server)

Each launch is a new process started the way a user starts it: ``dist/genocat/genocat-desktop``
(frozen) or ``python -m genocat_desktop`` (source tree, the project's virtualenv), both with
``--print-startup-time`` on the same existing catalog (the sample proteins, made once), so the
window opens a real catalog as on a second day of use. The time is what the app prints: from the
kernel starting the process to the main window's first paint (``genocat_desktop.selftest
.print_startup_time``), and the process's CPU time until then. Launches alternate between the two
so that a change in the machine's load hits both alike. The page cache is warm (one launch of each
is run first and not counted); ``packaging/measure.py`` measures the page-cache-cold start.

Target: 1.5 s on an idle machine. The load average is printed with the result: on a shared
machine the wall time grows with it, the CPU time much less.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 1.5
LAUNCH_TIMEOUT_S = 300


def launch(command: list[str], catalog: Path, env: dict[str, str]) -> tuple[float, float]:
    """Start the app once with ``--print-startup-time``; return (wall seconds to first paint, CPU seconds).

    Parameters
    ----------
    command
        The app's command without arguments (the frozen launcher, or the interpreter and ``-m``).
    catalog
        The catalog folder to open.
    env
        The environment (Qt platform, a private ``XDG_CONFIG_HOME``).

    Returns
    -------
    tuple of float
        Seconds from process start to the window's first paint, and CPU seconds until then.
    """
    proc = subprocess.run([*command, "--print-startup-time", "--catalog", str(catalog)], env=env,
                          capture_output=True, text=True, timeout=LAUNCH_TIMEOUT_S)
    for line in proc.stdout.splitlines():
        if line.startswith("startup: window shown after "):
            wall = float(line.split("after ")[1].split(" s")[0])
            cpu = float(line.split("(CPU ")[1].split(" s")[0])
            return wall, cpu
    raise SystemExit(f"{command[0]}: no start time (exit {proc.returncode}):\n{proc.stdout}{proc.stderr}")


def environment(tmp: Path) -> dict[str, str]:
    """The launches' environment: offscreen Qt unless set, settings in a temporary folder."""
    env = dict(os.environ)
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    env["XDG_CONFIG_HOME"] = str(tmp / "config")
    return env


def make_catalog(path: Path, env: dict[str, str]) -> None:
    """The sample proteins imported into a new catalog at ``path`` (from the source tree)."""
    from genocat_desktop.resources import sample_fasta

    subprocess.run([sys.executable, "-m", "genocat_desktop", "--quiet", "--catalog", str(path), "import",
                    str(sample_fasta())], env=env, check=True, capture_output=True, timeout=LAUNCH_TIMEOUT_S)


def summary(name: str, runs: list[tuple[float, float]]) -> str:
    """One Markdown table row: median wall time, spread, median CPU time."""
    wall, cpu = [r[0] for r in runs], [r[1] for r in runs]
    return (f"| {name} | {statistics.median(wall):.2f} s | {min(wall):.2f}–{max(wall):.2f} s | "
            f"{statistics.median(cpu):.2f} s | {len(runs)} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, default=ROOT / "dist" / "genocat", help="the one-folder bundle")
    parser.add_argument("--launches", type=int, default=7, help="counted launches of each (default 7)")
    parser.add_argument("--no-source", action="store_true", help="the frozen bundle only")
    args = parser.parse_args(argv)
    frozen = args.bundle.resolve() / "genocat-desktop"
    if not frozen.exists():
        raise SystemExit(f"no bundle at {args.bundle}; run make bundle")
    commands = {"frozen bundle": [str(frozen)]}
    if not args.no_source:
        commands["source tree"] = [sys.executable, "-m", "genocat_desktop"]
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="genocat-start-") as tmp_name:
        tmp = Path(tmp_name)
        env = environment(tmp)
        make_catalog(tmp / "catalog", env)
        for command in commands.values():  # warm the page cache; not counted
            launch(command, tmp / "catalog", env)
        for _ in range(args.launches):
            for name, command in commands.items():
                runs[name].append(launch(command, tmp / "catalog", env))
    load_after = os.getloadavg()[0]
    print(f"Start to the first shown window ({env['QT_QPA_PLATFORM']}, warm page cache, existing catalog); "
          f"target {TARGET_S} s on an idle machine.")
    print()
    print("| app | median | range | CPU (median) | launches |")
    print("|---|---|---|---|---|")
    for name, result in runs.items():
        print(summary(name, result))
    print()
    print(f"Machine: {os.cpu_count()} CPUs, load average {load_before:.1f} before, {load_after:.1f} after.")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
