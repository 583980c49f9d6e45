"""Several writers on one catalog: nothing lost, nothing stored twice, no traceback (issue 19, items 1-3).

The races are made deterministic inside one process first: a second ``Catalog`` object (another
writer) commits while the first is between its deduplication and its commit, from the first one's
progress callback. Then a stress test runs importing, editing and index-building processes at
once against a local catalog and against moto_server.
"""

from __future__ import annotations

import multiprocessing
import queue
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import MOTO, S3Server

from genocat_desktop.engine import Catalog, GenoCatError, Progress, add_field, auto_index, import_files, set_values
from genocat_desktop.engine.catalog import commits
from genocat_desktop.engine.catalog.commits import BUSY_MESSAGE, CatalogBusyError, retry_conflicts
from genocat_desktop.engine.ingest.records import sequence_hash
from genocat_desktop.engine.search.indexes import build_indexes, index_status

AA = np.frombuffer(b"ACDEFGHIKLMNPQRSTVWY", np.uint8)


def _pool(n: int, seed: int) -> list[str]:
    """``n`` distinct random proteins."""
    rng = np.random.default_rng(seed)
    out = dict.fromkeys(AA[rng.integers(0, 20, int(rng.integers(60, 160)))].tobytes().decode() for _ in range(n))
    return list(out)


def _write(path: Path, records: list[tuple[str, str]]) -> Path:
    path.write_text("".join(f">{ident}\n{seq}\n" for ident, seq in records))
    return path


def _hash(seq: str) -> str:
    return sequence_hash(seq.encode())


def _rows(cat: Catalog) -> dict[str, tuple[str, list[str]]]:
    """seq_hash -> (id, aliases); fails on a sequence stored twice."""
    table = Catalog.open(cat.location, create=False, storage_options=cat.storage_options).dataset().to_table(
        columns=["seq_hash", "id", "aliases"])
    hashes = table.column("seq_hash").to_pylist()
    assert len(hashes) == len(set(hashes)), f"{len(hashes) - len(set(hashes))} sequence(s) stored twice"
    return {h: (i, a or []) for h, i, a in zip(hashes, table.column("id").to_pylist(),
                                               table.column("aliases").to_pylist(), strict=True)}


def _on_phase(phase: str, action: Callable[[], object]) -> Callable[[Progress], None]:
    """A progress callback that runs ``action`` once, at the first report of ``phase``."""
    done: list[bool] = []

    def progress(p: Progress) -> None:
        if p.phase == phase and not done:
            done.append(True)
            action()

    return progress


def _once_when_importing(action: Callable[[], object]) -> Callable[[Progress], None]:
    """Runs ``action`` at the first report of an import's write pass (after its deduplication)."""
    return _on_phase("importing", action)


# ------------------------------------------------------------------------------ deterministic races
def test_overlapping_import_committed_meanwhile_is_not_stored_twice(tmp_path: Path) -> None:
    seqs = _pool(300, seed=1)
    a = _write(tmp_path / "a.fa", [(f"a{i}", s) for i, s in enumerate(seqs[:200])])
    b = _write(tmp_path / "b.fa", [(f"b{i}", s) for i, s in enumerate(seqs[100:], start=100)])
    first = Catalog.open(tmp_path / "c")
    other = Catalog.open(tmp_path / "c", create=False)

    def other_process_imports_b() -> None:
        assert import_files(other, [b]).imported == 200

    report = import_files(first, [a], progress=_once_when_importing(other_process_imports_b))
    assert report.files[0].ok, report.files[0].error
    rows = _rows(first)
    assert len(rows) == 300  # 100 only in a, 100 in both, 100 only in b
    for i, s in enumerate(seqs[:200]):
        ident, aliases = rows[_hash(s)]
        if i >= 100:  # b committed these first: a's identifiers became their aliases
            assert ident == f"b{i}" and f"a{i}" in aliases
        else:
            assert ident == f"a{i}"
    assert report.files[0].imported == 100 and report.files[0].aliases_added == 100


def test_disjoint_import_committed_meanwhile_keeps_the_written_rows(tmp_path: Path) -> None:
    seqs = _pool(200, seed=2)
    a = _write(tmp_path / "a.fa", [(f"a{i}", s) for i, s in enumerate(seqs[:100])])
    b = _write(tmp_path / "b.fa", [(f"b{i}", s) for i, s in enumerate(seqs[100:])])
    first = Catalog.open(tmp_path / "c")
    other = Catalog.open(tmp_path / "c", create=False)
    report = import_files(first, [a], progress=_once_when_importing(lambda: import_files(other, [b])))
    assert report.files[0].ok and report.files[0].imported == 100
    assert len(_rows(first)) == 200
    assert first.refresh() == 3  # created, b, a: one version each


