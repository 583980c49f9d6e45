"""Distributed ingest: same rows as a local import, one commit, failures and cancel leave no trace.

The local engine runs in this process (``workers=0``) or in ``spawn`` processes;
the Ray tests use one session-scoped local Ray (2 CPUs, small object store) and
are skipped when the ``ray`` extra is not installed. S3 tests run against a
``moto_server`` started here (skipped without ``moto[server]``).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import wait_until

from genocat_desktop.engine import CancelToken, Catalog, Progress, StorageError, import_files
from genocat_desktop.engine.ingest.distributed import (
    cleanup_orphans,
    ingest,
    plan_ingest,
    ray_available,
)
from genocat_desktop.engine.ingest.distributed.housekeeping import Lease

EXTRA = """>dupA first copy
MKVLAAGIVGLLLAAPSQA
>dupB same sequence again
MKVLAAGIVGLLLAAPSQA
>
MSTNPKPQRKTKRNTNRRPQDVKFPGG
>dupA reused id, another sequence
MKTAYIAKQRQISFVKSHFSRQ
>short nucleotide-like
ACGTACGTAC
>WP_000000001.1 from the 300 file, again
MKKRLKFFMIGFWLVFLVSGCAYRHYMGMHGPSIKLYPDIHQQVAHEDSDCLKCHHPDQNPEGTPTTHPDFTGCLKCHNGEV
"""


def _rows(catalog: Catalog) -> list[dict[str, Any]]:
    """Every row but its import time, in ``seq_hash`` order (rewritten rows move, so order is not compared)."""
    table = catalog.dataset().to_table().drop_columns(["imported_at"])
    return sorted(table.to_pylist(), key=lambda r: r["seq_hash"])


@pytest.fixture
def inputs(tmp_path: Path, shared_file: Callable[[str], Path], data_dir: Path) -> list[Path]:
    extra = tmp_path / "extra.faa"
    extra.write_text(EXTRA)
    return [
        shared_file("proteins/unlabeled/diamond_nr_300.faa"),
        extra,
        data_dir / "families_small.faa",
        shared_file("proteins/labeled/families_cap100.faa"),
    ]


def _reference(tmp_path: Path, inputs: list[Path], seed: Path | None = None) -> Catalog:
    ref = Catalog.open(tmp_path / f"ref-{uuid.uuid4().hex[:6]}")
    if seed is not None:
        import_files(ref, [seed])
    report = import_files(ref, inputs)
    assert not report.failed
    return ref


def test_plan_cuts_large_files_at_headers(tmp_path: Path, inputs: list[Path]) -> None:
    plan = plan_ingest(inputs, part_bytes=20_000)
    first = [p for p in plan.parts if p.file_index == 0]
    assert len(first) > 3
    assert first[0].start == 0 and first[-1].end == inputs[0].stat().st_size
    data = inputs[0].read_bytes()
    for a, b in itertools.pairwise(first):
        assert a.end == b.start and data[b.start : b.start + 1] == b">"
    assert plan.bytes == sum(p.stat().st_size for p in inputs)


def test_local_ingest_equals_a_local_import(tmp_path: Path, inputs: list[Path], data_dir: Path) -> None:
    """Parts of files, duplicates across parts and files, catalog rows gaining aliases: rows equal import_files'."""
    seed = data_dir / "families_small.faa"
    ref = _reference(tmp_path, inputs, seed)
    cat = Catalog.open(tmp_path / "dist")
    import_files(cat, [seed])
    before = cat.version
    seen: list[Progress] = []
    report = ingest(cat, inputs, engine="local", workers=0, part_bytes=20_000, progress=seen.append)
    assert report.committed and report.error is None, report.error
    assert report.parts > len(inputs)
    assert cat.version == before + 1  # one commit for everything
    assert _rows(cat) == _rows(ref)
    assert report.imported == cat.count() - Catalog.open(tmp_path / "dist").dataset(before).count_rows()
    assert report.aliases_added > 0
    extra = report.files[1]
    assert extra.duplicates_in_file == 1 and extra.already_in_catalog == 1
    assert any("named it 'extra.faa#3'" in str(i) for i in extra.issues)
    assert {p.phase for p in seen} >= {"checking", "writing", "done"}
    # Ingesting again adds nothing and makes no version.
    again = ingest(cat, inputs, engine="local", workers=0)
    assert again.committed and again.imported == 0 and cat.version == before + 1


