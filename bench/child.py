"""Work run in a fresh child process, so each measurement gets its own peak RSS.

``python -m bench.child import CATALOG FILE...``: import into a new catalog.
``python -m bench.child parse FILE``: iterate the file with Biopython's SimpleFastaParser.
``python -m bench.child run -- COMMAND...``: run a native tool and measure it.
``python -m bench.child search CATALOG QUERIES``: search latencies (see :mod:`bench.search_bench`).

Each prints one JSON line: its own wall and CPU time (without interpreter
start-up and imports) and ``vmhwm_mb``, the process's peak resident memory.
"""

from __future__ import annotations

import gzip
import json
import resource
import sys
import time
from pathlib import Path


def vmhwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu() -> float:
    """CPU seconds of this process so far, all threads, user + system."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def do_import(catalog: str, files: list[str]) -> dict[str, object]:
    from genocat_desktop.engine import Catalog, import_files
    from genocat_desktop.engine.embed.embedders import kmer

    # The engine imports Lance lazily; that costs seconds of CPU once per process
    # (the application pays it at start-up), so it is measured apart from the import.
    c = cpu()
    t = time.perf_counter()
    import lance  # noqa: F401
    import lancedb  # noqa: F401

    startup = {"startup_seconds": time.perf_counter() - t, "startup_cpu_seconds": cpu() - c}
    c = cpu()
    t = time.perf_counter()
    cat = Catalog.open(catalog)
    report = import_files(cat, files)
    seconds = time.perf_counter() - t
    return {
        "seconds": seconds,
        "cpu_seconds": cpu() - c,
        "records": report.records,
        "imported": report.imported,
        "errors": [f.error for f in report.files if f.error],
        "rows": cat.count(),
        # The compiled k-mer loop, or its numpy fallback when the build had no C compiler.
        "native_counting": kmer.NATIVE_COUNTING,
        **startup,
    }


def do_parse(path: str) -> dict[str, object]:
    from Bio.SeqIO.FastaIO import SimpleFastaParser

    c = cpu()
    t = time.perf_counter()
    n = residues = 0
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt") as fh:  # type: ignore[operator]
        for _, seq in SimpleFastaParser(fh):
            n += 1
            residues += len(seq)
    return {"seconds": time.perf_counter() - t, "cpu_seconds": cpu() - c, "records": n, "residues": residues}


def measure_command(argv: list[str]) -> dict[str, object]:
    """Run a command as this small process's child; its wall time, CPU time and peak RSS.

    A child's ``ru_maxrss`` starts at its parent's RSS at ``fork`` (Linux keeps
    the high-water mark across ``exec``), so a native tool is launched from
    here, a fresh interpreter of a few MB, and not from the benchmark process.
    """
    import os
    import subprocess

    t = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = code = os.waitstatus_to_exitcode(status)
    out: dict[str, object] = {
        "seconds": time.perf_counter() - t,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "vmhwm_mb": usage.ru_maxrss / 1024,
        "exit_status": code,
    }
    if code != 0:
        out["error"] = (err.decode(errors="replace").strip().splitlines() or ["?"])[-1][:500]
    return out


def main(argv: list[str]) -> int:
    cmd, *args = argv
    if cmd == "run":
        result = measure_command(args[1:] if args[:1] == ["--"] else args)
        print(json.dumps(result))
        return 0
    if cmd == "import":
        result = do_import(args[0], args[1:])
    elif cmd == "parse":
        result = do_parse(args[0])
    elif cmd == "search":
        from .search_bench import measure

        result = measure(args[0], int(args[1]))
    else:
        raise SystemExit(f"unknown command {cmd!r}")
    result["vmhwm_mb"] = vmhwm_mb()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
