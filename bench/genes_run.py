"""Gene calling at import (``engine/ingest/genes.py``): how right, how fast.

Quality, against genes someone else called or annotated on the same DNA:

* *E. coli* contig MIIJ01000039 (0.87 Mbp, half ``N``): Prodigal's own single-mode and meta-mode
  output (``../shared/data/dna/`` and pyrodigal's test data);
* *Kutzneria* scaffold KK037166 (20 kbp): Prodigal's meta-mode proteins (pyrodigal's test data);
* the first 100 CDS of *B. velezensis* CP040672.1, NCBI's annotation (``cds_from_genomic``), each
  record one gene: is the predicted protein NCBI's protein (the CDS translated)?
* the MIBiG cluster BGC0001090 (44.7 kbp GenBank, 10 annotated CDS): same coordinates, same stop.

Speed: the complete 2.46 Mbp chromosome of *Corynebacterium diphtheriae* NCTC11397 (pyrodigal's test
data), and a 4.9 Mbp record (that chromosome and a copy with 1 % substitutions), in both modes;
then ``import_files`` of the 4.9 Mbp record with and without ``call_genes`` (a fresh catalog each).

Run: ``python -m bench.genes_run``. Writes ``bench/out/genes.json`` and ``bench/out/genes.md``.
"""

from __future__ import annotations

import gzip
import json
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from Bio import SeqIO
from Bio.Seq import Seq
from Bio.SeqIO.FastaIO import SimpleFastaParser

from genocat_desktop.engine import Catalog, import_files
from genocat_desktop.engine.ingest import genes
from genocat_desktop.engine.ingest.genes import GeneCaller

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data" / "dna"
OUT = ROOT / "bench" / "out"


def _pyrodigal_data() -> Path:
    import pyrodigal

    return Path(pyrodigal.__file__).parent / "tests" / "data"


def _fasta(path: Path) -> list[tuple[str, str]]:
    opener: Any = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as handle:
        return [(t, s.upper()) for t, s in SimpleFastaParser(handle)]


def _key(title: str) -> tuple[int, int, int]:
    _, start, end, strand, _ = title.split(" # ", 4)
    return int(start), int(end), int(strand)


def _call(seq: str, meta: bool) -> tuple[genes.PredictedGenes, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    found = GeneCaller(train_min_length=10**12 if meta else genes.TRAIN_MIN_LENGTH).call("x", 1, seq.encode())
    return found, time.perf_counter() - wall, time.process_time() - cpu


def _against_prodigal(seq: str, reference: Path, meta: bool) -> dict[str, Any]:
    ref = {_key(t): s.rstrip("*") for t, s in _fasta(reference)}
    found, _, _ = _call(seq, meta)
    ours = {_key(t): p.decode() for t, p in zip(found.titles, found.proteins, strict=True)}
    same = sum(1 for k, p in ours.items() if ref.get(k) == p)
    return {"mode": found.mode, "reference": len(ref), "predicted": len(ours), "same_gene_and_protein": same}


def _ncbi_cds() -> dict[str, Any]:
    complete = exact = same = 0
    for i, (title, seq) in enumerate(_fasta(SHARED / "CP040672.1.genes_100.fna"), start=1):
        try:
            truth = str(Seq(seq).translate(table=11, cds=True))
        except Exception:
            continue  # a pseudogene
        complete += 1
        found = GeneCaller().call(title.split()[0], i, seq.encode())
        exact += any(_key(t)[:3] == (1, len(seq), 1) for t in found.titles)
        same += truth.encode() in found.proteins
    return {"complete_cds": complete, "exact_coordinates": exact, "same_protein_as_ncbi": same}


def _mibig() -> dict[str, Any]:
    record = SeqIO.read(SHARED / "BGC0001090.gbk", "genbank")
    truth = {}
    for f in record.features:
        if f.type == "CDS":
            truth[(int(f.location.start) + 1, int(f.location.end), f.location.strand)] = \
                f.qualifiers.get("translation", [""])[0]
    stops = {(k[1] if k[2] == 1 else k[0], k[2]) for k in truth}
    found = GeneCaller().call(record.id, 1, str(record.seq).upper().encode())
    keys = [_key(t) for t in found.titles]
    return {
        "length": len(record.seq), "mode": found.mode, "annotated": len(truth), "predicted": len(keys),
        "exact_coordinates": sum(k in truth for k in keys),
        "same_protein": sum(truth.get(k) == p.decode() for k, p in zip(keys, found.proteins, strict=True)),
        "same_stop": sum(((k[1] if k[2] == 1 else k[0]), k[2]) in stops for k in keys),
    }


def _speed(chromosome: str, big: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, seq in (("2.46 Mbp chromosome", chromosome), ("4.9 Mbp record", big)):
        for meta in (False, True):
            found, wall, cpu = _call(seq, meta)
            out[f"{name}, {found.mode}"] = {"proteins": len(found.proteins), "wall_s": round(wall, 2),
                                            "cpu_s": round(cpu, 2)}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.fna"
        path.write_text(">big chromosome and a 1% divergent copy\n" + big + "\n")
        for call in (False, True):
            catalog = Catalog.open(Path(tmp) / f"cat{int(call)}", create=True)
            wall, cpu = time.perf_counter(), time.process_time()
            fr = import_files(catalog, [path], call_genes=call).files[0]
            out[f"import 4.9 Mbp, call_genes={call}"] = {
                "rows": fr.imported, "wall_s": round(time.perf_counter() - wall, 2),
                "cpu_s": round(time.process_time() - cpu, 2)}
    return out


def main() -> None:
    """Run everything; write the JSON and a Markdown table."""
    data = _pyrodigal_data()
    miij = _fasta(SHARED / "MIIJ01000039.fna.gz")[0][1]
    kk = _fasta(data / "KK037166.fna.gz")[0][1]
    chromosome = _fasta(data / "GCF_001457455.1_NCTC11397_genomic.fna.gz")[0][1]
    rng = random.Random(1)
    copy = list(chromosome)
    for i in rng.sample(range(len(copy)), len(copy) // 100):
        copy[i] = rng.choice("ACGT")
    results = {
        "MIIJ01000039 single vs Prodigal single": _against_prodigal(miij, data / "MIIJ01000039.single.faa.gz", False),
        "MIIJ01000039 meta vs Prodigal meta": _against_prodigal(miij, data / "MIIJ01000039.meta.faa.gz", True),
        "KK037166 meta vs Prodigal meta": _against_prodigal(kk, data / "KK037166.meta.faa.gz", True),
        "CP040672.1 first 100 CDS vs NCBI": _ncbi_cds(),
        "BGC0001090 vs MIBiG annotation": _mibig(),
        "speed": _speed(chromosome, chromosome + "".join(copy)),
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "genes.json").write_text(json.dumps(results, indent=2) + "\n")
    lines = ["# Gene calling at import", "", "| case | result |", "|---|---|"]
    for case, value in results.items():
        if case == "speed":
            lines += [f"| {k} | {json.dumps(v)} |" for k, v in value.items()]
        else:
            lines.append(f"| {case} | {json.dumps(value)} |")
    (OUT / "genes.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
