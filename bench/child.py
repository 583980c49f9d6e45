"""Work run in a fresh child process, so each measurement gets its own peak RSS.

``python -m bench.child import CATALOG FILE...``: import into a new catalog.
``python -m bench.child parse FILE``: iterate the file with Biopython's SimpleFastaParser.
``python -m bench.child search CATALOG QUERIES``: search latencies (see :mod:`bench.search_bench`).

Each prints one JSON line: its own timing (without interpreter start-up and
imports) and ``vmhwm_mb``, the process's peak resident memory.
"""

from __future__ import annotations

import gzip
import json
import sys
import time
from pathlib import Path


def vmhwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def do_import(catalog: str, files: list[str]) -> dict[str, object]:
    from genocat_desktop.engine import Catalog, import_files

    t = time.perf_counter()
    cat = Catalog.open(catalog)
    report = import_files(cat, files)
    seconds = time.perf_counter() - t
    return {
        "seconds": seconds,
        "records": report.records,
        "imported": report.imported,
        "errors": [f.error for f in report.files if f.error],
        "rows": cat.count(),
    }


def do_parse(path: str) -> dict[str, object]:
    from Bio.SeqIO.FastaIO import SimpleFastaParser

    t = time.perf_counter()
    n = residues = 0
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt") as fh:  # type: ignore[operator]
        for _, seq in SimpleFastaParser(fh):
            n += 1
            residues += len(seq)
    return {"seconds": time.perf_counter() - t, "records": n, "residues": residues}


def main(argv: list[str]) -> int:
    cmd, *args = argv
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
