"""Release artifacts: packaging/release.sh (`make release`) and the .deb it builds.

* On a stand-in bundle (two shell scripts, a library file and the desktop files, as `make bundle`
  lays them out) the tarball and the .deb are built and checked with ``dpkg-deb`` (--field,
  --contents, --control, -x): names, control fields, Depends in step with
  packaging/check-clean-root.sh and README, file list and modes, md5sums, the launcher, and what
  the maintainer scripts run. A second or so; everywhere ``dpkg-deb`` exists.
* On the real bundle (``dist/genocat``; skipped without it unless ``GENOCAT_BUNDLE`` names it, as in
  tests/test_packaging.py) the .deb is built uncompressed and its contents checked; then, where the
  test runs as root with debootstrap and a Debian mirror, packaging/check-deb.sh installs it in a
  fresh minimal Debian 12 root, runs ``genocat --selftest``, removes it and checks nothing is left
  (about a minute here, most of it apt-get; it skips without root, debootstrap or the mirror).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import subprocess
import tarfile
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGING = ROOT / "packaging"
LINUX = PACKAGING / "linux"
ICONS = ROOT / "genocat_desktop" / "resources" / "icons"
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
PNG_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)

pytestmark = pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="dpkg-deb is not installed (Debian: dpkg)")


def runtime_packages() -> list[str]:
    text = (PACKAGING / "check-clean-root.sh").read_text()
    match = re.search(r"^RUNTIME_PACKAGES=\((.*)\)$", text, re.M)
    assert match, "check-clean-root.sh lost its RUNTIME_PACKAGES=(...) line"
    return match[1].split()


def release(bundle: Path, out: Path, **env: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        ["bash", str(PACKAGING / "release.sh"), str(bundle), str(out)],
        capture_output=True, text=True, timeout=300, env={**os.environ, **env},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def fields(deb: Path) -> dict[str, str]:
    text = subprocess.run(["dpkg-deb", "--field", str(deb)], capture_output=True, text=True, check=True).stdout
    out: dict[str, str] = {}
    for line in text.splitlines():
        if line and not line[0].isspace():
            key, _, value = line.partition(":")
            out[key] = value.strip()
    return out


def contents(deb: Path) -> dict[str, tuple[str, str, str]]:
    """path -> (mode string, owner/group, link target or '')."""
    text = subprocess.run(["dpkg-deb", "--contents", str(deb)], capture_output=True, text=True, check=True).stdout
    out = {}
    for line in text.splitlines():
        mode, owner, _size, _date, _time, rest = line.split(None, 5)
        path, _, target = rest.partition(" -> ")
        out[path.rstrip("/")] = (mode, owner, target)
    return out


@pytest.fixture
def stand_in(tmp_path: Path) -> Path:
    """A bundle laid out like `make bundle`'s dist/genocat/, with shell scripts for executables."""
    bundle = tmp_path / "dist" / "genocat"
    (bundle / "_internal").mkdir(parents=True)
    for exe in ("genocat", "genocat-desktop"):
        (bundle / exe).write_text("#!/bin/sh\necho stand-in\n")
        (bundle / exe).chmod(0o755)
    # A library whose symbol versions ask for glibc 2.31 (the Depends must say so).
    (bundle / "_internal" / "libstandin.so").write_bytes(b"\x7fELF\0GLIBC_2.2.5\0GLIBC_2.31\0GLIBC_2.17\0")
    for script in ("install.sh", "uninstall.sh"):
        shutil.copy2(LINUX / script, bundle / script)
    (bundle / "share").mkdir()
    for f in [LINUX / "genocat.desktop", LINUX / "genocat-fasta.xml", ICONS / "genocat.svg",
              *ICONS.glob("genocat-*.png")]:
        shutil.copy2(f, bundle / "share")
    return bundle


