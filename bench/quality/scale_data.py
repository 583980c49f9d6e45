"""The protein databases of the scale benchmark: labelled families spiked into a clean background.

Three FASTA databases of ~5k, 100k and 1M rows (``bench/out/data/quality-scale/db-{5k,100k,1M}.faa``):

* **queries**: the 579 proteins of ``families_cap100.faa`` (ids ``FAMILY|N``), in every database;
* **real background**: the proteins of ``proteins/unlabeled/`` (DIAMOND's nr samples, the MMseqs2
  example queries), upper case, ``*`` stripped, only the 20 standard residues, at least 20 long,
  deduplicated by sequence, with every protein that has a blastp hit at E < 1e-3 (default
  composition-based statistics, E-values against the 4,810-protein database) to *any* member of
  ``families.faa`` removed. Ids ``bg|ACC``;
* **mutated copies** of the real background (100k and 1M only), ids ``bgmut|ACC|n``: each copy
  has a substitution rate drawn uniformly from 25-50 %, the substituted residues drawn from the
  real background's amino-acid frequencies (a draw equal to the original residue is drawn once
  more), then 0-3 indels of 1-10 residues (insertion or deletion, equal odds). Copies are made
  round-robin over the parents (copy 1 of every parent, then copy 2, ...) from one seeded
  stream, so the 100k database is a prefix of the 1M one.

The 5k database is the queries plus a seeded sample of the real background; 100k and 1M are the
queries, all of the real background and as many copies as the size needs. Every sequence of a
database is distinct (checked). ``manifest.json`` records the seed, the counts, the removed
proteins and the frequencies; ``--check`` searches the labelled families against each
database's background with DIAMOND and reports any hit at E < 1e-3.

Run: ``python -m bench.quality.scale_data [--sizes 5k,100k,1M] [--check]``.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import itertools
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import numpy as np

from bench.data import OUT as BENCH_OUT
from bench.data import shared_data

DATA: Final = BENCH_OUT / "data" / "quality-scale"
SEED: Final = 20261207
SIZES: Final = {"5k": 5_000, "100k": 100_000, "1M": 1_000_000}
AMINO: Final = "ARNDCQEGHILKMFPSTWYV"
MIN_LENGTH: Final = 20
FILTER_EVALUE: Final = 1e-3
BLOCK: Final = 4096
THREADS: Final = "2"


def _read(path: Path) -> list[tuple[str, str]]:
    from Bio.SeqIO.FastaIO import SimpleFastaParser

    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as fh:  # type: ignore[operator]
        return [(t.split()[0] if t.split() else "", s) for t, s in SimpleFastaParser(fh)]


def queries() -> list[tuple[str, str]]:
    """The labelled queries: ``(FAMILY|N, SEQUENCE)``, upper case."""
    return [(i, s.upper()) for i, s in _read(shared_data() / "proteins" / "labeled" / "families_cap100.faa")]


def _accession(ident: str) -> str:
    """``tr|A7TBS3|A7TBS3_NEMVE`` -> ``A7TBS3``; an nr accession stays as it is."""
    parts = [p for p in ident.split("|") if p]
    if len(parts) >= 2 and parts[0] in ("sp", "tr"):
        return parts[1]
    return parts[-1] if parts else ident


def candidates() -> tuple[list[tuple[str, str]], dict[str, int]]:
    """The real background before the BLAST filter: ``bg|ACC`` ids, deduplicated; and what was dropped."""
    folder = shared_data() / "proteins" / "unlabeled"
    ok = set(AMINO)
    seen: set[str] = set()
    ids: set[str] = set()
    out: list[tuple[str, str]] = []
    dropped = {"nonstandard_residues": 0, "shorter_than_20": 0, "duplicate_sequence": 0}
    for name in ("diamond_nr_10k.faa.gz", "diamond_nr_300.faa", "mmseqs2_QUERY.fasta"):
        for ident, seq in _read(folder / name):
            s = seq.upper().rstrip("*")
            if not set(s) <= ok:
                dropped["nonstandard_residues"] += 1
            elif len(s) < MIN_LENGTH:
                dropped["shorter_than_20"] += 1
            elif s in seen:
                dropped["duplicate_sequence"] += 1
            else:
                seen.add(s)
                acc = base = _accession(ident)
                n = 1
                while f"bg|{acc}" in ids:  # two sequences under one accession: keep both, distinct ids
                    n += 1
                    acc = f"{base}_{n}"
                ids.add(f"bg|{acc}")
                out.append((f"bg|{acc}", s))
    return out, dropped


def blast_filter(cands: list[tuple[str, str]], work: Path) -> dict[str, tuple[str, float]]:
    """Background proteins with a blastp hit at E < 1e-3 to any labelled protein: id -> (best family hit, E)."""
    families = shared_data() / "proteins" / "labeled" / "families.faa"
    fam = work / "families.faa"
    fam.write_text("".join(f">{i}\n{s.upper()}\n" for i, s in _read(families)))
    subprocess.run(["makeblastdb", "-in", str(fam), "-dbtype", "prot", "-out", str(work / "fam")], check=True,
                   stdout=subprocess.DEVNULL)
    # Plain ids (c0, c1, ...) for BLAST, which parses '|' in deflines.
    query = work / "background.faa"
    query.write_text("".join(f">c{n}\n{s}\n" for n, (_, s) in enumerate(cands)))
    out = work / "hits.tsv"
    subprocess.run(["blastp", "-query", str(query), "-db", str(work / "fam"), "-evalue", str(FILTER_EVALUE),
                    "-max_target_seqs", "5", "-outfmt", "6 qseqid sseqid evalue", "-num_threads", THREADS,
                    "-out", str(out)], check=True, stdout=subprocess.DEVNULL)
    hits: dict[str, tuple[str, float]] = {}
    for line in out.read_text().splitlines():
        q, t, e = line.split("\t")
        ident = cands[int(q[1:])][0]
        if float(e) < FILTER_EVALUE and (ident not in hits or float(e) < hits[ident][1]):
            hits[ident] = (t, float(e))
    return hits


def background(log=print) -> tuple[list[tuple[str, str]], dict]:  # type: ignore[no-untyped-def]
    """The filtered real background and its manifest (cached in ``background.faa`` / ``manifest.json``)."""
    DATA.mkdir(parents=True, exist_ok=True)
    faa, manifest_path = DATA / "background.faa", DATA / "manifest.json"
    if faa.exists() and manifest_path.exists():
        return _read(faa), json.loads(manifest_path.read_text())
    cands, dropped = candidates()
    log(f"  real background: {len(cands):,} candidates ({dropped}); blastp against families.faa...")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="genocat-scale-filter-") as tmp:
        hits = blast_filter(cands, Path(tmp))
    seconds = time.perf_counter() - started
    kept = [(i, s) for i, s in cands if i not in hits]
    query_seqs = {s for _, s in queries()}
    assert not any(s in query_seqs for _, s in kept), "a background protein is identical to a query"
    counts = np.zeros(len(AMINO))
    index = {a: n for n, a in enumerate(AMINO)}
    for _, s in kept:
        for a, c in zip(*np.unique(list(s), return_counts=True), strict=True):
            counts[index[str(a)]] += c
    manifest = {
        "seed": SEED, "candidates": len(cands), "dropped_before_filter": dropped,
        "filter": f"blastp -evalue {FILTER_EVALUE} (default composition-based statistics) of each candidate "
                  "against families.faa (4,810 proteins); any hit removes the candidate",
        "filter_seconds": round(seconds, 1), "removed": len(hits), "kept": len(kept),
        "removed_hits": {i: {"family_hit": t, "evalue": e} for i, (t, e) in sorted(hits.items())},
        "frequencies": {a: float(c / counts.sum()) for a, c in zip(AMINO, counts, strict=True)},
        "mutation": "substitution rate U(0.25, 0.50) per copy, residues from the background frequencies "
                    "(a draw equal to the original is drawn again once); 0-3 indels of 1-10 residues, "
                    "insertion or deletion with equal odds; copies round-robin over the parents",
    }
    faa.write_text("".join(f">{i}\n{s}\n" for i, s in kept))
    manifest_path.write_text(json.dumps(manifest, indent=1))
    log(f"  removed {len(hits):,} with a hit at E < {FILTER_EVALUE}; kept {len(kept):,} ({seconds:.0f} s)")
    return kept, manifest


def mutated_copies(parents: list[tuple[str, str]], freqs: np.ndarray, seed: int = SEED) -> Iterator[tuple[str, str]]:
    """The endless, deterministic stream of mutated copies, round-robin over ``parents``."""
    rng = np.random.default_rng(seed)
    cum = np.cumsum(freqs / freqs.sum())
    alphabet = np.frombuffer(AMINO.encode(), dtype=np.uint8)
    seqs = [np.frombuffer(s.encode(), dtype=np.uint8) for _, s in parents]
    n_parents = len(parents)
    position = 0  # copy number over the whole stream
    while True:
        picks = [(position + j) % n_parents for j in range(BLOCK)]
        rounds = [(position + j) // n_parents + 1 for j in range(BLOCK)]
        position += BLOCK
        lens = np.array([seqs[p].size for p in picks])
        arr = np.concatenate([seqs[p] for p in picks])
        rates = rng.uniform(0.25, 0.50, BLOCK)
        mask = rng.random(arr.size) < np.repeat(rates, lens)
        draw = alphabet[np.searchsorted(cum, rng.random(arr.size), side="right").clip(0, 19)]
        again = alphabet[np.searchsorted(cum, rng.random(arr.size), side="right").clip(0, 19)]
        draw = np.where(draw == arr, again, draw)
        arr = np.where(mask, draw, arr)
        bounds = np.concatenate([[0], np.cumsum(lens)])
        n_indels = rng.integers(0, 4, BLOCK)
        for j in range(BLOCK):
            s = arr[bounds[j]:bounds[j + 1]]
            for _ in range(int(n_indels[j])):
                length = int(rng.integers(1, 11))
                at = int(rng.integers(0, s.size + 1))
                if rng.random() < 0.5 or s.size - length < MIN_LENGTH:
                    ins = alphabet[np.searchsorted(cum, rng.random(length), side="right").clip(0, 19)]
                    s = np.concatenate([s[:at], ins, s[at:]])
                else:
                    at = min(at, s.size - length)
                    s = np.concatenate([s[:at], s[at + length:]])
            acc = parents[picks[j]][0].split("|", 1)[1]
            yield f"bgmut|{acc}|{rounds[j]}", s.tobytes().decode()


def build(size: str, log=print) -> Path:  # type: ignore[no-untyped-def]
    """Write ``db-{size}.faa`` (if missing) and return its path."""
    path = DATA / f"db-{size}.faa"
    if path.exists():
        return path
    bg, manifest = background(log)
    qs = queries()
    n = SIZES[size]
    started = time.perf_counter()
    if size == "5k":
        rng = np.random.default_rng(SEED)
        pick = sorted(rng.choice(len(bg), n - len(qs), replace=False).tolist())
        records: Iterator[tuple[str, str]] = iter(qs + [bg[i] for i in pick])
        copies = 0
    else:
        freqs = np.array([manifest["frequencies"][a] for a in AMINO])
        copies = n - len(qs) - len(bg)
        stream = mutated_copies(bg, freqs)
        records = itertools.chain(qs, bg, itertools.islice(stream, copies))
    seen: set[bytes] = set()
    tmp = path.with_suffix(".part")
    written = 0
    with open(tmp, "w", encoding="ascii") as fh:
        for ident, seq in records:
            digest = hashlib.md5(seq.encode()).digest()
            if digest in seen:
                raise SystemExit(f"duplicate sequence in db-{size}: {ident}")
            seen.add(digest)
            fh.write(f">{ident}\n{seq}\n")
            written += 1
    os.replace(tmp, path)
    meta = {"size": size, "rows": written, "queries": len(qs),
            "real_background": n - len(qs) if size == "5k" else len(bg), "mutated_copies": copies,
            "seed": SEED, "seconds": round(time.perf_counter() - started, 1)}
    (DATA / f"db-{size}.json").write_text(json.dumps(meta, indent=1))
    log(f"  db-{size}.faa: {meta}")
    return path


def check(size: str, log=print) -> dict:  # type: ignore[no-untyped-def]
    """DIAMOND (--sensitive) of all 4,810 labelled proteins against the database's background rows."""
    db = build(size, log)
    families = shared_data() / "proteins" / "labeled" / "families.faa"
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="genocat-scale-check-") as tmp:
        work = Path(tmp)
        bg = work / "bg.faa"
        with open(db) as src, open(bg, "w") as dst:
            keep = False
            for line in src:
                if line.startswith(">"):
                    keep = line.startswith(">bg")
                if keep:
                    dst.write(line)
        subprocess.run(["diamond", "makedb", "--in", str(bg), "-d", str(work / "bg"), "--quiet"], check=True)
        out = work / "hits.tsv"
        subprocess.run(["diamond", "blastp", "-q", str(families), "-d", str(work / "bg"), "-o", str(out),
                        "--sensitive", "-e", str(FILTER_EVALUE), "-k", "5", "--threads", THREADS, "--quiet",
                        "--outfmt", "6", "qseqid", "sseqid", "evalue"], check=True)
        hits = [line.split("\t") for line in out.read_text().splitlines() if line]
    result = {"size": size, "tool": "diamond blastp --sensitive -e 1e-3 -k 5, families.faa (4,810) vs background rows",
              "hits": len(hits), "background_rows_hit": len({h[1] for h in hits}),
              "examples": hits[:20], "seconds": round(time.perf_counter() - started, 1)}
    (DATA / f"check-{size}.json").write_text(json.dumps(result, indent=1))
    log(f"  check {size}: {result['hits']} hits at E < 1e-3 on {result['background_rows_hit']} background rows")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default="5k,100k,1M")
    parser.add_argument("--check", action="store_true", help="DIAMOND the labelled families against each background")
    args = parser.parse_args()
    for tool in ("blastp", "makeblastdb") + (("diamond",) if args.check else ()):
        if shutil.which(tool) is None:
            raise SystemExit(f"scale_data: {tool} is not installed")
    for size in args.sizes.split(","):
        build(size)
        if args.check:
            check(size)


if __name__ == "__main__":
    main()
