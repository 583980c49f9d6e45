"""1. Import throughput and peak memory.

Each run is a fresh child process that opens a new catalog and imports one
file (parse, checks, hashing, header parsing, k-mer embedding, Lance write,
commit). In the same run, side by side, two references read the same file:
Biopython's ``SimpleFastaParser`` just iterating the records (the parse-only
floor a pure-Python import cannot beat) and ``mmseqs createdb`` (a native
sequence-database build), when the ``mmseqs`` binary is installed.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

from . import data
from .util import median, python_child, ratio, run_child, summary, table, verdict

TARGET_RATE = 50_000  # sequences per second, at 100k and 1M records
TARGET_RSS_MB = 1500  # "1.5 GB"


#: ``--import-inputs``: (label part, repeats or None); empty for every input.
SELECTED: list[tuple[str, int | None]] = []


def parse_selection(text: str) -> list[tuple[str, int | None]]:
    """``"synthetic 100k:3,synthetic 1M:1"`` → ``[("synthetic 100k", 3), ("synthetic 1M", 1)]``."""
    out: list[tuple[str, int | None]] = []
    for item in filter(None, (x.strip() for x in text.split(","))):
        label, _, runs = item.rpartition(":") if item.rpartition(":")[2].isdigit() else (item, "", "")
        out.append((label, int(runs) if runs else None))
    return out


def inputs(quick: bool, log) -> list[tuple[str, Path, int, bool]]:
    """(label, file, repeats, target applies)."""
    if SELECTED:
        # The files are generated lazily: only the chosen ones.
        chosen = []
        entries = _catalogue(quick, log)
        labels = {e[0] for e in entries}
        for label, make, runs, target in entries:
            for part, override in SELECTED:
                # A whole label picks that input only ("synthetic 100k" is not "synthetic 100k .gz").
                if label == part or (part not in labels and part in label):
                    chosen.append((label, make(), override or runs, target))
                    break
        return chosen
    return [(label, make(), runs, target) for label, make, runs, target in _catalogue(quick, log)]


def _catalogue(quick: bool, log) -> list[tuple[str, Any, int, bool]]:
    """(label, function that returns the file, repeats, target applies)."""
    if quick:
        return [
            ("synthetic 10k", lambda: data.synthetic(10_000, log=log), 3, False),
            ("diamond nr 10k .gz (real)", data.diamond_10k, 3, False),
        ]
    return [
        ("synthetic 100k", lambda: data.synthetic(100_000, log=log), 5, True),
        ("synthetic 100k .gz", lambda: data.synthetic(100_000, gz=True, log=log), 5, False),
        ("synthetic 1M", lambda: data.synthetic(1_000_000, log=log), 3, True),
        ("diamond nr 10k .gz (real)", data.diamond_10k, 5, False),
    ]


def mmseqs_binary() -> str | None:
    return shutil.which("mmseqs")


def mmseqs_version(binary: str) -> str:
    try:
        return subprocess.run([binary, "version"], capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "?"


def run(quick: bool, log) -> dict[str, Any]:
    tmp = data.OUT / "tmp" / "import"
    mmseqs = mmseqs_binary()
    result: dict[str, Any] = {
        "mmseqs": mmseqs_version(mmseqs) if mmseqs else None,
        "files": [],
    }
    for label, path, runs, target in inputs(quick, log):
        data.warm_page_cache(path)
        rows: dict[str, list[dict[str, Any]]] = {"engine": [], "biopython_parse": [], "mmseqs_createdb": []}
        for r in range(runs):
            # Side by side: one run of each, then the next round.
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            eng = run_child(python_child("import", str(tmp / "catalog"), str(path)))
            rows["engine"].append(eng)
            shutil.rmtree(tmp / "catalog", ignore_errors=True)
            rows["biopython_parse"].append(run_child(python_child("parse", str(path))))
            if mmseqs:
                (tmp / "mmseqs").mkdir()
                m = run_child(python_child("run", "--", mmseqs, "createdb", str(path), str(tmp / "mmseqs" / "db"),
                                           "-v", "1"))
                rows["mmseqs_createdb"].append(m)
            shutil.rmtree(tmp, ignore_errors=True)
            log(f"  {label} run {r + 1}/{runs}: engine {eng.get('seconds', float('nan')):.2f} s "
                f"({eng.get('records', 0):,} records, {eng['peak_rss_mb']:.0f} MiB)"
                + (f" ERROR {eng['error']}" if eng.get("error") else ""))
        entry: dict[str, Any] = {"label": label, "file": str(path), "bytes": path.stat().st_size,
                                 "runs": runs, "target_applies": target}
        for name, samples in rows.items():
            if not samples:
                entry[name] = None
                continue
            ok = [s for s in samples if s.get("returncode") == 0]
            entry[name] = {
                "runs": samples,
                "errors": [s["error"] for s in samples if s.get("error")],
                "seconds": summary([s["seconds"] for s in ok]) if ok else None,
                "cpu_seconds": summary([s["cpu_seconds"] for s in ok]) if ok else None,
                "records": ok[0].get("records") if ok else None,
                "peak_rss_mb": median([s["peak_rss_mb"] for s in ok]) if ok else None,
                "max_peak_rss_mb": max(s["peak_rss_mb"] for s in ok) if ok else None,
            }
            if ok and "startup_cpu_seconds" in ok[0]:
                entry[name]["startup_seconds"] = summary([s["startup_seconds"] for s in ok])
                entry[name]["startup_cpu_seconds"] = summary([s["startup_cpu_seconds"] for s in ok])
        records = (entry["engine"] or {}).get("records") or (entry["biopython_parse"] or {}).get("records")
        entry["records"] = records
        for name in rows:
            e = entry[name]
            if e and e["seconds"]:
                e["rate"] = records / e["seconds"]["median"]
                e["cpu_rate"] = records / e["cpu_seconds"]["median"]
        result["files"].append(entry)
    return result


def report(res: dict[str, Any]) -> str:
    mm_missing = "not available" if not res["mmseqs"] else None
    wall, cpu = [], []
    for f in res["files"]:
        eng, bio, mm = f["engine"], f["biopython_parse"], f["mmseqs_createdb"]
        ok = bool(eng and eng["seconds"])
        rate = eng.get("rate") if ok else None
        rss = eng.get("max_peak_rss_mb") if ok else None
        target = None
        if f["target_applies"] and rate is not None:
            target = rate >= TARGET_RATE and rss is not None and rss < TARGET_RSS_MB

        def get(e: dict[str, Any] | None, key: str) -> Any:
            return e.get(key) if e and e["seconds"] else None

        wall.append([
            f["label"], f["records"], f["runs"], eng["seconds"]["median"] if ok else None, rate,
            get(bio, "rate"), ratio(rate, get(bio, "rate")),
            mm_missing or get(mm, "rate"), ratio(rate, get(mm, "rate")), verdict(target),
        ])
        cpu.append([
            f["label"], get(eng, "cpu_rate"), get(bio, "cpu_rate"), ratio(get(eng, "cpu_rate"), get(bio, "cpu_rate")),
            mm_missing or get(mm, "cpu_rate"), ratio(get(eng, "cpu_rate"), get(mm, "cpu_rate")),
            rss, get(bio, "max_peak_rss_mb"), mm_missing or get(mm, "max_peak_rss_mb"),
        ])
    out = table(
        ["file", "records", "runs", "engine s", "engine seq/s", "Biopython parse seq/s", "engine / parse",
         "mmseqs createdb seq/s", "engine / mmseqs", f"target ≥{TARGET_RATE:,} seq/s and RSS <{TARGET_RSS_MB} MiB"],
        wall,
    )
    out += "\n\nCPU time (user + system, all threads) and memory, same runs:\n\n" + table(
        ["file", "engine seq/CPU-s", "parse seq/CPU-s", "engine / parse", "mmseqs seq/CPU-s", "engine / mmseqs",
         "engine peak RSS MiB", "parse peak RSS MiB", "mmseqs peak RSS MiB"],
        cpu,
    )
    errors = [(f["label"], n, e) for f in res["files"] for n in ("engine", "biopython_parse", "mmseqs_createdb")
              if f[n] for e in f[n]["errors"]]
    for label, name, e in errors:
        out += f"\n\n{label}: {name} failed: {e}"
    startups = [f["engine"]["startup_cpu_seconds"]["median"] for f in res["files"]
                if f["engine"] and "startup_cpu_seconds" in f["engine"]]
    out += ("\n\nMedians over the runs; peak RSS is the largest of the runs. The engine and parse times are "
            "measured inside their child process, without interpreter start-up and module imports: importing "
            "`lance` and `lancedb`, which the engine does on first use, is timed apart"
            + (f" (median {median(startups):.1f} CPU-s, once per process)" if startups else "")
            + "; mmseqs is the whole process.")
    if res["mmseqs"]:
        out += f" mmseqs {res['mmseqs']} (`mmseqs createdb FILE DB`)."
    counting = {s.get("native_counting") for f in res["files"] if f["engine"] for s in f["engine"]["runs"]}
    if counting - {None}:
        out += (" k-mer counting: " + ("compiled (`_kmer_count`)" if counting == {True} else
                                       "numpy (the compiled loop was not built)" if counting == {False} else "mixed")
                + ".")
    return out
