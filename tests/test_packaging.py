"""Packaging: the PyInstaller spec, the Linux desktop integration, and the frozen bundle itself.

* Static checks of packaging/ and the icons run everywhere.
* The install/uninstall scripts run on a stand-in bundle (two shell scripts)
  in a temporary HOME; where ``gio`` exists, double-clicking a FASTA file is
  reproduced with ``gio open`` and must start the launcher with the file.
* The frozen-bundle tests need ``dist/genocat`` (``make bundle``). They skip
  without it, unless ``GENOCAT_BUNDLE`` names the bundle (``make test`` sets
  it): then a missing bundle fails.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import wait_until

from genocat_desktop import __version__

ROOT = Path(__file__).resolve().parent.parent
PACKAGING = ROOT / "packaging"
LINUX = PACKAGING / "linux"
ICONS = ROOT / "genocat_desktop" / "resources" / "icons"
FASTA_SUFFIXES = (".fasta", ".fa", ".faa", ".fna", ".fasta.gz")
MIME_NS = "{http://www.freedesktop.org/standards/shared-mime-info}"
PNG_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def _desktop_entry(path: Path) -> dict[str, str]:
    entry: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            entry[key] = value
    return entry


def _mime_types() -> dict[str, list[str]]:
    root = ET.parse(LINUX / "genocat-fasta.xml").getroot()
    return {
        t.attrib["type"]: [g.attrib["pattern"] for g in t.findall(f"{MIME_NS}glob")]
        for t in root.findall(f"{MIME_NS}mime-type")
    }


# ---------------------------------------------------------------------------- static checks
def test_desktop_file_is_valid() -> None:
    tool = shutil.which("desktop-file-validate")
    if tool is None:
        pytest.skip("desktop-file-validate is not installed (Debian: desktop-file-utils; make system-deps)")
    proc = subprocess.run([tool, str(LINUX / "genocat.desktop")], capture_output=True, text=True)
    assert proc.returncode == 0 and not proc.stdout.strip(), proc.stdout + proc.stderr


def test_desktop_file_opens_fasta_files() -> None:
    entry = _desktop_entry(LINUX / "genocat.desktop")
    assert entry["Exec"].split()[0] == "genocat-desktop"
    assert "%F" in entry["Exec"], "the file manager passes the files with %F"
    assert entry["Icon"] == "genocat"
    assert set(entry["MimeType"].rstrip(";").split(";")) == set(_mime_types())


def test_mime_types_cover_the_fasta_suffixes() -> None:
    globs = [g for patterns in _mime_types().values() for g in patterns]
    for suffix in FASTA_SUFFIXES:
        assert f"*{suffix}" in globs
    assert "*.fasta.gz" in _mime_types()["application/x-compressed-fasta"]


def test_icons_svg_and_png_sizes() -> None:
    ET.parse(ICONS / "genocat.svg")  # well-formed
    for size in PNG_SIZES:
        data = (ICONS / f"genocat-{size}.png").read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        width, height = struct.unpack(">II", data[16:24])
        assert (width, height) == (size, size)


def test_spec_excludes_the_export_extra_and_tk() -> None:
    spec = (PACKAGING / "genocat.spec").read_text()
    excludes = spec.split("excludes = [", 1)[1].split("]", 1)[0]
    for module in ("torch", "transformers", "tkinter", "lancedb", "onnx", "hf_xet", "pydantic", "yaml"):
        assert f'"{module}"' in excludes
    assert 'version("genocat-desktop")' in spec, "the version comes from the package metadata"
    assert "console=False" in spec and "console=True" in spec


def test_spec_collects_parasail_and_its_shared_library() -> None:
    # parasail opens libparasail.so from its package folder with ctypes: the analysis cannot see it.
    spec = (PACKAGING / "genocat.spec").read_text()
    hidden = spec.split("hiddenimports = [", 1)[1].split("]", 1)[0]
    assert '"parasail"' in hidden
    assert 'parasail_binaries = collect_dynamic_libs("parasail")' in spec
    assert "binaries=sourmash_binaries + parasail_binaries" in spec
    assert '"parasail==' in (ROOT / "pyproject.toml").read_text()
    hooks = pytest.importorskip("PyInstaller.utils.hooks")
    assert any(Path(src).name.startswith("libparasail") and dest == "parasail"
               for src, dest in hooks.collect_dynamic_libs("parasail"))


def test_selftest_model_is_package_data() -> None:
    model = ROOT / "genocat_desktop" / "resources" / "selftest" / "tiny.onnx"
    assert 100 < model.stat().st_size < 10_000
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '"*.onnx"' in pyproject and '"*.svg"' in pyproject and '"*.png"' in pyproject


# ---------------------------------------------------------------------------- install scripts
def _home_env(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "GENOCAT_"))}
    env.update(
        HOME=str(home), XDG_DATA_HOME=str(home / ".local/share"), XDG_CONFIG_HOME=str(home / ".config"),
        XDG_DATA_DIRS="/usr/local/share:/usr/share", PATH=os.environ.get("PATH", "/usr/bin:/bin"),
    )
    env.pop("PREFIX", None)
    return env


@pytest.fixture
def fake_bundle(tmp_path: Path) -> Path:
    """A stand-in for dist/genocat: launchers that append their arguments to opened.txt."""
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    script = '#!/bin/sh\nprintf "%s\\n" "$@" >> "$(dirname "$(readlink -f "$0")")/opened.txt"\n'
    for name in ("genocat", "genocat-desktop"):
        (bundle / name).write_text(script)
        (bundle / name).chmod(0o755)
    return bundle


def test_install_and_uninstall_for_the_user(tmp_path: Path, fake_bundle: Path) -> None:
    env = _home_env(tmp_path)
    home = Path(env["HOME"])
    proc = subprocess.run(["bash", str(LINUX / "install.sh"), str(fake_bundle)], env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lib = home / ".local/lib/genocat"
    assert (lib / "genocat-desktop").is_file() and (lib / "uninstall.sh").is_file()
    for name in ("genocat", "genocat-desktop"):
        link = home / ".local/bin" / name
        assert link.is_symlink() and link.resolve() == (lib / name).resolve()
    desktop = home / ".local/share/applications/genocat.desktop"
    entry = _desktop_entry(desktop)
    assert entry["Exec"] == f'"{lib}/genocat-desktop" %F'
    assert entry["TryExec"] == f"{lib}/genocat-desktop"
    if shutil.which("desktop-file-validate"):
        assert subprocess.run(["desktop-file-validate", str(desktop)], capture_output=True).returncode == 0
    assert (home / ".local/share/mime/packages/genocat-fasta.xml").is_file()
    assert (home / ".local/share/icons/hicolor/scalable/apps/genocat.svg").is_file()
    assert (home / ".local/share/icons/hicolor/48x48/apps/genocat.png").is_file()
    if shutil.which("update-mime-database"):
        assert "text/x-fasta" in (home / ".local/share/mime/types").read_text()
    if shutil.which("xdg-mime"):
        assert "text/x-fasta=genocat.desktop" in (home / ".config/mimeapps.list").read_text()

    proc = subprocess.run(["bash", str(lib / "uninstall.sh")], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not lib.exists()
    assert not (home / ".local/bin/genocat").exists() and not (home / ".local/bin/genocat").is_symlink()
    assert not desktop.exists()
    assert not list((home / ".local/share/icons").rglob("genocat.*"))
    assert not (home / ".local/share/mime/packages/genocat-fasta.xml").exists()
    mimeapps = home / ".config/mimeapps.list"
    assert not mimeapps.exists() or "genocat" not in mimeapps.read_text()


def test_install_refuses_a_folder_without_a_bundle(tmp_path: Path) -> None:
    proc = subprocess.run(["bash", str(LINUX / "install.sh"), str(tmp_path)], env=_home_env(tmp_path),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "no GenoCat bundle" in proc.stderr


def test_double_click_on_a_fasta_file_starts_genocat(tmp_path: Path, fake_bundle: Path) -> None:
    """What the file manager does: look up the file's type and its default application, run its Exec line."""
    if not (shutil.which("gio") and shutil.which("update-mime-database") and shutil.which("xdg-mime")):
        pytest.skip("needs gio (libglib2.0-bin), update-mime-database (shared-mime-info) and xdg-mime (xdg-utils)")
    env = _home_env(tmp_path)
    subprocess.run(["bash", str(LINUX / "install.sh"), str(fake_bundle)], env=env, check=True, capture_output=True,
                   timeout=120)
    files = tmp_path / "files"
    files.mkdir()
    plain = files / "my proteins.fasta"
    plain.write_text(">a\nMKV\n")
    packed = files / "more.fasta.gz"
    packed.write_bytes(gzip.compress(b">b\nMKV\n"))
    for suffix in (".fa", ".faa", ".fna"):
        (files / f"x{suffix}").write_text(">c\nMKV\n")

    def content_type(path: Path) -> str:
        out = subprocess.run(["gio", "info", "-a", "standard::content-type", str(path)], env=env,
                             capture_output=True, text=True, check=True).stdout
        return re.search(r"standard::content-type: (\S+)", out).group(1)  # type: ignore[union-attr]

    assert content_type(plain) == "text/x-fasta"
    assert content_type(packed) == "application/x-compressed-fasta"
    for suffix in (".fa", ".faa", ".fna"):
        assert content_type(files / f"x{suffix}") == "text/x-fasta"

    opened = Path(env["HOME"]) / ".local/lib/genocat/opened.txt"
    for path in (plain, packed):
        subprocess.run(["gio", "open", str(path)], env=env, check=True, capture_output=True, timeout=60)
    wait_until(lambda: opened.exists() and len(opened.read_text().splitlines()) >= 2, 30)
    assert sorted(opened.read_text().splitlines()) == sorted([str(plain), str(packed)])