def test_rejected_file_is_reported_and_the_others_ingested(tmp_path: Path, inputs: list[Path], edge_dir: Path) -> None:
    cat = Catalog.open(tmp_path / "dist")
    report = ingest(cat, [edge_dir / "26_fastq_not_fasta.fastq", inputs[1], edge_dir / "24_stop_in_middle_hmmer.fa"],
                    engine="local", workers=0)
    assert report.committed
    assert [f.ok for f in report.files] == [False, True, False]
    assert "FASTQ" in (report.files[0].error or "") and "no valid record" in (report.files[2].error or "")
    assert cat.count() == report.imported == 5


def test_cancel_commits_nothing_and_leaves_no_files(tmp_path: Path, inputs: list[Path]) -> None:
    cat = Catalog.open(tmp_path / "dist")
    version = cat.version
    token = CancelToken()

    def progress(p: Progress) -> None:
        if p.phase == "writing":
            token.cancel()

    report = ingest(cat, inputs, engine="local", workers=0, part_bytes=20_000, progress=progress, cancel=token)
    assert report.cancelled and not report.committed
    assert cat.refresh() == version and cat.count() == 0
    assert not list((Path(cat.uri) / "data").glob("*")), "uncommitted fragments must be deleted"
    assert not list((tmp_path / "dist" / "_genocat" / "leases").glob("*")), "the lease must be released"


def test_worker_crash_in_a_process_pool_changes_nothing(tmp_path: Path, inputs: list[Path]) -> None:
    cat = Catalog.open(tmp_path / "dist")
    version = cat.version
    report = ingest(cat, inputs, engine="local", workers=2, _fault={"step": "write", "part": 1})
    assert not report.committed and report.error
    assert "died" in report.error
    # A dead process breaks the whole pool: the crashed part is among those reported.
    assert any(inputs[1].name in p for p in report.failed_parts)
    assert cat.refresh() == version and cat.count() == 0


def test_cleanup_orphans_respects_age_and_leases(tmp_path: Path, inputs: list[Path]) -> None:
    cat = Catalog.open(tmp_path / "dist")
    rows = ingest(cat, inputs[:2], engine="local", workers=0).imported
    data = Path(cat.uri) / "data"
    kept = sorted(p.name for p in data.iterdir())
    orphan = data / "0000-orphan.lance"
    orphan.write_bytes(b"x" * 10)
    fresh = data / "0001-fresh.lance"
    fresh.write_bytes(b"y")
    old = time.time() - 7 * 3600
    os.utime(orphan, (old, old))
    lease = Lease(cat)
    lease.take()
    with pytest.raises(StorageError, match="may be running"):
        cleanup_orphans(cat)
    lease.release()
    dry = cleanup_orphans(cat, dry_run=True)
    assert dry.orphans == [orphan.name] and dry.kept_recent == 1 and orphan.exists()
    done = cleanup_orphans(cat)
    assert done.deleted == 1 and not orphan.exists() and fresh.exists()
    assert sorted(p.name for p in data.iterdir()) == sorted([*kept, fresh.name])
    assert Catalog.open(cat.location, create=False).dataset().to_table().num_rows == rows


# ----------------------------------------------------------------------------- Ray
needs_ray = pytest.mark.skipif(not ray_available(), reason="the ray extra is not installed")


