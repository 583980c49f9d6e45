"""3. Export of 10,000 hits: ``export_hits`` to CSV and to FASTA.

References on the same hits, timed side by side: ``pyarrow.csv.write_csv`` of
the same columns (list columns already joined, outside the timer) and
Biopython's ``SeqIO.write`` of the same records (``SeqRecord`` objects built
outside the timer).
"""

from __future__ import annotations

import time
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from genocat_desktop.engine import Searcher, export_hits, read_queries
from genocat_desktop.engine.search.export import CSV_COLUMNS

from . import catalogs, data
from .util import ratio, summary, table, verdict

HITS = 10_000
TARGET_S = 0.1


def run(quick: bool, log) -> dict[str, Any]:
    rows = 10_000 if quick else 100_000
    runs = 5 if quick else 15
    cat = catalogs.catalog(rows, log)
    searcher = Searcher(cat)
    searcher.warm()
    query = read_queries(data.mmseqs_queries())[0]
    res = searcher.search(query, k=HITS)
    hits = res.hits
    # The CSV reference: the same columns, with the query id and the list columns joined, prepared untimed.
    t = hits.add_column(0, "query_id", pa.array([query.id] * hits.num_rows, pa.string()))
    t = t.select([c for c in CSV_COLUMNS if c in t.column_names])
    for i, name in enumerate(t.column_names):
        if pa.types.is_list(t.schema.field(i).type):
            t = t.set_column(i, name, pc.binary_join(t.column(i), ";"))
    from Bio.Seq import Seq
    from Bio.SeqIO import write as seqio_write
    from Bio.SeqRecord import SeqRecord

    seen: set[str] = set()
    records = []
    for ident, desc, seq, h in zip(*(hits.column(c).to_pylist() for c in ("id", "description", "sequence", "seq_hash")),
                                   strict=True):
        if h not in seen:
            seen.add(h)
            records.append(SeqRecord(Seq(seq), id=ident, description=desc or ""))
    out = data.OUT / "tmp" / "export"
    out.mkdir(parents=True, exist_ok=True)
    timers = {
        "engine_csv": lambda: export_hits([res], out / "hits.csv"),
        "pyarrow_write_csv": lambda: pacsv.write_csv(t, out / "ref.csv"),
        "engine_fasta": lambda: export_hits([res], out / "hits.fasta"),
        "biopython_seqio_write": lambda: seqio_write(records, out / "ref.fasta", "fasta"),
    }
    for fn in timers.values():  # warm-up
        fn()
    samples: dict[str, list[float]] = {name: [] for name in timers}
    cpu: dict[str, list[float]] = {name: [] for name in timers}
    names = list(timers)
    for r in range(runs):
        for name in names[r % len(names):] + names[: r % len(names)]:
            c = time.process_time()
            t0 = time.perf_counter()
            timers[name]()
            samples[name].append(time.perf_counter() - t0)
            cpu[name].append(time.process_time() - c)
    sizes = {name: (out / f).stat().st_size for name, f in
             (("engine_csv", "hits.csv"), ("pyarrow_write_csv", "ref.csv"),
              ("engine_fasta", "hits.fasta"), ("biopython_seqio_write", "ref.fasta"))}
    result = {"catalog_rows": rows, "hits": hits.num_rows, "fasta_records": len(records), "runs": runs,
              "seconds": {n: summary(s) for n, s in samples.items()},
              "cpu_seconds": {n: summary(s) for n, s in cpu.items()}, "bytes": sizes}
    log(f"  export: CSV {result['seconds']['engine_csv']['median'] * 1000:.1f} ms, "
        f"FASTA {result['seconds']['engine_fasta']['median'] * 1000:.1f} ms")
    return result


def report(res: dict[str, Any]) -> str:
    s, c = res["seconds"], res["cpu_seconds"]
    rows = []
    for fmt, eng, ref, label in (("CSV", "engine_csv", "pyarrow_write_csv", "pyarrow.csv.write_csv"),
                                 ("FASTA", "engine_fasta", "biopython_seqio_write", "Bio.SeqIO.write")):
        rows.append([
            fmt, s[eng]["median"] * 1000, s[eng]["max"] * 1000, label, s[ref]["median"] * 1000,
            ratio(s[eng]["median"], s[ref]["median"]), c[eng]["median"] * 1000, c[ref]["median"] * 1000,
            ratio(c[eng]["median"], c[ref]["median"]), f"{res['bytes'][eng] / 1e6:.1f} MB",
            verdict(s[eng]["median"] < TARGET_S),
        ])
    return table(
        ["format", "engine ms (median)", "engine ms (max of runs)", "reference", "reference ms (median)",
         "engine / reference", "engine CPU ms", "reference CPU ms", "engine / reference (CPU)",
         "file size", f"target < {TARGET_S * 1000:.0f} ms"],
        rows,
    ) + (f"\n\n{res['hits']:,} hits of one query on the {res['catalog_rows']:,}-row catalog "
         f"({res['fasta_records']:,} distinct sequences), {res['runs']} runs each, interleaved.")
