"""``python -m bench.scale.report``: the 300M-sequence table of docs/SCALING.md, from the measured JSON.

Every figure is either read from ``results-1000k.json`` / ``results-dedup.json`` (measured
here) or computed below from them and the stated prices; the formula is printed next to it.
"""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

HERE = Path(__file__).resolve().parent
TARGET = 300_000_000
# Prices (assumptions: AWS us-east-1 on-demand list prices, Linux; re-check before quoting).
S3_GB_MONTH = 0.023  # S3 Standard, first 50 TB
S3_GET_PER_1000 = 0.0004
R6I_2XL_HOUR, R6I_2XL_GIB = 0.504, 64  # 8 vCPU, 64 GiB
C6I_VCPU_HOUR = 0.68 / 16  # c6i.4xlarge: 16 vCPU for $0.68/h
HOURS_MONTH = 730
QUERIES_MONTH = 1_000_000  # assumption: ~23 queries/minute around the clock
NODE_OVERHEAD_GIB = 4.0  # OS, Python, Lance caches beyond the index (assumption)
SEED_GB, SEED_COST = 83, 303


def gb(x: float) -> str:
    return f"{x / 1e9:,.1f} GB"


def main() -> None:
    r = json.loads((HERE / "results-1000k.json").read_text())
    dd = {d["records"]: d for d in json.loads((HERE / "results-dedup.json").read_text())}
    n1 = r["rows"]
    st, ix = r["stats"], r["index"]
    q = ix["query"]
    scale = TARGET / n1
    lines: list[str] = []
    out = lines.append

    # ---- storage
    pf = st["per_field_bytes"]
    vec = sum(v for k, v in pf.items() if k.startswith("vec_"))
    seq = pf.get("sequence", 0)
    meta = st["data_bytes"] - vec - seq
    bpr = st["data_bytes"] / n1
    storage = bpr * TARGET
    idx_bpr = ix["index_bytes"] / n1
    index = idx_bpr * TARGET
    codes = ix["dim"] * ix["num_bits"] / 8
    idx1 = (idx_bpr - codes + ix["dim"] / 8) * TARGET  # the same index at 1 bit per dimension
    out("| quantity | 1M measured | 300M | formula |")
    out("|---|---|---|---|")
    out(f"| data on disk, all columns | {gb(st['data_bytes'])} ({bpr:,.0f} B/row) | {gb(storage)} | "
        f"300M × {bpr:,.0f} B/row |")
    out(f"| · vectors ({ix['dim']}-d float32) | {vec / n1:,.0f} B/row | {gb(vec * scale)} | 300M × {vec / n1:,.0f} B |")
    out(f"| · sequences (mean {st['mean_length']:.0f} aa) | {seq / n1:,.0f} B/row | {gb(seq * scale)} | "
        f"300M × {seq / n1:,.0f} B |")
    out(f"| · metadata (ids, headers, hash, ...) | {meta / n1:,.0f} B/row | {gb(meta * scale)} | "
        f"300M × {meta / n1:,.0f} B |")
    out(f"| IVF_RQ index, 4 bits/dim | {ix['index_bytes'] / 1e6:,.0f} MB ({idx_bpr:,.0f} B/row) | {gb(index)} | "
        f"300M × {idx_bpr:,.0f} B/row |")
    out(f"| IVF_RQ index, 1 bit/dim (derived) | - | {gb(idx1)} | 300M × ({idx_bpr:,.0f} − {codes:.0f} + "
        f"{ix['dim'] / 8:.0f}) B: codes shrink from {codes:.0f} to {ix['dim'] / 8:.0f} B |")
    total = storage + index
    out(f"| **object storage, total** | | **{gb(total)}** | data + 4-bit index (seed: ~{SEED_GB} GB) |")
    lean = (seq + meta) * scale + idx1
    out(f"| object storage without stored vectors | | {gb(lean)} | sequences + metadata + 1-bit index: the seed's "
        "layout (codes only); no exact re-rank, lower recall |")

    # ---- query node
    base = q["vmhwm_before_open_mb"]
    rss1 = q["vmhwm_mb"]
    node = (rss1 - base) * scale / 1024 + NODE_OVERHEAD_GIB
    node_1bit = (idx1 / 2**30) + NODE_OVERHEAD_GIB
    out(f"| query process RAM (index loaded, {q['queries']} queries) | {rss1:,.0f} MB peak ({base:,.0f} MB before "
        f"opening) | {node:,.0f} GiB | ({rss1:,.0f} − {base:,.0f}) MB × 300 + {NODE_OVERHEAD_GIB:g} GiB |")
    out(f"| RAM per query node, 1-bit index in RAM | | {node_1bit:,.0f} GiB | "
        f"1-bit index + {NODE_OVERHEAD_GIB:g} GiB |")
    shards = math.ceil(node / (R6I_2XL_GIB * 0.8))
    out(f"| query nodes (r6i.2xlarge, {R6I_2XL_GIB} GiB, ≤ 80 % used) | | {shards} | ⌈{node:,.0f} / "
        f"{R6I_2XL_GIB * 0.8:.0f}⌉, index sharded by fragment |")
    out(f"| query p50 / p99 at 1M (warm, nprobes {q['nprobes']} of {ix['partitions']}, refine 10) | "
        f"{q['p50_ms']:.1f} / {q['p99_ms']:.1f} ms, recall@10 {q['recall10']:.3f} | not measured | "
        "see below |")
    out(f"| index build at 1M | {ix['build_s']:.0f} s, {ix['build_vmhwm_mb']:,.0f} MB peak | "
        f"≈ {ix['build_s'] * scale * math.log(TARGET) / math.log(n1) / 3600:,.0f} h on this machine (2 loaded cores) | "
        f"{ix['build_s']:.0f} s × 300 × log(300M)/log(1M) (k-means + assignment, O(N log N)) |")

    # ---- ingest
    ing = r["ingest"]
    loc1 = ing["local engine, 1 worker"]
    c_rec = loc1["cpu_s_median"] / n1
    d10 = dd.get(10_000_000) or dd[max(dd)]
    # CPU seconds, not wall: on this shared machine wall time is 2-4× CPU time; a driver has its core to itself.
    dedup_s = d10["cpu_s"] * (TARGET / d10["records"]) * math.log(TARGET) / math.log(d10["records"])
    driver_gib = d10["vmhwm_mb"] / d10["records"] * TARGET / 1024
    out(f"| ingest CPU per record (local engine, 1 worker, driver included) | {c_rec * 1e6:,.0f} µs | "
        f"{c_rec * TARGET / 3600:,.0f} CPU-hours | 300M × {c_rec * 1e6:,.0f} µs |")
    out(f"| driver dedup (serial) | {d10['cpu_s']:.1f} CPU s ({d10['seconds']:.0f} s wall) at "
        f"{d10['records'] / 1e6:,.0f}M | {dedup_s / 60:,.0f} min | "
        f"{d10['cpu_s']:.1f} s × {TARGET / d10['records']:.0f} × log(300M)/log({d10['records'] / 1e6:.0f}M) |")
    out(f"| driver RAM | {d10['vmhwm_mb']:,.0f} MB at {d10['records'] / 1e6:,.0f}M | {driver_gib:,.0f} GiB | "
        f"{d10['vmhwm_mb'] / d10['records'] * 1e6:,.0f} MB per 1M records × 300 |")
    print("\n".join(lines))
    print()
    print("| workers (1 vCPU each) | ingest wall time | ingest cost | formula |")
    print("|---|---|---|---|")
    for w in (16, 64, 256):
        t = TARGET * c_rec / w + dedup_s
        print(f"| {w} | {t / 3600:,.1f} h | ${t / 3600 * w * C6I_VCPU_HOUR:,.2f} | 300M × {c_rec * 1e6:,.0f} µs / {w} "
              f"+ {dedup_s / 60:,.0f} min dedup; × {w} × ${C6I_VCPU_HOUR:.4f}/vCPU-h |")
    print()
    gets = QUERIES_MONTH * 10 * 10 / 1000 * S3_GET_PER_1000  # re-rank reads k × refine_factor rows per query
    layouts = [
        ("A. as built: float32 vectors stored, 4-bit IVF_RQ", total, node),
        ("B. float32 vectors stored, 1-bit IVF_RQ", storage + idx1, node_1bit),
        ("C. no stored vectors, 1-bit IVF_RQ, re-rank by re-embedding candidates (not implemented)", lean,
         node_1bit),
    ]
    print("| layout | object storage | RAM for the index | query nodes | S3 $/month | nodes $/month | "
          "GETs $/month | **total $/month** |")
    print("|---|---|---|---|---|---|---|---|")
    for name, stored, ram in layouts:
        nodes = math.ceil(ram / (R6I_2XL_GIB * 0.8))
        s3 = stored / 1e9 * S3_GB_MONTH
        compute = nodes * R6I_2XL_HOUR * HOURS_MONTH
        print(f"| {name} | {gb(stored)} | {ram:,.0f} GiB | {nodes} | {s3:,.0f} | {compute:,.0f} | {gets:,.0f} | "
              f"**{s3 + compute + gets:,.0f}** |")
    print(f"| seed projection | ~{SEED_GB} GB | | | | | | ~{SEED_COST} |")
    print()
    print(f"Formulas: S3 = GB × ${S3_GB_MONTH}; nodes = ⌈RAM / ({R6I_2XL_GIB} GiB × 0.8)⌉ r6i.2xlarge × "
          f"${R6I_2XL_HOUR}/h × {HOURS_MONTH} h; GETs = {QUERIES_MONTH:,} queries × 100 row reads × "
          f"${S3_GET_PER_1000}/1000.")
    # Ingest throughput table, 1M.
    print()
    print("| 1M ingest | median s | records/s | CPU s | peak RSS driver MB | runs | load (1 min) |")
    print("|---|---|---|---|---|---|---|")
    for label, v in ing.items():
        if not v["seconds"]:
            continue
        loads = [x["load_before"] for x in v["runs"]]
        print(f"| {label} | {v['seconds']['median']:.0f} | {v['records_per_s_median']:,.0f} | "
              f"{v['cpu_s_median']:,.0f} | {v['peak_rss_mb_median']:,.0f} | {v['seconds']['n']} | "
              f"{statistics.median(loads):.1f} |")
    print()
    for label, v in ing.items():
        ph = [x.get("phases") for x in v["runs"] if x.get("phases")]
        if ph:
            keys = ph[0].keys()
            print(f"{label}: phases (median s) " + ", ".join(
                f"{k} {statistics.median(p[k] for p in ph if k in p):.1f}" for k in keys)
                  + (f"; ray.init {statistics.median(x['init_s'] for x in v['runs']):.1f} s"
                     if "ray" in label else ""))


if __name__ == "__main__":
    main()