@needs_ray
def test_ray_ingest_equals_a_local_import(ray_cluster: None, tmp_path: Path, inputs: list[Path]) -> None:
    ref = _reference(tmp_path, inputs)
    cat = Catalog.open(tmp_path / "dist")
    report = ingest(cat, inputs, engine="ray", part_bytes=20_000)
    assert report.committed and report.engine == "ray" and report.workers == 2, report.error
    assert cat.version == 2
    assert _rows(cat) == _rows(ref)


@needs_ray
def test_ray_worker_crash_without_retries_changes_nothing(ray_cluster: None, tmp_path: Path,
                                                          inputs: list[Path]) -> None:
    cat = Catalog.open(tmp_path / "dist")
    version = cat.version
    report = ingest(cat, inputs, engine="ray", retries=0, part_bytes=40_000, _fault={"step": "write", "part": 2})
    assert not report.committed and report.error and "died" in report.error
    assert report.failed_parts and inputs[0].name in report.failed_parts[0]
    assert cat.refresh() == version and cat.count() == 0
    # The crashed task had written its fragment: an orphan, which cleanup removes once no ingest runs.
    assert list((Path(cat.uri) / "data").iterdir())
    assert cleanup_orphans(cat, min_age=timedelta(0)).deleted >= 1
    assert not list((Path(cat.uri) / "data").iterdir())