# ---------------------------------------------------------------------------- the frozen bundle
@pytest.fixture(scope="module")
def bundle() -> Path:
    """dist/genocat (or $GENOCAT_BUNDLE); skips if absent, fails if $GENOCAT_BUNDLE names a missing one."""
    named = os.environ.get("GENOCAT_BUNDLE")
    path = Path(named) if named else ROOT / "dist" / "genocat"
    if not path.is_absolute():
        path = ROOT / path
    if not (path / "genocat").is_file():
        if named:
            pytest.fail(f"GENOCAT_BUNDLE={named}: no bundle there (make bundle)")
        pytest.skip("no frozen bundle in dist/genocat (make bundle)")
    return path


@pytest.fixture
def frozen_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    env = _home_env(tmp_path)
    env["QT_QPA_PLATFORM"] = "offscreen"
    yield env


def _frozen(bundle: Path, exe: str, args: list[str], env: dict[str, str],
            timeout: int = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(bundle / exe), *args], env=env, capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_frozen_selftest(bundle: Path, frozen_env: dict[str, str]) -> None:
    proc = _frozen(bundle, "genocat", ["--selftest"], frozen_env)
    print(proc.stdout)  # step timings, in the CI log with -rA or on failure
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "(frozen bundle," in proc.stdout.splitlines()[0]
    assert proc.stdout.splitlines()[-1].startswith("self-test passed: 10 steps")
    assert "re-ranked by Smith-Waterman" in proc.stdout