def test_edit_committed_during_an_import_that_adds_aliases_is_kept(tmp_path: Path) -> None:
    seqs = _pool(150, seed=3)
    cat = Catalog.open(tmp_path / "c")
    import_files(cat, [_write(tmp_path / "base.fa", [(f"base{i}", s) for i, s in enumerate(seqs[:50])])])
    add_field(cat, "note", "text")
    # The new file repeats the 50 catalog sequences: their rows are rewritten to gain aliases.
    new = _write(tmp_path / "new.fa", [(f"n{i}", s) for i, s in enumerate(seqs)])
    editor = Catalog.open(tmp_path / "c", create=False)
    hashes = [_hash(s) for s in seqs[:50]]

    def colleague_edits() -> None:
        assert set_values(editor, "note", "checked", hashes=hashes).rows == 50

    report = import_files(cat, [new], progress=_once_when_importing(colleague_edits))
    assert report.files[0].ok, report.files[0].error  # was: "Retryable commit conflict ... Please retry"
    table = Catalog.open(tmp_path / "c", create=False).dataset().to_table(columns=["seq_hash", "note", "aliases"])
    notes = dict(zip(table.column("seq_hash").to_pylist(), table.column("note").to_pylist(), strict=True))
    aliases = dict(zip(table.column("seq_hash").to_pylist(), table.column("aliases").to_pylist(), strict=True))
    assert len(notes) == 150 == table.num_rows
    assert all(notes[h] == "checked" for h in hashes)  # the edit survived the rewrite of its rows
    assert all(f"n{i}" in aliases[h] for i, h in enumerate(hashes))


def test_edit_that_loses_to_an_import_is_recomputed(tmp_path: Path) -> None:
    seqs = _pool(120, seed=4)
    cat = Catalog.open(tmp_path / "c")
    import_files(cat, [_write(tmp_path / "base.fa", [(f"base{i}", s) for i, s in enumerate(seqs[:60])])])
    add_field(cat, "note", "text")
    importer = Catalog.open(tmp_path / "c", create=False)
    # The import rewrites every catalog row (each gains an alias) while the edit writes its values.
    again = _write(tmp_path / "again.fa", [(f"x{i}", s) for i, s in enumerate(seqs)])
    fired: list[bool] = []

    def import_meanwhile(p: Progress) -> None:
        if p.phase == "writing" and not fired:
            fired.append(True)
            assert import_files(importer, [again]).files[0].ok

    report = set_values(cat, "note", "seen", all_rows=True, progress=import_meanwhile)
    assert fired
    table = Catalog.open(tmp_path / "c", create=False).dataset().to_table(columns=["note", "aliases"])
    assert table.num_rows == 120
    # Recomputed on the latest version: the 60 imported meanwhile are edited too, none lost its alias.
    assert report.rows == 120 and set(table.column("note").to_pylist()) == {"seen"}
    assert sum(1 for a in table.column("aliases").to_pylist() if a) == 60


def test_bulk_ingest_that_loses_to_an_overlapping_import_saves_nothing(tmp_path: Path) -> None:
    from genocat_desktop.engine import ingest

    seqs = _pool(200, seed=7)
    a = _write(tmp_path / "a.fa", [(f"a{i}", s) for i, s in enumerate(seqs[:150])])
    b = _write(tmp_path / "b.fa", [(f"b{i}", s) for i, s in enumerate(seqs[100:], start=100)])
    cat = Catalog.open(tmp_path / "c")
    other = Catalog.open(tmp_path / "c", create=False)
    report = ingest(cat, [a], engine="local", workers=0,
                    progress=_on_phase("committing", lambda: import_files(other, [b])))
    assert not report.committed and report.error is not None and "\n" not in report.error
    assert "run the ingest again" in report.error
    assert len(_rows(cat)) == 100  # b only: nothing of a, nothing twice
    again = ingest(cat, [a], engine="local", workers=0)
    assert again.committed and len(_rows(cat)) == 200


def test_bulk_ingest_commits_after_an_edit_meanwhile(tmp_path: Path) -> None:
    from genocat_desktop.engine import ingest

    seqs = _pool(200, seed=8)
    cat = Catalog.open(tmp_path / "c")
    import_files(cat, [_write(tmp_path / "base.fa", [(f"base{i}", s) for i, s in enumerate(seqs[:100])])])
    add_field(cat, "note", "text")
    editor = Catalog.open(tmp_path / "c", create=False)
    hashes = [_hash(s) for s in seqs[:100]]
    # Half the file repeats catalog rows (aliases), half is new; the edit lands just before the commit.
    new = _write(tmp_path / "new.fa", [(f"n{i}", s) for i, s in enumerate(seqs[50:], start=50)])
    report = ingest(cat, [new], engine="local", workers=0,
                    progress=_on_phase("committing", lambda: set_values(editor, "note", "kept", hashes=hashes)))
    assert report.committed, report.error
    table = Catalog.open(tmp_path / "c", create=False).dataset().to_table(columns=["seq_hash", "note", "aliases"])
    notes = dict(zip(table.column("seq_hash").to_pylist(), table.column("note").to_pylist(), strict=True))
    aliases = dict(zip(table.column("seq_hash").to_pylist(), table.column("aliases").to_pylist(), strict=True))
    assert table.num_rows == 200 and all(notes[h] == "kept" for h in hashes)
    assert all(f"n{i}" in aliases[hashes[i]] for i in range(50, 100))