def test_release_builds_the_tarball_and_the_deb(stand_in: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    release(stand_in, out, DEB_COMPRESSION="gzip")
    assert sorted(p.name for p in out.iterdir()) == [
        f"genocat-{VERSION}-linux-x86_64.tar.gz", f"genocat_{VERSION}_amd64.deb"
    ], "release.sh leaves only the two artifacts"
    with tarfile.open(out / f"genocat-{VERSION}-linux-x86_64.tar.gz") as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert {"genocat/install.sh", "genocat/uninstall.sh", "genocat/genocat", "genocat/genocat-desktop",
            "genocat/share/genocat.desktop", "genocat/_internal/libstandin.so"} <= set(members)
    assert all(name == "genocat" or name.startswith("genocat/") for name in members)
    assert members["genocat/install.sh"].mode & 0o111 and members["genocat/genocat"].mode & 0o111
    assert {(m.uid, m.gid) for m in members.values()} == {(0, 0)}


def test_deb_control_fields(stand_in: Path, tmp_path: Path) -> None:
    release(stand_in, tmp_path, PARTS="deb", DEB_COMPRESSION="none")
    control = fields(tmp_path / f"genocat_{VERSION}_amd64.deb")
    assert control["Package"] == "genocat"
    assert control["Version"] == VERSION
    assert control["Architecture"] == "amd64"
    assert re.fullmatch(r".+ <[^@\s]+@[^@\s]+>", control["Maintainer"])
    assert control["Section"] == "science" and control["Priority"] == "optional"
    depends = [d.strip() for d in control["Depends"].split(",")]
    assert depends[0] == "libc6 (>= 2.31)", "libc6 at the newest GLIBC_ version the binaries ask for"
    assert depends[1:] == runtime_packages()
    readme = (ROOT / "README.md").read_text()
    assert "sudo apt-get install " + " ".join(runtime_packages()) in readme, "README lists the same packages"
    assert 0 < int(control["Installed-Size"]) < 1024, "KiB, of the stand-in's few files"
    assert 0 < len(control["Description"]) <= 80
    # Installing it needs no more than what the control file promises.
    assert "shared-mime-info" in control["Recommends"] and "desktop-file-utils" in control["Recommends"]


def test_deb_files_modes_and_checksums(stand_in: Path, tmp_path: Path) -> None:
    release(stand_in, tmp_path, PARTS="deb", DEB_COMPRESSION="none")
    deb = tmp_path / f"genocat_{VERSION}_amd64.deb"
    files = contents(deb)
    expected = {
        "./opt/genocat/genocat", "./opt/genocat/genocat-desktop", "./opt/genocat/_internal/libstandin.so",
        "./usr/bin/genocat", "./usr/bin/genocat-desktop", "./usr/share/applications/genocat.desktop",
        "./usr/share/mime/packages/genocat-fasta.xml", "./usr/share/icons/hicolor/scalable/apps/genocat.svg",
        "./usr/share/doc/genocat/copyright",
        *(f"./usr/share/icons/hicolor/{n}x{n}/apps/genocat.png" for n in PNG_SIZES),
    }
    regular = {p for p, (mode, _, _) in files.items() if mode[0] in "-l"}
    assert regular == expected, "nothing more (no install.sh, no share/ in /opt), nothing less"
    assert {owner for _, owner, _ in files.values()} == {"root/root"}
    assert files["./usr/bin/genocat"][2] == "/opt/genocat/genocat"
    assert files["./usr/bin/genocat-desktop"][2] == "/opt/genocat/genocat-desktop"
    assert files["./opt/genocat/genocat"][0] == "-rwxr-xr-x"
    assert all(mode[8] != "w" for mode, _, _ in files.values() if mode[0] != "l"), "nothing world-writable"
    assert all(files[p][0] == "-rw-r--r--" for p in expected if p.startswith("./usr/share/"))

    root = tmp_path / "x"
    subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    subprocess.run(["dpkg-deb", "--control", str(deb), str(tmp_path / "DEBIAN")], check=True)
    sums = (tmp_path / "DEBIAN" / "md5sums").read_text().splitlines()
    assert len(sums) == len([p for p in expected if not files[p][2]])
    for line in sums:
        digest, path = line.split(None, 1)
        assert hashlib.md5((root / path).read_bytes()).hexdigest() == digest, path
    for script in ("postinst", "postrm"):
        maintainer = tmp_path / "DEBIAN" / script
        assert maintainer.stat().st_mode & stat.S_IXUSR and maintainer.read_text().startswith("#!/bin/sh\n")
        assert "set -e" in maintainer.read_text()
        subprocess.run(["/bin/sh", "-n", str(maintainer)], check=True)

    desktop = (root / "usr/share/applications/genocat.desktop").read_text()
    assert "install.sh" not in desktop
    assert re.search(r"^Exec=genocat-desktop %F$", desktop, re.M), "runs the /usr/bin link from the PATH"
    tool = shutil.which("desktop-file-validate")
    if tool:
        proc = subprocess.run([tool, str(root / "usr/share/applications/genocat.desktop")],
                              capture_output=True, text=True)
        assert proc.returncode == 0 and not proc.stdout.strip(), proc.stdout


def _fake_tools(folder: Path, log: Path) -> None:
    folder.mkdir()
    for tool in ("update-desktop-database", "update-mime-database", "gtk-update-icon-cache"):
        (folder / tool).write_text(f'#!/bin/sh\necho "{tool} $*" >> "{log}"\n')
        (folder / tool).chmod(0o755)


@pytest.mark.parametrize(("script", "action"), [("postinst", "configure"), ("postrm", "remove"), ("postrm", "purge")])
def test_maintainer_scripts_refresh_the_desktop_caches(tmp_path: Path, script: str, action: str) -> None:
    log = tmp_path / "calls.log"
    _fake_tools(tmp_path / "bin", log)
    env = {"PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin"}
    proc = subprocess.run(["/bin/sh", str(PACKAGING / "deb" / script), action], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    calls = log.read_text().splitlines()
    assert "update-desktop-database -q /usr/share/applications" in calls
    assert "update-mime-database /usr/share/mime" in calls
    # Without the tools (a server without a desktop) the scripts still succeed and call nothing.
    log.unlink()
    bare = subprocess.run(["/bin/sh", str(PACKAGING / "deb" / script), action], env={"PATH": "/nonexistent"},
                          capture_output=True, text=True)
    assert bare.returncode == 0 and not log.exists(), bare.stderr
    # An upgrade's old postrm leaves the caches to the new postinst.
    if script == "postrm":
        subprocess.run(["/bin/sh", str(PACKAGING / "deb" / script), "upgrade"], env=env, check=True)
        assert not log.exists()


# ---------------------------------------------------------------------------- the real bundle
def _bundle() -> Path:
    named = os.environ.get("GENOCAT_BUNDLE")
    bundle = Path(named) if named else ROOT / "dist" / "genocat"
    if not (bundle / "genocat").exists():
        if named:
            pytest.fail(f"GENOCAT_BUNDLE={named} but there is no bundle there (make bundle)")
        pytest.skip("no dist/genocat (make bundle)")
    return bundle.resolve()


@pytest.fixture(scope="module")
def real_deb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The .deb of the real bundle, uncompressed (compressing ~900 MB would take minutes of CI)."""
    bundle = _bundle()
    out = tmp_path_factory.mktemp("release")
    release(bundle, out, PARTS="deb", DEB_COMPRESSION="none")
    return out / f"genocat_{VERSION}_amd64.deb"


def test_real_bundle_deb_holds_the_whole_bundle(real_deb: Path) -> None:
    bundle = _bundle()
    files = contents(real_deb)
    in_bundle = {
        "./opt/genocat/" + str(p.relative_to(bundle))
        for p in bundle.rglob("*")
        if p.is_file() and p.relative_to(bundle).parts[0] not in ("share", "install.sh", "uninstall.sh")
    }
    assert in_bundle <= set(files)
    assert files["./usr/bin/genocat"][2] == "/opt/genocat/genocat"
    control = fields(real_deb)
    assert re.fullmatch(r"libc6 \(>= 2\.\d+\)", control["Depends"].split(",")[0])
    size_kib = sum(p.stat().st_size for p in bundle.rglob("*") if p.is_file() and not p.is_symlink()) / 1024
    assert 0.9 * size_kib < int(control["Installed-Size"]) < 1.1 * size_kib


def test_real_deb_installs_self_tests_and_removes_cleanly_in_debian_12(real_deb: Path) -> None:
    if os.geteuid() != 0 or shutil.which("debootstrap") is None:
        pytest.skip("needs root and debootstrap (make check-deb on a release machine)")
    env = {**os.environ, "ROOTFS": "/var/tmp/genocat-deb-root-test", "GENOCAT_FRESH_ROOT": "1",
           "GENOCAT_REMOVE_ROOT": "1"}
    proc = subprocess.run(["bash", str(PACKAGING / "check-deb.sh"), str(real_deb)],
                          capture_output=True, text=True, timeout=900, env=env)
    if proc.returncode == 0 and "check-deb: SKIP:" in proc.stdout:
        pytest.skip(proc.stdout.strip().splitlines()[-1])
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "check-deb: PASS:" in proc.stdout
    assert "FAILED" not in proc.stdout + proc.stderr