def _expected_versions() -> dict[str, str]:
    """The versions ``--version`` must show: this environment's, from which the bundle was built."""
    import platform
    from importlib.metadata import version

    from genocat_desktop.engine.catalog.table import FORMAT

    return {"GenoCat": __version__, "Lance": version("pylance"), "Qt": f"PySide6 {version('PySide6_Essentials')}",
            "ONNX Runtime": version("onnxruntime"), "Python": platform.python_version(),
            "Catalog format": str(FORMAT)}


def _check_version_text(text: str) -> None:
    lines = text.strip().splitlines()
    assert lines[0] == f"GenoCat {__version__}"
    rows = {line.strip().split("  ")[0]: line.strip() for line in lines[1:]}
    for label, value in _expected_versions().items():
        if label != "GenoCat":
            assert value in rows[label], (label, text)
    assert "not installed" not in text and "0.0.0+unknown" not in text


def test_cli_version_lists_the_libraries_without_importing_qt_or_lance() -> None:
    code = ("import sys\nfrom genocat_desktop.cli.main import main\n"
            "try:\n    main(['--version'])\nexcept SystemExit as exc:\n    assert exc.code == 0, exc.code\n"
            "print('loaded:', [m for m in ('PySide6', 'lance', 'onnxruntime') if m in sys.modules])\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    text, loaded = proc.stdout.rsplit("loaded:", 1)
    _check_version_text(text)
    assert loaded.strip() == "[]"


def test_about_box_shows_the_versions(qtbot: Any, tmp_path: Path) -> None:
    """Help → About: the same versions as ``--version``, with the Qt library the window runs on."""
    pytest.importorskip("pytestqt")
    from PySide6.QtCore import QSettings, qVersion
    from PySide6.QtWidgets import QMessageBox

    from genocat_desktop.ui.main_window import MainWindow

    for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(fmt, QSettings.Scope.UserScope, str(tmp_path / "settings"))
    window = MainWindow(str(tmp_path / "catalog"), [])
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.catalog_opened, timeout=120_000):
        window.show()
    try:
        help_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Help")
        next(a for a in help_menu.actions() if a.text() == "&About GenoCat").trigger()
        qtbot.waitUntil(lambda: any(b.isVisible() for b in window.findChildren(QMessageBox)), timeout=10_000)
        box = next(b for b in window.findChildren(QMessageBox) if b.isVisible())
        text = box.text()
        assert f"GenoCat {__version__}" in text
        for label, value in _expected_versions().items():
            assert label in text and value.removeprefix("PySide6 ") in text, (label, text)
        assert f"{qVersion()} (PySide6 " in text, "the running Qt's version, beside PySide6's"
        box.close()
    finally:
        window.confirm = lambda title, text: True  # type: ignore[method-assign]
        window.close()
        assert not window.engine.running