def test_retries_are_bounded_and_end_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from lance.commit import CommitConflictError

    monkeypatch.setattr(commits, "backoff_delay", lambda attempt, rng=None: 0.0)
    tries = []

    def always_loses() -> None:
        tries.append(1)
        raise CommitConflictError("Retryable commit conflict for version 7: This Update transaction was "
                                  "preempted by concurrent transaction Merge at version 7. Please retry.")

    with pytest.raises(CatalogBusyError) as info:
        retry_conflicts(always_loses)
    assert len(tries) == commits.TRIES and str(info.value) == BUSY_MESSAGE and "\n" not in str(info.value)
    calls = []

    def not_a_conflict() -> None:
        calls.append(1)
        raise OSError("disk full")

    with pytest.raises(OSError):
        retry_conflicts(not_a_conflict)
    assert len(calls) == 1


def test_backoff_grows_with_jitter_and_is_capped() -> None:
    import random

    rng = random.Random(5)
    first = [commits.backoff_delay(1, rng) for _ in range(50)]
    late = [commits.backoff_delay(30, rng) for _ in range(50)]
    assert all(commits.FIRST_DELAY / 2 <= d <= commits.FIRST_DELAY for d in first) and len(set(first)) > 1
    assert all(commits.MAX_DELAY / 2 <= d <= commits.MAX_DELAY for d in late)


