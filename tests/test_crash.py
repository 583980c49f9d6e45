"""Crash leftovers: an import killed (SIGKILL) in the scan, the writes, the commit or the index build.

Each case seeds a catalog, runs ``genocat import B C`` in a child process that kills itself at one
point (the child patches the engine before running the CLI: nothing in the engine knows about it),
then lets the next writer in: ``genocat info``, the window's open job, or another ``genocat import``.
Checked: the catalog holds the old or the new state only; after the next writer, no data file or
index segment that no version references and no writer record are left; the indexes get built.
"""

from __future__ import annotations

import random
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from genocat_desktop.engine import Catalog, import_files, index_status
from genocat_desktop.engine.catalog.writers import INDEX_PENDING, WRITERS_DIR

#: The child: patch the point to die at, then run the CLI with the remaining arguments.
CHILD = r"""
import os, signal, sys

point = sys.argv[1]
# As for a catalog whose vectors the searcher does not hold in RAM: the automatic build includes the vector index.
from genocat_desktop.engine.search import index_policy

index_policy.held_in_memory = lambda catalog, column, rows: False


def die():
    os.kill(os.getpid(), signal.SIGKILL)


if point == "scan":  # while scanning the second file (the first is committed)
    from genocat_desktop.engine.ingest import importer

    real_scan, seen = importer.scan_file, []

    def scan_file(run, scan, ahead):
        seen.append(run.path)
        if len(seen) == 2:
            die()
        return real_scan(run, scan, ahead)

    importer.scan_file = scan_file
elif point == "write":  # after the first fragment of the first file is written, before its commit
    from genocat_desktop.engine.ingest.writing import FragmentWriter

    real_write = FragmentWriter._write_now

    def write_now(self, table):
        real_write(self, table)
        die()

    FragmentWriter._write_now = write_now
elif point in ("commit", "committed"):  # just before / just after the first file's commit
    from genocat_desktop.engine.catalog.table import Catalog

    real_commit = Catalog.commit

    def commit(self, *args, **kwargs):
        if point == "commit":
            die()
        version = real_commit(self, *args, **kwargs)
        die()
        return version

    Catalog.commit = commit
elif point == "index":  # the automatic index build: every segment written, none published
    from genocat_desktop.engine.search import indexes

    indexes._publish = lambda job: die()

from genocat_desktop.cli.main import main

sys.exit(main(sys.argv[2:]))
"""

AMINO = "ACDEFGHIKLMNPQRSTVWY"


def _fasta(path: Path, n: int, seed: int) -> Path:
    rnd = random.Random(seed)
    path.write_text("".join(f">{path.stem}_{i} synthetic\n{''.join(rnd.choices(AMINO, k=rnd.randint(60, 200)))}\n"
                            for i in range(n)))
    return path


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path, int]:
    """A catalog holding families_small.faa, and two new files B and C."""
    root = tmp_path_factory.mktemp("crash")
    cat = Catalog.open(root / "seed")
    assert not import_files(cat, [Path(__file__).parent / "data" / "families_small.faa"]).failed
    return root / "seed", _fasta(root / "b.faa", 300, 1), _fasta(root / "c.faa", 200, 2), cat.count()


def _kill_at(point: str, location: Path, files: list[Path], threshold: int) -> None:
    args = ["--catalog", str(location), "import", *map(str, files), "--auto-index-rows", str(threshold)]
    proc = subprocess.run([sys.executable, "-c", CHILD, point, *args], capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr


def _leftovers(location: Path) -> list[str]:
    """Data files and index segments no stored version references, and writer records."""
    cat = Catalog.open(location, create=False)
    ds = cat.dataset()
    data: set[str] = set()
    segments: set[str] = set()
    for v in ds.versions():
        old = cat.dataset(int(v["version"]))
        data.update(f.path for frag in old.get_fragments() for f in frag.metadata.files)
        segments.update(str(seg.uuid) for desc in old.describe_indices() for seg in desc.segments)
    table = Path(cat.uri)
    left = [p.name for p in (table / "data").glob("*") if p.name not in data]
    left += [p.name for p in (table / "_indices").glob("*") if p.name not in segments]
    return left + [p.name for p in (location / WRITERS_DIR).glob("*")]


@pytest.mark.parametrize(("point", "next_writer"), [
    ("scan", "import"), ("write", "info"), ("commit", "open"), ("committed", "import"), ("index", "import"),
])
def test_killed_import_leaves_old_or_new_state_and_the_next_writer_cleans_up(
    seeded: tuple[Path, Path, Path, int], tmp_path: Path, point: str, next_writer: str,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    from genocat_desktop.app.catalog import open_catalog_job
    from genocat_desktop.cli.main import EXIT_OK, main
    from genocat_desktop.engine import CancelToken, no_progress
    from genocat_desktop.engine.search import index_policy

    monkeypatch.setattr(index_policy, "held_in_memory", lambda catalog, column, rows: False)  # as in CHILD

    seed, b, c, before = seeded
    location = tmp_path / "cat"
    shutil.copytree(seed, location)
    threshold = before + 1  # the seed alone stays below it; with B the indexes are due

    _kill_at(point, location, [b, c], threshold)
    after_b, after_c = before + 300, before + 500
    expected = {"scan": after_b, "write": before, "commit": before, "committed": after_b, "index": after_c}[point]
    assert Catalog.open(location, create=False).count() == expected  # old or new state, nothing between
    if point in ("write", "commit", "index"):
        assert _leftovers(location), "the kill left nothing to collect: the test would prove nothing"

    if next_writer == "info":
        assert main(["--catalog", str(location), "info"]) == EXIT_OK
        assert "Removed 1 uncommitted file(s)" in capsys.readouterr().out
    elif next_writer == "open":
        session, summary = open_catalog_job(str(location))(no_progress, CancelToken())
        session.close()
        assert summary.notice.startswith("Removed ")
    if next_writer != "import":
        assert _leftovers(location) == []
    # The next import (of a file already in the catalog, or not) builds the indexes that are due.
    assert main(["--catalog", str(location), "import", str(b), "--auto-index-rows", str(threshold)]) == EXIT_OK
    cat = Catalog.open(location, create=False)
    assert cat.count() == max(expected, after_b)
    assert _leftovers(location) == []
    assert index_status(cat).vector() is not None
    assert not (location / INDEX_PENDING).exists()


def test_edits_that_write_files_hold_a_writer_record(tmp_path: Path) -> None:
    """A field's default values, edited values and a new embedding column are written before their
    commit: while they run, a cleanup by another process must see a live writer."""
    from genocat_desktop.engine import Catalog, add_embedding, add_field, import_files, set_values
    from genocat_desktop.engine.catalog.writers import live_writers

    catalog = Catalog.open(str(tmp_path / "catalog"), create=True)
    import_files(catalog, [Path(__file__).parent / "data" / "families_small.faa"])
    seen: dict[str, int] = {}

    def watch(purpose: str):
        def progress(_: object) -> None:
            seen[purpose] = max(seen.get(purpose, 0), len(live_writers(catalog, purpose)))

        return progress

    add_field(catalog, "assay", "text", default="none", progress=watch("field"))
    set_values(catalog, "assay", "high", all_rows=True, progress=watch("values"))
    add_embedding(catalog, "kmer", {"k": 3, "dim": 64}, column="vec_k3", progress=watch("embed"))
    assert seen == {"field": 1, "values": 1, "embed": 1}, seen
    assert live_writers(catalog) == []  # every record removed at the end
