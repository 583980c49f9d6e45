"""The CLI never misleads or crashes on hostile input: Ctrl-C at start-up, an empty --catalog, escape sequences."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from genocat_desktop.cli.main import EXIT_CANCELLED, EXIT_OK, EXIT_USAGE, main

#: A header that would set the window title, turn the text red, clear the screen and reverse the line.
EVIL = "Delta \x1b]0;pwned\x07 \x1b[31mred\x1b[2J\u202e x"
EVIL_ID = "P9\x1b[31m"
EVIL_FILE = "evil\x1b[31m.faa"
SEQ = "MAHHHHHHVDDDDKMLLLLLLLLW"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# ---------------------------------------------------------------------------------- Ctrl-C at start-up
CHILD = (
    "import os, signal, sys\n"
    # Ctrl-C arrives the moment a given module is first imported: a point of main()'s start-up (or
    # of the command) reached by the code itself, not guessed with a clock.
    "class Interrupt:\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    "        if name == sys.argv[2]:\n"
    "            os.kill(os.getpid(), signal.SIGINT)\n"
    "        return None\n"
    "sys.meta_path.insert(0, Interrupt())\n"
    "from genocat_desktop.cli.main import main\n"
    "sys.exit(main(['--catalog', sys.argv[1], 'info']))\n"
)
#: Modules main() imports on its way, in order: parsing the arguments, the process settings, the
#: command's own imports (Lance last, while `info` runs); `app.about` is not on `info`'s way, so
#: there the command runs to its end.
INTERRUPT_AT = ["argparse", "genocat_desktop.cli.common", "genocat_desktop.cli.parser",
                "genocat_desktop.engine.core.process", "genocat_desktop.engine", "genocat_desktop.app.catalog",
                "lance", "genocat_desktop.app.about"]


@pytest.mark.parametrize("module", INTERRUPT_AT)
def test_ctrl_c_during_start_up_exits_130_without_traceback(tmp_path: Path, module: str) -> None:
    proc = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path / "catalog"), module],
                          capture_output=True, timeout=120)
    text = proc.stderr.decode(errors="replace")
    assert "Traceback" not in text and "KeyboardInterrupt" not in text, text
    if proc.returncode == EXIT_CANCELLED:
        assert text == "genocat: stopped\n"
    else:  # the module is not imported on the way of this command: it ran to its end
        assert proc.returncode == EXIT_OK and b"No catalog yet" in proc.stdout, (proc.returncode, text)


def test_importing_the_entry_point_loads_nothing_heavy() -> None:
    """main() installs its Ctrl-C handler first; what loads before it must be next to nothing."""
    code = ("import sys; import genocat_desktop.cli.main\n"
            "print([m for m in ('argparse', 'genocat_desktop.cli.common', 'genocat_desktop.engine', 'pyarrow') "
            "if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         timeout=120).stdout
    assert out.strip() == "[]"


# ---------------------------------------------------------------------------------- --catalog ""
@pytest.mark.parametrize("argv", [["--catalog", "", "info"], ["--catalog=", "versions"], ["-c", "  ", "info"]])
def test_empty_catalog_is_an_error(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                   tmp_path: Path, argv: list[str]) -> None:
    monkeypatch.setenv("GENOCAT_CATALOG", str(tmp_path / "default"))
    code, out, err = run(capsys, *argv)
    assert code == EXIT_USAGE and out == ""
    assert err == "genocat: error: --catalog is empty; give a catalog folder or s3:// URI\n"


# ---------------------------------------------------------------------------------- escape sequences
@pytest.fixture(scope="module")
def evil_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("evil")
    fasta = tmp / EVIL_FILE
    fasta.write_text(f">sp|P00004|D_HUMAN {EVIL} OS=Homo sapiens OX=9606 GN=delta PE=1 SV=2\n{SEQ}\n"
                     f">{EVIL_ID} plain {EVIL}\nMKVLAAGIVALLLAAGCSSAQQ\n")
    catalog = tmp / "catalog"
    assert main(["--quiet", "--catalog", str(catalog), "import", str(fasta)]) == EXIT_OK
    return catalog


def _assert_escaped(text: str) -> None:
    assert not any(c in text for c in "\x1b\x07\u202e"), repr(text)


@pytest.mark.parametrize("fmt", ["tsv", "table", "json"])
def test_search_output_shows_control_characters_escaped(evil_catalog: Path, capsys: pytest.CaptureFixture[str],
                                                       fmt: str) -> None:
    code, out, _ = run(capsys, "--catalog", str(evil_catalog), "search", SEQ, "--format", fmt, "--fast")
    assert code == EXIT_OK
    _assert_escaped(out)
    if fmt == "json":
        hits = json.loads(out)[0]["hits"]
        assert EVIL_ID in {h["id"] for h in hits}  # JSON escapes by itself and keeps the data
    else:
        assert "P9\\x1b[31m" in out
    if fmt == "tsv":
        assert all(line.count("\t") == 6 for line in out.splitlines())


def test_text_search_tsv_is_escaped(evil_catalog: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--catalog", str(evil_catalog), "search", "--text", "plain", "--format", "tsv")
    assert code == EXIT_OK and "\\x1b]0;pwned\\x07" in out and "\\u202e" in out
    _assert_escaped(out)


def test_info_versions_and_messages_are_escaped(evil_catalog: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["info"], ["versions"]):
        code, out, err = run(capsys, "--catalog", str(evil_catalog), *argv)
        assert code == EXIT_OK
        _assert_escaped(out + err)
    assert "evil\\x1b[31m.faa" in out  # the import's version names the file
    code, out, err = run(capsys, "--catalog", str(evil_catalog), "import", str(tmp_path / EVIL_FILE))
    assert code != EXIT_OK and "evil\\x1b[31m.faa" in err and err.count("\n") == 1
    _assert_escaped(out + err)


def test_files_written_with_out_keep_the_data(evil_catalog: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    out_file = tmp_path / "rows.csv"
    code, _, err = run(capsys, "--catalog", str(evil_catalog), "export", str(out_file))
    assert code == EXIT_OK
    _assert_escaped(err)
    with out_file.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(line for line in handle if not line.startswith("#")))
    assert EVIL_ID in {r["id"] for r in rows}
    assert any(EVIL in r["description"] for r in rows)


def test_startup_handler_is_only_for_start_up() -> None:
    """After start-up the previous SIGINT handler is back: the commands keep their own Ctrl-C handling."""
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(SystemExit):
        main(["--help"])
    assert signal.getsignal(signal.SIGINT) is before