def test_automatic_index_that_loses_to_another_build_is_not_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import lance
    from lance.commit import CommitConflictError

    seqs = _pool(400, seed=6)
    cat = Catalog.open(tmp_path / "c")
    import_files(cat, [_write(tmp_path / "a.fa", [(f"a{i}", s) for i, s in enumerate(seqs)])])
    version = cat.version
    monkeypatch.setattr(commits, "backoff_delay", lambda attempt, rng=None: 0.0)
    real_commit = lance.LanceDataset.commit
    lost = []

    def commit(base_uri: Any, operation: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(operation, lance.LanceOperation.CreateIndex):
            # Another process publishes its own build first, every time.
            lost.append(1)
            raise CommitConflictError(f"Retryable commit conflict for version {version + 1}: This CreateIndex "
                                      "transaction was preempted by concurrent transaction CreateIndex. Please retry.")
        return real_commit(base_uri, operation, *args, **kwargs)

    monkeypatch.setattr(lance.LanceDataset, "commit", staticmethod(commit))
    assert auto_index(cat, threshold=100) == "deferred"  # was: CatalogError "... CreateIndex preempted"
    assert len(lost) == commits.TRIES
    assert cat.refresh() == version and len(_rows(cat)) == 400  # the import's rows stay, nothing half-published


# ------------------------------------------------------------------------------ stress
STRESS_FILES = 4
EDITORS = 2
EDITS = 3


def _stress_data(tmp: Path) -> tuple[list[str], list[Path], dict[int, list[str]]]:
    """A base file, 4 overlapping import files, and the rows each editor edits."""
    seqs = _pool(2200, seed=11)
    rng = np.random.default_rng(12)
    base = [(f"base{i}", s) for i, s in enumerate(seqs[:400])]
    files = [_write(tmp / "base.fa", base)]
    for k in range(STRESS_FILES):
        # Two files repeat catalog rows (their commits rewrite aliases), two add only new rows (appends).
        low = 0 if k < 2 else len(base)
        pick = rng.choice(np.arange(low, len(seqs)), 900, replace=False)
        files.append(_write(tmp / f"in{k}.fa", [(f"f{k}_{int(i)}", seqs[int(i)]) for i in pick]))
    base_hashes = [_hash(s) for _, s in base]
    edited = {e: base_hashes[e * 100 : (e + 1) * 100] for e in range(EDITORS)}
    return seqs, files, edited


def _worker(role: str, location: str, opts: dict[str, str], arg: Any, start: Any, out: Any) -> None:
    """One process: wait for the others, then import a file, make edits or build the indexes."""
    try:
        cat = Catalog.open(location, create=False, storage_options=opts)
        start.wait(60)
        if role == "import":
            report = import_files(cat, [arg])
            failed = [f.error for f in report.files if not f.ok]
            out.put((role, "error", failed[0]) if failed else (role, "ok", report.files[0].imported))
        elif role == "edit":
            editor, hashes = arg
            for n in range(EDITS):
                set_values(cat, f"note{editor}", f"edit{n}", hashes=hashes)
            out.put((role, "ok", editor))
        else:
            from genocat_desktop.engine import VectorIndexParams

            build_indexes(cat, params=VectorIndexParams("IVF_RQ", 4, 2), isolate=False, calibration=False)
            out.put((role, "ok", None))
    except GenoCatError as exc:  # a clear message is an allowed outcome; a traceback is not
        out.put((role, "error", str(exc)))


def _run_stress(location: str, opts: dict[str, str], tmp: Path) -> list[tuple[str, str, Any]]:
    seqs, files, edited = _stress_data(tmp)
    cat = Catalog.open(location, storage_options=opts)
    assert import_files(cat, [files[0]]).files[0].ok
    for e in range(EDITORS):
        add_field(cat, f"note{e}", "text")
    # spawn, not fork: forking after lance is imported can hang (see the platform findings).
    ctx = multiprocessing.get_context("spawn")
    jobs: list[tuple[str, Any]] = [("import", str(f)) for f in files[1:]]
    jobs += [("edit", (e, edited[e])) for e in range(EDITORS)]
    jobs.append(("index", None))
    start, out = ctx.Barrier(len(jobs)), ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(role, location, opts, arg, start, out)) for role, arg in jobs]
    for p in procs:
        p.start()
    results = []
    try:
        for _ in procs:
            results.append(out.get(timeout=120))
    except queue.Empty:
        pytest.fail(f"a writer did not finish; results so far: {results}")
    finally:
        for p in procs:
            p.join(30)
            if p.is_alive():
                p.kill()
                p.join()
    assert [p.exitcode for p in procs] == [0] * len(procs)
    for _role, status, value in results:
        assert status == "ok" or (isinstance(value, str) and "\n" not in value and "Traceback" not in value), value
    assert all(status == "ok" for role, status, _ in results if role != "index"), results

    # Rows equal the unique sequences; every identifier is the row's id or one of its aliases.
    rows = _rows(cat)
    records = [(line[1:], next_line) for f in files for line, next_line in _pairs(f)]
    assert len(rows) == len({s for _, s in records}) == len(set(seqs) & {s for _, s in records})
    for ident, seq in records:
        row_id, aliases = rows[_hash(seq)]
        assert ident == row_id or ident in aliases, ident
    # Every edit is present (the last value each editor wrote).
    table = Catalog.open(location, create=False, storage_options=opts).dataset().to_table(
        columns=["seq_hash", *(f"note{e}" for e in range(EDITORS))])
    for e in range(EDITORS):
        notes = dict(zip(table.column("seq_hash").to_pylist(), table.column(f"note{e}").to_pylist(), strict=True))
        assert all(notes[h] == f"edit{EDITS - 1}" for h in edited[e]), f"editor {e} lost an edit"
    return results


def _pairs(path: Path) -> Iterator[tuple[str, str]]:
    lines = path.read_text().splitlines()
    return zip(lines[0::2], lines[1::2], strict=True)


def _leftovers(location: str, cat: Catalog) -> list[str]:
    """Files in the catalog's work folders, and data files no version references."""
    work = cat.work_folder("import")
    left = [str(p) for p in work.rglob("*") if p.is_file()] if work.exists() else []
    ds = cat.dataset()
    referenced: set[str] = set()
    for v in ds.versions():
        for frag in cat.dataset(int(v["version"])).get_fragments():
            referenced.update(f.path for f in frag.metadata.files)
    data = Path(location) / "sequences.lance" / "data"
    left += [p.name for p in data.iterdir() if p.name not in referenced]
    return left


@pytest.mark.slow
def test_stress_local(tmp_path: Path) -> None:
    location = str(tmp_path / "catalog")
    results = _run_stress(location, {}, tmp_path)
    cat = Catalog.open(location, create=False)
    assert _leftovers(location, cat) == []
    if ("index", "ok", None) in results:
        assert index_status(cat).vector(cat.default_vector) is not None


@pytest.mark.slow
@pytest.mark.skipif(not MOTO.exists(), reason="moto[server] is not installed")
@pytest.mark.usefixtures("isolated_aws")
def test_stress_s3(s3_server: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from genocat_desktop.engine import S3Settings, storage_options

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # the work folders of an S3 catalog
    location = f"s3://{s3_server.bucket()}/stress"
    settings = S3Settings(endpoint=s3_server.endpoint, region="us-east-1", allow_http=True)
    opts = dict(storage_options(location, settings, s3_server.credentials))
    _run_stress(location, opts, tmp_path)
    cache = tmp_path / "cache"
    left = [p for p in cache.rglob("*") if p.is_file()] if cache.exists() else []
    assert left == []