def test_ray_workers_import_lance_before_their_first_task(monkeypatch: pytest.MonkeyPatch) -> None:
    # A task cancelled while it imported Lance left the package half-initialised in its worker,
    # and every later task there failed ("module 'lance.dataset' has no attribute 'LanceDataset'").
    # The Ray the engine starts imports Lance in a setup hook, before any task can be cancelled.
    import types

    from genocat_desktop.engine.ingest.distributed import runners as distributed

    calls: list[dict[str, Any]] = []
    fake = types.SimpleNamespace(is_initialized=lambda: False, init=lambda **kw: calls.append(kw),
                                 cluster_resources=lambda: {"CPU": 2}, shutdown=lambda: None)
    monkeypatch.setitem(sys.modules, "ray", fake)
    for address in (None, "ray://head:10001"):
        distributed._RayRunner(address, 2, 0)
    assert [kw["runtime_env"] for kw in calls] == [distributed.RAY_RUNTIME_ENV] * 2
    module, _, name = distributed.RAY_RUNTIME_ENV["worker_process_setup_hook"].rpartition(".")
    # In a fresh interpreter, as in a new worker: after the hook, Lance is whole.
    code = (f"import sys; from {module} import {name} as hook; hook(); "
            "assert hasattr(sys.modules['lance.dataset'], 'LanceDataset') and 'lance.fragment' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


@needs_ray
def test_ray_retry_gives_no_duplicates(ray_cluster: None, tmp_path: Path, inputs: list[Path]) -> None:
    ref = _reference(tmp_path, inputs)
    cat = Catalog.open(tmp_path / "dist")
    marker = tmp_path / "crashed-once"
    report = ingest(cat, inputs, engine="ray", retries=1, part_bytes=40_000,
                    _fault={"step": "write", "part": 2, "once": str(marker)})
    assert marker.exists(), "the fault did not fire"
    assert report.committed, report.error
    assert _rows(cat) == _rows(ref)
    assert cat.count() == ref.count()


# ----------------------------------------------------------------------------- S3 (moto_server)
MOTO = Path(sys.executable).with_name("moto_server")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A moto S3 server on loopback; yields Lance storage options. Nothing can reach real AWS."""
    if not MOTO.exists():
        pytest.skip("moto[server] is not installed")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    log = (tmp_path_factory.mktemp("moto") / "moto.log").open("wb")
    proc = subprocess.Popen([str(MOTO), "-H", "127.0.0.1", "-p", str(port)], env=env, stdout=log, stderr=log)
    def accepts() -> bool:
        with contextlib.suppress(OSError):
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return True
        return False

    wait_until(accepts, 20)
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("AWS_")}
    # Nothing may fall back to a real profile (as tests/test_s3.py does).
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.environ["AWS_CONFIG_FILE"] = os.devnull
    try:
        yield {
            "aws_access_key_id": "test", "aws_secret_access_key": "test", "aws_region": "us-east-1",
            "aws_endpoint": f"http://127.0.0.1:{port}", "allow_http": "true",
        }
    finally:
        for key in ("AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE"):
            os.environ.pop(key, None)
        os.environ.update(saved)
        proc.terminate()
        proc.wait(10)
        log.close()


def _bucket(options: dict[str, str]) -> str:
    import boto3

    name = f"lab-{uuid.uuid4().hex[:10]}"
    boto3.client("s3", endpoint_url=options["aws_endpoint"], region_name="us-east-1", aws_access_key_id="test",
                 aws_secret_access_key="test").create_bucket(Bucket=name)
    return name


def test_local_ingest_into_s3(s3: dict[str, str], tmp_path: Path, inputs: list[Path]) -> None:
    cat = Catalog.open(f"s3://{_bucket(s3)}/lab", storage_options=s3)
    report = ingest(cat, inputs, engine="local", workers=0, part_bytes=20_000)
    assert report.committed, report.error
    assert _rows(cat) == _rows(_reference(tmp_path, inputs))


@needs_ray
def test_ray_ingest_into_s3_and_crash_leaves_it_unchanged(ray_cluster: None, s3: dict[str, str], tmp_path: Path,
                                                          inputs: list[Path]) -> None:
    location = f"s3://{_bucket(s3)}/lab"
    cat = Catalog.open(location, storage_options=s3)
    crashed = ingest(cat, inputs, engine="ray", retries=0, _fault={"step": "write", "part": 1})
    assert not crashed.committed and cat.refresh() == 1 and cat.count() == 0
    report = ingest(cat, inputs, engine="ray", part_bytes=40_000)
    assert report.committed, report.error
    reopened = Catalog.open(location, storage_options=s3, create=False)
    assert reopened.version == 2
    assert _rows(reopened) == _rows(_reference(tmp_path, inputs))
    cleaned = cleanup_orphans(reopened, min_age=timedelta(0))
    assert cleaned.deleted >= 1  # the crashed attempt's file
    assert reopened.count() == report.imported


# ----------------------------------------------------------------------------- CLI
def test_cli_ingest_json_partial_and_cleanup(tmp_path: Path, inputs: list[Path], edge_dir: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from genocat_desktop.cli.main import EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, main

    location = str(tmp_path / "cat")
    code = main(["--catalog", location, "ingest", str(inputs[1]), str(edge_dir / "26_fastq_not_fasta.fastq"),
                 "--workers", "0", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == EXIT_PARTIAL
    assert out["committed"] and out["imported"] == 5 and out["version"] == 2 and out["engine"] == "inline"
    assert out["files"][1]["error"] and "FASTQ" in out["files"][1]["error"]

    code = main(["--catalog", location, "ingest", str(inputs[0]), "--workers", "0"])
    text = capsys.readouterr().out
    rows = Catalog.open(location, create=False).count()
    assert code == EXIT_OK and f"{rows:,} sequences, version 3" in text and rows > 5

    code = main(["--catalog", location, "ingest", "--cleanup", "--dry-run"])
    assert code == EXIT_OK and "would delete 0 orphaned" in capsys.readouterr().out
    assert main(["--catalog", location, "ingest"]) == EXIT_USAGE


# ----------------------------------------------------------------------------- inputs read from S3
def _upload_inputs(options: dict[str, str], inputs: list[Path]) -> tuple[str, list[Path]]:
    """Put the inputs (and a gzip copy of one, and a file that is not FASTA) under s3://bucket/in/.

    Returns the prefix and the local files in the order the ingest lists the objects (by key).
    """
    import gzip

    import boto3

    bucket = _bucket(options)
    client = boto3.client("s3", endpoint_url=options["aws_endpoint"], region_name="us-east-1",
                          aws_access_key_id="test", aws_secret_access_key="test")
    gz = inputs[1].with_name("extra_copy.faa.gz")
    gz.write_bytes(gzip.compress(inputs[1].read_bytes()))
    files = sorted([*inputs, gz], key=lambda p: p.name)
    for path in files:
        client.put_object(Bucket=bucket, Key=f"in/{path.name}", Body=path.read_bytes())
    client.put_object(Bucket=bucket, Key="in/README.txt", Body=b"not a FASTA file: skipped by the listing\n")
    return f"s3://{bucket}/in/", files


def test_plan_of_an_s3_prefix_cuts_plain_objects_with_ranged_reads(s3: dict[str, str], inputs: list[Path]) -> None:
    prefix, files = _upload_inputs(s3, inputs)
    plan = plan_ingest([prefix], part_bytes=20_000, input_options=s3)
    assert plan.files == [prefix + p.name for p in files]
    assert not plan.errors
    big = [p for p in plan.parts if p.path.endswith("diamond_nr_300.faa")]
    data = inputs[0].read_bytes()
    assert len(big) > 3 and big[0].start == 0 and big[-1].end == len(data)
    assert all(data[p.start:p.start + 1] == b">" for p in big)
    gz = [p for p in plan.parts if p.path.endswith(".gz")]
    assert len(gz) == 1 and gz[0].end is None and gz[0].size == files[2].stat().st_size
    assert plan.bytes == sum(p.stat().st_size for p in files)


def test_local_ingest_from_an_s3_prefix_equals_ingesting_the_files(s3: dict[str, str], tmp_path: Path,
                                                                   inputs: list[Path]) -> None:
    prefix, files = _upload_inputs(s3, inputs)
    ref = Catalog.open(tmp_path / "ref")
    assert ingest(ref, files, engine="local", workers=0).committed
    cat = Catalog.open(tmp_path / "dist")
    report = ingest(cat, [prefix], engine="local", workers=0, part_bytes=20_000, input_options=s3)
    assert report.committed, report.error
    assert report.parts > len(files)  # the large plain object was read in byte ranges
    assert [Path(f.path).name for f in report.files] == [p.name for p in files]
    assert _rows(cat) == _rows(ref)
    assert report.files[2].duplicates_in_file == 1 and report.files[2].already_in_catalog > 0  # the gzip copy


def test_missing_prefix_is_an_input_error(s3: dict[str, str], tmp_path: Path) -> None:
    from genocat_desktop.engine import InputError

    cat = Catalog.open(tmp_path / "dist")
    with pytest.raises(InputError, match="no FASTA objects"):
        ingest(cat, [f"s3://{_bucket(s3)}/nothing/"], engine="local", workers=0, input_options=s3)


@needs_ray
def test_ray_ingest_from_s3_into_s3_equals_ingesting_the_files(ray_cluster: None, s3: dict[str, str], tmp_path: Path,
                                                               inputs: list[Path]) -> None:
    prefix, files = _upload_inputs(s3, inputs)
    ref = Catalog.open(tmp_path / "ref")
    assert ingest(ref, files, engine="local", workers=0).committed
    cat = Catalog.open(f"s3://{_bucket(s3)}/lab", storage_options=s3)
    # No input options: an S3 catalog lends its own (same store, same keys) to the inputs.
    report = ingest(cat, [prefix], engine="ray", part_bytes=40_000)
    assert report.committed and report.engine == "ray", report.error
    assert _rows(cat) == _rows(ref)


# ----------------------------------------------------------------------------- hash-partitioned deduplication
@pytest.mark.parametrize("partitions", [1, 5])
def test_partitioned_dedup_equals_the_driver_pass(tmp_path: Path, inputs: list[Path], data_dir: Path,
                                                  edge_dir: Path, partitions: int) -> None:
    """Duplicates in a file, across files and against the catalog, reused identifiers, unnamed records,
    a rejected file: the same rows, aliases, counts and warnings as the driver-side pass."""
    seed = data_dir / "families_small.faa"
    files = [*inputs, edge_dir / "26_fastq_not_fasta.fastq"]
    out = {}
    for mode in ("driver", "partitioned"):
        cat = Catalog.open(tmp_path / mode)
        import_files(cat, [seed])
        report = ingest(cat, files, engine="local", workers=0, part_bytes=20_000, dedup=mode, partitions=partitions)
        assert report.committed, report.error
        out[mode] = (cat, report)
    (driver, a), (parted, b) = out["driver"], out["partitioned"]
    assert _rows(parted) == _rows(driver)
    assert b.imported == a.imported > 0 and b.aliases_added == a.aliases_added > 0
    assert b.to_dict()["files"] == a.to_dict()["files"]
    assert any("different sequences" in str(i) for i in b.files[1].issues)
    spill = tmp_path / "partitioned" / "_genocat" / "spill"
    assert not spill.exists() or not any(spill.iterdir()), "the spill files must be deleted"


def test_partitioned_dedup_spills_to_an_s3_catalog(s3: dict[str, str], tmp_path: Path, inputs: list[Path]) -> None:
    import boto3

    bucket = _bucket(s3)
    cat = Catalog.open(f"s3://{bucket}/lab", storage_options=s3)
    report = ingest(cat, inputs, engine="local", workers=0, part_bytes=20_000, dedup="partitioned", partitions=3)
    assert report.committed, report.error
    assert _rows(cat) == _rows(_reference(tmp_path, inputs))
    client = boto3.client("s3", endpoint_url=s3["aws_endpoint"], region_name="us-east-1",
                          aws_access_key_id="test", aws_secret_access_key="test")
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert any("/data/" in k for k in keys)
    spilled = [k for k in keys if "/_genocat/spill/" in k and not k.endswith("/_genocat/spill/")]  # folder marker
    assert not spilled, "the spill objects must be deleted"


def test_map_outputs_are_deleted_once_partitions_are_decided(tmp_path: Path, inputs: list[Path],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from genocat_desktop.engine.ingest.distributed import dedup as hashdedup

    monkeypatch.setattr(hashdedup.SpillArea, "remove", lambda self: None)  # keep what the write pass saw
    cat = Catalog.open(tmp_path / "dist")
    assert ingest(cat, inputs, engine="local", workers=0, dedup="partitioned", partitions=2).committed
    (area,) = (tmp_path / "dist" / "_genocat" / "spill").iterdir()
    assert sorted(p.name for p in area.iterdir()) == ["a", "d"]  # decisions and catalog aliases only


def test_cleanup_removes_spill_folders_of_dead_ingests(tmp_path: Path, inputs: list[Path]) -> None:
    cat = Catalog.open(tmp_path / "dist")
    ingest(cat, inputs[1:2], engine="local", workers=0, dedup="partitioned", partitions=2)
    spill = tmp_path / "dist" / "_genocat" / "spill"
    dead, fresh = spill / "dead", spill / "fresh"
    for folder in (dead, fresh):
        (folder / "h" / "p00000").mkdir(parents=True)
        (folder / "h" / "p00000" / "s0000000.arrow").write_bytes(b"x")
    old = time.time() - 7 * 3600
    os.utime(dead, (old, old))
    report = cleanup_orphans(cat)
    assert report.orphans == ["spill/dead/"] and report.kept_recent == 1
    assert not dead.exists() and fresh.exists()


@needs_ray
def test_ray_partitioned_dedup_equals_a_local_import(ray_cluster: None, tmp_path: Path, inputs: list[Path]) -> None:
    ref = _reference(tmp_path, inputs)
    cat = Catalog.open(tmp_path / "dist")
    report = ingest(cat, inputs, engine="ray", part_bytes=40_000, dedup="partitioned", partitions=3)
    assert report.committed and report.engine == "ray", report.error
    assert _rows(cat) == _rows(ref)


def test_cli_ingest_of_an_s3_prefix_into_a_local_catalog(s3: dict[str, str], tmp_path: Path, inputs: list[Path],
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """The S3 options of the command line (--endpoint, --allow-http) and the environment's keys reach the inputs."""
    import json

    from genocat_desktop.cli.main import EXIT_OK, main

    prefix, files = _upload_inputs(s3, inputs)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    location = str(tmp_path / "cat")
    code = main(["--catalog", location, "--endpoint", s3["aws_endpoint"], "--allow-http", "ingest", prefix,
                 "--workers", "0", "--dedup", "partitioned", "--partitions", "2", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == EXIT_OK, out
    assert [Path(f["path"]).name for f in out["files"]] == [p.name for p in files]
    ref = Catalog.open(tmp_path / "ref")
    assert ingest(ref, files, engine="local", workers=0).committed
    assert _rows(Catalog.open(location, create=False)) == _rows(ref)


# ----------------------------------------------------------------------------- gene calling
@pytest.fixture
def dna_inputs(tmp_path: Path, shared_file: Callable[[str], Path]) -> list[Path]:
    """A contig (gzip: one part) and 100 CDS records (plain: cut into parts), and a protein file."""
    return [shared_file("dna/MIIJ01000039.fna.gz"), shared_file("dna/CP040672.1.genes_100.fna"),
            shared_file("proteins/unlabeled/diamond_nr_300.faa")]


def test_ingest_with_gene_calling_equals_an_import_with_it(tmp_path: Path, dna_inputs: list[Path],
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from genocat_desktop.cli.main import EXIT_OK, main

    ref = Catalog.open(tmp_path / "ref")
    expected = import_files(ref, dna_inputs, call_genes=True)
    cat = Catalog.open(tmp_path / "dist")
    report = ingest(cat, dna_inputs, engine="local", workers=0, part_bytes=20_000, call_genes=True)
    assert report.committed and report.parts > len(dna_inputs), report.error
    assert "cds_contig" in cat.schema.names
    assert _rows(cat) == _rows(ref)
    for got, want in zip(report.files, expected.files, strict=True):
        assert (got.proteins_predicted, got.contigs_called, got.gene_modes) == (
            want.proteins_predicted, want.contigs_called, want.gene_modes)
    assert report.files[0].proteins_predicted == 404 and report.files[2].contigs_called == 0  # single mode
    # Without the option: no protein predicted, no gene field.
    plain = Catalog.open(tmp_path / "plain")
    assert ingest(plain, dna_inputs[:1], engine="local", workers=0).committed
    assert "cds_contig" not in plain.schema.names and plain.count() == 1
    # The CLI flag, through the application layer.
    location = str(tmp_path / "cli")
    assert main(["--catalog", location, "ingest", str(dna_inputs[0]), "--workers", "0", "--call-genes",
                 "--json"]) == EXIT_OK
    out = json.loads(capsys.readouterr().out)
    assert out["files"][0]["proteins_predicted"] == 404 and out["imported"] == 405


@needs_ray
def test_ray_ingest_with_gene_calling_equals_an_import_with_it(ray_cluster: None, tmp_path: Path,
                                                               dna_inputs: list[Path]) -> None:
    ref = Catalog.open(tmp_path / "ref")
    import_files(ref, dna_inputs[:2], call_genes=True)
    cat = Catalog.open(tmp_path / "dist")
    report = ingest(cat, dna_inputs[:2], engine="ray", part_bytes=40_000, call_genes=True)
    assert report.committed and report.engine == "ray", report.error
    assert _rows(cat) == _rows(ref)
