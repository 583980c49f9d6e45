"""Benchmark inputs: synthetic but realistic protein FASTA, generated with a fixed seed.

Real sequences (the DIAMOND nr 10k sample and the MMseqs2 example queries in
the shared data) are the parents; each synthetic record is a parent with a
random truncation (half of them) and ~10% random point mutations (residues
drawn from background amino-acid frequencies), so lengths, composition and
k-mer statistics stay those of real proteins while every record is distinct.
Headers are UniProt style, sequences wrapped at 60 columns.

The record stream is deterministic: the N-record file is the first N records
of the stream, whatever N, so the 10k file is a prefix of the 100k file,
which is a prefix of the 1M file. Files are written once into
``bench/out/data`` and reused.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import numpy as np
from Bio.SeqIO.FastaIO import SimpleFastaParser

ROOT: Final = Path(__file__).resolve().parent
OUT: Final = ROOT / "out"
DATA: Final = OUT / "data"


def shared_data() -> Path:
    """The shared data folder (``../shared/data`` from the project root, or ``$GENOCAT_SHARED_DATA``)."""
    env = os.environ.get("GENOCAT_SHARED_DATA")
    candidates = [Path(env)] if env else []
    candidates += [ROOT.parent.parent / "shared" / "data", Path("/work/shared/data")]
    for c in candidates:
        if (c / "proteins").is_dir():
            return c
    raise SystemExit("bench: the shared data folder (shared/data/proteins) was not found; set GENOCAT_SHARED_DATA")


def diamond_10k() -> Path:
    return shared_data() / "proteins" / "unlabeled" / "diamond_nr_10k.faa.gz"


def mmseqs_queries() -> Path:
    return shared_data() / "proteins" / "unlabeled" / "mmseqs2_QUERY.fasta"


def families_cap100() -> Path:
    return shared_data() / "proteins" / "labeled" / "families_cap100.faa"


SEED: Final = 20261126
MUTATION_RATE: Final = 0.10
WIDTH: Final = 60
BLOCK: Final = 8192
AMINO: Final = b"ARNDCQEGHILKMFPSTWYV"
# Robinson & Robinson background frequencies (the BLOSUM62 background, near enough).
FREQ: Final = np.array(
    [7.8, 5.1, 4.5, 5.4, 1.9, 4.3, 6.3, 7.4, 2.2, 5.1, 9.0, 5.7, 2.2, 3.9, 5.2, 7.1, 5.9, 1.3, 3.2, 6.5]
)
ORGANISMS: Final = (
    ("Homo sapiens", 9606), ("Mus musculus", 10090), ("Escherichia coli (strain K12)", 83333),
    ("Saccharomyces cerevisiae", 4932), ("Arabidopsis thaliana", 3702), ("Danio rerio", 7955),
    ("Bacillus subtilis", 1423), ("Drosophila melanogaster", 7227),
)
NAMES: Final = (
    "Some protein", "Uncharacterized protein", "ABC transporter ATP-binding protein", "Putative kinase",
    "Hypothetical protein", "DNA-binding response regulator", "Zinc finger protein", "Transcription factor",
)


def read_fasta(path: Path) -> list[tuple[str, str]]:
    """(title, sequence) pairs of a plain or gzipped FASTA file."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as fh:  # type: ignore[operator]
        return list(SimpleFastaParser(fh))


def parents() -> list[bytes]:
    """The real parent sequences: upper case, only the 20 standard residues, at least 20 long."""
    ok = set(AMINO)
    out = []
    for path in (diamond_10k(), mmseqs_queries()):
        for _, seq in read_fasta(path):
            s = seq.upper().rstrip("*").encode()
            if len(s) >= 20 and set(s) <= ok:
                out.append(s)
    return out


def records(n: int, seed: int = SEED) -> Iterator[tuple[int, bytes]]:
    """The first ``n`` records of the synthetic stream: ``(number, sequence)``, numbers from 1."""
    rng = np.random.default_rng(seed)
    base = parents()
    probs = FREQ / FREQ.sum()
    alphabet = np.frombuffer(AMINO, dtype=np.uint8)
    seen: set[bytes] = set()
    done = 0
    while done < n:
        m = min(BLOCK, n - done)
        pick = rng.integers(0, len(base), m)
        truncate = rng.random(m) < 0.5
        keep = rng.uniform(0.5, 1.0, m)
        where = rng.random(m)
        pieces = []
        for j in range(m):
            s = base[pick[j]]
            if truncate[j]:
                length = max(20, int(len(s) * keep[j]))
                start = int((len(s) - length) * where[j])
                s = s[start : start + length]
            pieces.append(s)
        lens = np.fromiter((len(p) for p in pieces), dtype=np.int64, count=m)
        offsets = np.zeros(m + 1, dtype=np.int64)
        np.cumsum(lens, out=offsets[1:])
        arr = np.frombuffer(b"".join(pieces), dtype=np.uint8).copy()
        mask = rng.random(arr.size) < MUTATION_RATE
        arr[mask] = alphabet[rng.choice(alphabet.size, int(mask.sum()), p=probs)]
        data = arr.tobytes()
        for j in range(m):
            seq = data[offsets[j] : offsets[j + 1]]
            digest = hashlib.md5(seq).digest()
            while digest in seen:  # rare: re-mutate until distinct
                a = np.frombuffer(seq, dtype=np.uint8).copy()
                a[rng.integers(0, a.size)] = alphabet[rng.integers(0, alphabet.size)]
                seq = a.tobytes()
                digest = hashlib.md5(seq).digest()
            seen.add(digest)
            done += 1
            yield done, seq


def header(n: int) -> str:
    os_name, taxid = ORGANISMS[n % len(ORGANISMS)]
    name = NAMES[(n // len(ORGANISMS)) % len(NAMES)]
    return f">tr|A0A{n:06d}|X{n}_ORG {name} OS={os_name} OX={taxid} GN=g{n} PE=4 SV=1"


def write_fasta(path: Path, n: int) -> None:
    tmp = path.with_suffix(path.suffix + ".part")
    with open(tmp, "w", encoding="ascii", newline="\n") as fh:
        chunk: list[str] = []
        for number, seq in records(n):
            s = seq.decode()
            chunk.append(header(number))
            chunk.extend(s[i : i + WIDTH] for i in range(0, len(s), WIDTH))
            if len(chunk) > 100_000:
                fh.write("\n".join(chunk) + "\n")
                chunk = []
        if chunk:
            fh.write("\n".join(chunk) + "\n")
    os.replace(tmp, path)


def synthetic(n: int, *, gz: bool = False, log=print) -> Path:
    """The ``n``-record synthetic file (``.faa``, or ``.faa.gz``), generated if missing."""
    DATA.mkdir(parents=True, exist_ok=True)
    plain = DATA / f"synthetic_{_label(n)}.faa"
    if not plain.exists():
        log(f"  generating {plain.name} ({n:,} records, seed {SEED})...")
        write_fasta(plain, n)
    if not gz:
        return plain
    packed = DATA / f"synthetic_{_label(n)}.faa.gz"
    if not packed.exists():
        log(f"  compressing {packed.name}...")
        tmp = packed.with_suffix(".gz.part")
        with open(plain, "rb") as src, gzip.open(tmp, "wb", compresslevel=6) as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        os.replace(tmp, packed)
    return packed


def _label(n: int) -> str:
    if n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n % 1000 == 0:
        return f"{n // 1000}k"
    return str(n)


def warm_page_cache(path: Path) -> None:
    """Read a file once so the first timed run does not pay for the disk."""
    with open(path, "rb") as fh:
        while fh.read(1 << 24):
            pass