@pytest.mark.slow
def test_frozen_version_and_help(bundle: Path, frozen_env: dict[str, str]) -> None:
    proc = _frozen(bundle, "genocat", ["--version"], frozen_env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    _check_version_text(proc.stdout)
    assert "--selftest" in _frozen(bundle, "genocat", ["--help"], frozen_env, timeout=120).stdout


@pytest.mark.slow
def test_frozen_launcher_imports_the_file_it_is_given(bundle: Path, frozen_env: dict[str, str],
                                                      tmp_path: Path) -> None:
    """``genocat-desktop FILE`` (the .desktop Exec line) shows the window and imports FILE."""
    fasta = tmp_path / "dropped proteins.faa"
    fasta.write_text(">p1 first\nMKVLAAGIVALLLAAGCSSHKETW\n>p2 second\nMSTNPKPQRKTKRNTNRRPQDVKFPGG\n")
    catalog = tmp_path / "catalog"
    proc = _frozen(bundle, "genocat-desktop", ["--print-startup-time", "--catalog", str(catalog), str(fasta)],
                   frozen_env)
    print(proc.stdout)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "startup: window shown after " in proc.stdout
    assert f"imported: {fasta}: 2 new sequence(s) from 2 record(s)" in proc.stdout
    info = _frozen(bundle, "genocat", ["--catalog", str(catalog), "info", "--json"], frozen_env)
    assert json.loads(info.stdout)["rows"] == 2


@pytest.mark.slow
def test_frozen_cli_search_and_export(bundle: Path, frozen_env: dict[str, str], tmp_path: Path) -> None:
    from genocat_desktop.resources import sample_fasta

    catalog = ["--catalog", str(tmp_path / "catalog")]
    proc = _frozen(bundle, "genocat", [*catalog, "import", str(sample_fasta())], frozen_env)
    assert proc.returncode == 0, proc.stderr
    hits = tmp_path / "hits.csv"
    proc = _frozen(bundle, "genocat", [*catalog, "search", "MKVLAAGIVALLLAAGCSSHKETW", "-k", "5", "--out", str(hits)],
                   frozen_env)
    assert proc.returncode == 0, proc.stderr
    assert len([ln for ln in hits.read_text().splitlines() if ln and not ln.startswith("#")]) == 6
    out = tmp_path / "all.fasta"
    proc = _frozen(bundle, "genocat", [*catalog, "export", str(out), "--where", "length > 100"], frozen_env)
    assert proc.returncode == 0, proc.stderr
    assert out.read_text().count(">") > 10


def test_frozen_bundle_contents(bundle: Path) -> None:
    internal = bundle / "_internal"
    for name in ("genocat", "genocat-desktop", "install.sh", "uninstall.sh", "share/genocat.desktop",
                 "share/genocat-fasta.xml", "share/genocat.svg", "share/genocat-48.png"):
        assert (bundle / name).exists(), name
    for absent in ("torch", "transformers", "tkinter", "_tkinter", "pytest", "faiss",
                   # lancedb's own copy of the Rust core (186 MB), and what only it or the export extra needs
                   "lancedb", "onnx", "hf_xet", "huggingface_hub", "pydantic_core", "yaml", "sympy", "safetensors",
                   # Lance's image helpers and pyarrow's test configuration would bring these; sourmash's
                   "PIL", "pillow.libs", "Cython", "scipy", "matplotlib"):
        assert not (internal / absent).exists(), f"{absent} must not be bundled"
    assert not list(internal.glob("PySide6/Qt/translations/*.qm")), "Qt's translations are dropped (English UI)"
    if sys.platform.startswith("linux"):
        launcher = bundle / "genocat-desktop"
        assert launcher.is_symlink() and os.readlink(launcher) == "genocat", "one executable, two names"
    assert not list(internal.glob("_tkinter*")) and not list(internal.glob("libtk*"))
    assert (internal / "genocat_desktop/resources/sample/families_small.faa").is_file()
    assert (internal / "genocat_desktop/resources/selftest/tiny.onnx").is_file()
    size = sum(p.stat().st_size for p in bundle.rglob("*") if p.is_file() and not p.is_symlink())
    print(f"bundle size: {size / 1e6:.0f} MB")
    # 575 MB when this limit was set, with sourmash, mappy and pyrodigal (869 MB before lancedb, the export
    # extra and the symbol tables went; ICU's data trimmed by packaging/trim_icu.py).
    assert size < 595_000_000, "the bundle grew past 595 MB: check what PyInstaller collected (make bundle-bench)"


@pytest.mark.slow
def test_frozen_bundle_installs_and_runs_from_the_menu_path(bundle: Path, tmp_path: Path) -> None:
    """The bundle's own install.sh: the copy in ~/.local/lib runs through the ~/.local/bin link."""
    env = _home_env(tmp_path)
    proc = subprocess.run(["bash", str(bundle / "install.sh")], env={**env, "GENOCAT_NO_DEFAULT": "1"},
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    home = Path(env["HOME"])
    version = subprocess.run([str(home / ".local/bin/genocat"), "--version"], env=env, capture_output=True,
                             text=True, timeout=120)
    assert version.stdout.splitlines()[0] == f"GenoCat {__version__}"
    subprocess.run(["bash", str(home / ".local/lib/genocat/uninstall.sh")], env=env, check=True,
                   capture_output=True, timeout=120)
    assert not (home / ".local/lib/genocat").exists()


def test_spec_lists_the_search_engines_compiled_loops() -> None:
    # Imported inside functions: listed so that the bundle keeps them whatever the import analysis sees.
    import re

    spec = (PACKAGING / "genocat.spec").read_text()
    hidden = spec.split("hiddenimports = [", 1)[1].split("]", 1)[0]
    built = re.findall(r'Extension\("(genocat_desktop\.engine\.search\.[\w.]+)"', (ROOT / "setup.py").read_text())
    assert set(built) == {"genocat_desktop.engine.search._seeds", "genocat_desktop.engine.search._composition"}
    assert all(f'"{name}"' in hidden for name in built)
