"""Dense vector schemes for protein search, side by side (issue 17, "better dense vectors").

The fast mode ranks by the k-mer column alone and the aligned mode aligns only the rows it ranks
first, so whatever family members the vectors miss are lost. This script measures, on the same
queries and the same database, the default k-mer vectors against the alternatives: exact 3-mers
(hashed to 512/768/1024 dimensions, and unhashed), spaced k-mers, reduced-alphabet 3/4-mers,
BLOSUM62-neighbourhood counts, k-mer weighting (IDF-like down-weighting of frequent k-mers,
sublinear counts) and concatenated blocks.

Queries: every protein of ``families_cap100.faa`` (579 proteins, 17 families). Databases:

* ``families``: the 579 proteins, all against all;
* ``background``: the same plus real proteins (DIAMOND's nr 10k sample, the MMseqs2 example
  queries, nr 300) that have no DIAMOND hit (``--more-sensitive``, E < 1e-3) to any family
  member, plus mutated copies of them (25-50 % substitutions drawn from background residue
  frequencies, 0-3 indels of 1-5 residues), ``--rows`` rows in all. Every background row is wrong.

Self hits are dropped. P@1, P@10; sens@50 = family members in the top 50 / min(50, family - 1);
cand@500 = family members in the top 500 / (family - 1): what a candidate step of 500 rows keeps.
The families are split into two halves (alternately by size) and each half is scored on its own,
so that a winner is not one tuned to a few families.

Every scheme is a linear map of exact k-mer counts (scipy sparse), then L2-normalised, so all
are computed the same way here; the embedder's compiled loop gives the same vectors for the one
chosen (``tests/test_embedder.py``).

Run: ``python -m bench.vectors_bench [--rows 50000] [--only NAME,...]``. Writes
``bench/out/vectors.json`` and ``bench/out/vectors.md``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np
from scipy import sparse

from .data import AMINO, FREQ, OUT, read_fasta, shared_data
from .util import table

SEED = 17_2
AA = AMINO.decode()
#: Reduced alphabets: Murphy et al. 2000 (the default embedder uses the 12-letter one).
MURPHY = {
    8: ("LVIMC", "AG", "ST", "P", "FYW", "EDNQ", "KR", "H"),
    10: ("LVIM", "C", "A", "G", "ST", "P", "FYW", "EDNQ", "KR", "H"),
    12: ("LVIM", "C", "A", "G", "ST", "P", "FY", "W", "EQ", "DN", "KR", "H"),
    15: ("LVIM", "C", "A", "G", "S", "T", "P", "FY", "W", "E", "D", "N", "Q", "KR", "H"),
}
Vectors: TypeAlias = Any  # a dense numpy array or a scipy CSR matrix


# ----------------------------------------------------------------------------------------------- data
def _clean(seq: str) -> str:
    return seq.upper().rstrip("*")


def families() -> tuple[list[str], list[str], np.ndarray]:
    recs = read_fasta(shared_data() / "proteins" / "labeled" / "families_cap100.faa")
    ids = [t.split()[0] for t, _ in recs]
    return ids, [_clean(s) for _, s in recs], np.array([i.split("|", 1)[0] for i in ids])


def real_background(fam_ids: list[str], fam_seqs: list[str], log: Callable[[str], None]) -> list[str]:
    """Real proteins with no DIAMOND hit (E < 1e-3, --more-sensitive) to any family member."""
    unl = shared_data() / "proteins" / "unlabeled"
    seen: dict[str, str] = {}
    kept: set[str] = set()
    for name in ("diamond_nr_10k.faa.gz", "mmseqs2_QUERY.fasta", "diamond_nr_300.faa"):
        for _, s in read_fasta(unl / name):
            s = _clean(s)
            if len(s) >= 30 and s not in kept:
                kept.add(s)
                seen[f"bg{len(seen)}"] = s
    with tempfile.TemporaryDirectory() as tmp:
        fam = Path(tmp) / "fam.faa"
        fam.write_text("".join(f">{i}\n{s}\n" for i, s in zip(fam_ids, fam_seqs, strict=True)))
        bg = Path(tmp) / "bg.faa"
        bg.write_text("".join(f">{i}\n{s}\n" for i, s in seen.items()))
        subprocess.run(["diamond", "makedb", "--in", str(fam), "-d", f"{tmp}/fam", "--quiet"], check=True)
        subprocess.run(["diamond", "blastp", "-q", str(bg), "-d", f"{tmp}/fam", "-o", f"{tmp}/hits.tsv",
                        "--more-sensitive", "-e", "1e-3", "--max-target-seqs", "1", "--threads", "2", "--quiet"],
                       check=True)
        hit = {line.split("\t", 1)[0] for line in Path(f"{tmp}/hits.tsv").read_text().splitlines()}
    log(f"  background: {len(seen):,} real proteins, {len(hit):,} dropped (DIAMOND hit to a family member)")
    return [s for i, s in seen.items() if i not in hit]


def mutated(seq: str, rng: np.random.Generator) -> str:
    """A copy with 25-50 % substitutions (background frequencies) and 0-3 indels of 1-5 residues."""
    alphabet = np.frombuffer(AMINO, dtype=np.uint8)
    arr = np.frombuffer(seq.encode(), dtype=np.uint8).copy()
    mask = rng.random(arr.size) < rng.uniform(0.25, 0.50)
    arr[mask] = alphabet[rng.choice(20, int(mask.sum()), p=FREQ / FREQ.sum())]
    out = arr.tobytes().decode()
    for _ in range(int(rng.integers(0, 4))):
        at, size = int(rng.integers(0, len(out))), int(rng.integers(1, 6))
        if rng.random() < 0.5:
            out = out[:at] + out[at + size :]
        else:
            out = out[:at] + "".join(rng.choice(list(AA), size)) + out[at:]
    return out


def background(real: list[str], rows: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    out = list(real)
    while len(out) < rows:
        out.append(mutated(real[int(rng.integers(0, len(real)))], rng))
    return out[:rows]


# -------------------------------------------------------------------------------------- k-mer counts
def codes_of(seqs: list[str], groups: tuple[str, ...] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Residue codes (``len(alphabet)`` = not in it) and record offsets of packed sequences."""
    letters = groups or tuple(AA)
    lut = np.full(256, len(letters), dtype=np.uint8)
    for code, group in enumerate(letters):
        for c in group:
            lut[ord(c)] = code
    data = np.frombuffer("".join(seqs).encode("ascii", errors="replace"), dtype=np.uint8)
    offsets = np.zeros(len(seqs) + 1, dtype=np.int64)
    np.cumsum([len(s) for s in seqs], out=offsets[1:])
    return lut[data], offsets


def counts(seqs: list[str], pattern: str, groups: tuple[str, ...] | None = None) -> sparse.csr_matrix:
    """Exact counts of the spaced k-mers ``pattern`` (``1`` = a position read, ``0`` skipped)."""
    codes, offsets = codes_of(seqs, groups)
    a = len(groups or AA)
    pos = [i for i, c in enumerate(pattern) if c == "1"]
    span = len(pattern)
    n = len(seqs)
    rows_out, cols_out = [], []
    step = 4096
    for lo in range(0, n, step):
        hi = min(n, lo + step)
        c = codes[offsets[lo] : offsets[hi]].astype(np.int64)
        off = offsets[lo : hi + 1] - offsets[lo]
        w = c.size - span + 1
        if w <= 0:
            continue
        idx = np.zeros(w, dtype=np.int64)
        bad = np.zeros(w, dtype=bool)
        for p in pos:
            idx = idx * a + c[p : p + w]
            bad |= c[p : p + w] >= a
        row = np.repeat(np.arange(lo, hi), np.diff(off))[:w]
        end = np.repeat(off[1:], np.diff(off))[:w]
        ok = ~bad & (np.arange(w) + span <= end)
        rows_out.append(row[ok])
        cols_out.append(idx[ok])
    r, col = np.concatenate(rows_out), np.concatenate(cols_out)
    return sparse.csr_matrix((np.ones(r.size, np.float32), (r, col)), shape=(n, a ** len(pos)))


def splitmix64(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        z = x.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def hashing(space: int, dim: int, seed: int) -> sparse.csr_matrix:
    """Signed feature hashing as a sparse ``space x dim`` matrix of +-1."""
    h = splitmix64(np.arange(space, dtype=np.uint64) + np.uint64(seed << 32))
    bucket = (h % np.uint64(dim)).astype(np.int64)
    sign = np.where((h >> np.uint64(63)) == 0, 1.0, -1.0).astype(np.float32)
    return sparse.csr_matrix((sign, (np.arange(space), bucket)), shape=(space, dim))


def normalise(v: Vectors) -> Vectors:
    if sparse.issparse(v):
        norms = np.sqrt(np.asarray(v.multiply(v).sum(axis=1))).ravel()
        norms[norms == 0] = 1
        return sparse.csr_matrix(sparse.diags(1 / norms) @ v, dtype=np.float32)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    norms[norms == 0] = 1
    return (v / norms).astype(np.float32)


# --------------------------------------------------------------------------------- k-mer weightings
def composition_idf(k: int) -> np.ndarray:
    """-log of a k-mer's expected frequency from background residue frequencies (Robinson & Robinson).

    k-mers of common residues (LLL, AAA, EEE, SSS) turn up in unrelated proteins by chance more
    often: they count less. Needs 20 numbers, no corpus. The weights are divided by their mean.
    """
    p = FREQ / FREQ.sum()
    logp = np.log(p)
    total = np.zeros(1)
    for _ in range(k):
        total = (total[:, None] + logp[None, :]).ravel()
    w = -total
    return (w / w.mean()).astype(np.float32)


def corpus_idf(seqs: list[str], k: int) -> np.ndarray:
    """log(N / df) over a corpus (smoothed), divided by its mean."""
    c = counts(seqs, "1" * k)
    df = np.bincount(c.indices, minlength=c.shape[1])
    w = np.log((len(seqs) + 1) / (df + 1)) + 1
    return (w / w.mean()).astype(np.float32)


def blosum_kernel(threshold: int, k: int = 3, *, with_self: bool = False) -> sparse.csr_matrix:
    """k-mer neighbourhood: x counts into every y whose BLOSUM62 score s(x, y) >= threshold, weight 1.

    As BLAST's word threshold: k-mers of low-scoring residues (LLL: 12) have no neighbour, not even
    themselves, at T > 12, unless ``with_self``.
    """
    from Bio.Align import substitution_matrices

    b = substitution_matrices.load("BLOSUM62")
    m = np.array([[b[x][y] for y in AA] for x in AA], dtype=np.int16)
    score = np.zeros((1, 1), dtype=np.int16)
    for _ in range(k):
        score = (score[:, None, :, None] + m[None, :, None, :]).reshape(score.shape[0] * 20, -1)
    hit = score >= threshold
    if with_self:
        np.fill_diagonal(hit, True)
    r, c = np.nonzero(hit)
    return sparse.csr_matrix((np.ones(r.size, np.float32), (r, c)), shape=score.shape)


def spectral_map(beta: float, dim: int, k: int = 3) -> np.ndarray:
    """Truncated feature map of the product kernel prod_i exp(beta * BLOSUM62(x_i, y_i)) over k-mers.

    The residue kernel exp(beta * B) is positive definite for these beta, so a residue has features
    F = V sqrt(L) (its eigenvectors, largest first); a k-mer's are the tensor product of its residues',
    and the ``dim`` product components with the largest eigenvalues are kept: no hashing noise, only
    truncation. Returns the (20^k x dim) map.
    """
    from Bio.Align import substitution_matrices

    b = substitution_matrices.load("BLOSUM62")
    m = np.array([[b[x][y] for y in AA] for x in AA], dtype=np.float64)
    lam, vec = np.linalg.eigh(np.exp(beta * m))
    lam, vec = lam[::-1], vec[:, ::-1]
    feats = vec * np.sqrt(np.maximum(lam, 0))
    prod = np.ones(1)
    for _ in range(k):
        prod = (prod[:, None] * lam[None, :]).ravel()
    keep = np.argsort(-prod, kind="stable")[:dim]
    digits = (keep[:, None] // 20 ** np.arange(k - 1, -1, -1)) % 20  # (dim, k) component per position
    kmers = (np.arange(20**k)[:, None] // 20 ** np.arange(k - 1, -1, -1)) % 20  # (space, k) residues
    out = np.ones((20**k, dim))
    for p in range(k):
        out *= feats[kmers[:, p]][:, digits[:, p]]
    return out.astype(np.float32)


def spectral(seqs: list[str], beta: float, dim: int) -> np.ndarray:
    c = counts(seqs, "111")
    return normalise(np.asarray(c @ spectral_map(beta, dim), dtype=np.float32))


# ----------------------------------------------------------------------------------------- schemes
#: Robinson & Robinson 1991 (BLAST's background; ``bench.data.FREQ`` rounds them), in the order of AMINO.
ROBINSON = np.array([7.805, 5.129, 4.487, 5.364, 1.925, 4.264, 6.295, 7.377, 2.199, 5.142, 9.019, 5.744, 2.243,
                     3.856, 5.203, 7.120, 5.841, 1.330, 3.216, 6.441])


def expected_kmers(k: int) -> np.ndarray:
    """A k-mer's frequency in random sequence of background residue frequencies (20 amino acids)."""
    p = ROBINSON / ROBINSON.sum()
    out = np.ones(1)
    for _ in range(k):
        out = (out[:, None] * p[None, :]).ravel()
    return out.astype(np.float32)


def centred(seqs: list[str], k: int, dim: int | None, kernel: sparse.csr_matrix | None, seed: int = 3000) -> Vectors:
    """Counts minus what a random sequence of the same number of windows is expected to count.

    The expectation (windows x the background k-mer frequencies, through the same kernel and
    hashing) is the part every pair of sequences shares by chance, the more the longer they are.
    """
    c = counts(seqs, "1" * k)
    windows = np.asarray(c.sum(axis=1), dtype=np.float32)
    mapping = kernel if kernel is not None else sparse.identity(c.shape[1], format="csr", dtype=np.float32)
    if dim is not None:
        mapping = sparse.csr_matrix(mapping @ hashing(c.shape[1], dim, seed))
    mapped = mapping.toarray() if dim is not None else mapping
    mean = np.asarray(expected_kmers(k) @ mapped, dtype=np.float32).ravel()
    v = np.asarray((c @ mapped).toarray() if sparse.issparse(c @ mapped) else c @ mapped, dtype=np.float32)
    return normalise(v - windows * mean[None, :])


def block(seqs: list[str], pattern: str, dim: int | None, *, groups: tuple[str, ...] | None = None,
          weight: np.ndarray | None = None, tf: str = "raw", kernel: sparse.csr_matrix | None = None,
          seed: int = 3000) -> Vectors:
    """One block: spaced/contiguous k-mer counts, optional tf transform, weights, kernel, hashing."""
    c = counts(seqs, pattern, groups)
    if tf == "sqrt":
        c.data = np.sqrt(c.data)
    elif tf == "log":
        c.data = 1 + np.log(c.data)
    if weight is not None:
        c = sparse.csr_matrix(c @ sparse.diags(weight))
    if kernel is not None and dim is not None:
        # Neighbours then hashing, as one dense (space x dim) map: c @ kernel itself is near dense.
        mapped = np.asarray((kernel @ hashing(kernel.shape[1], dim, seed)).todense(), dtype=np.float32)
        return normalise(np.asarray(c @ mapped, dtype=np.float32))
    if kernel is not None:
        c = sparse.csr_matrix(c @ kernel)
    if dim is None:
        return normalise(c)
    return normalise(np.asarray((c @ hashing(c.shape[1], dim, seed)).todense(), dtype=np.float32))


def concat(*blocks: Vectors) -> np.ndarray:
    """Blocks side by side, each unit length, scaled so the whole is unit length (cosine = mean)."""
    dense = [b.toarray() if sparse.issparse(b) else b for b in blocks]
    return (np.hstack(dense) / np.sqrt(len(dense))).astype(np.float32)


def default_embedder(seqs: list[str]) -> np.ndarray:
    from genocat_desktop.engine.embed.embedders.base import create, new_column_params

    return create("kmer", **new_column_params("kmer")).embed(seqs)


def legacy_embedder(seqs: list[str]) -> np.ndarray:
    from genocat_desktop.engine.embed.embedders.kmer import KmerEmbedder

    return KmerEmbedder().embed(seqs)


def schemes(idf_corpus: list[str]) -> dict[str, tuple[int, Callable[[list[str]], Vectors]]]:
    """name -> (dimension, embed function)."""
    comp3 = composition_idf(3)
    data3 = corpus_idf(idf_corpus, 3)
    s: dict[str, tuple[int, Callable[[list[str]], Vectors]]] = {
        "current default: Murphy-12 4-mers h512": (512, legacy_embedder),
        "new-column default (this build)": (512, default_embedder),
        "exact 2-mers (400)": (400, lambda x: block(x, "11", None)),
        "exact 3-mers (8000, unhashed)": (8000, lambda x: block(x, "111", None)),
        "exact 3-mers h512": (512, lambda x: block(x, "111", 512)),
        "exact 3-mers h768": (768, lambda x: block(x, "111", 768)),
        "exact 3-mers h1024": (1024, lambda x: block(x, "111", 1024)),
        "Murphy-15 3-mers h512": (512, lambda x: block(x, "111", 512, groups=MURPHY[15])),
        "Murphy-8 3-mers (512, unhashed)": (512, lambda x: block(x, "111", None, groups=MURPHY[8])),
        "Murphy-10 3-mers (1000, unhashed)": (1000, lambda x: block(x, "111", None, groups=MURPHY[10])),
        "Murphy-10 4-mers h1024": (1024, lambda x: block(x, "1111", 1024, groups=MURPHY[10])),
        "Murphy-12 3-mers (1728, unhashed)": (1728, lambda x: block(x, "111", None, groups=MURPHY[12])),
        "Murphy-10 4-mers h512": (512, lambda x: block(x, "1111", 512, groups=MURPHY[10])),
        "spaced 1101 h512": (512, lambda x: block(x, "1101", 512)),
        "spaced 1011 h512": (512, lambda x: block(x, "1011", 512)),
        "spaced 11011 Murphy-12 h512": (512, lambda x: block(x, "11011", 512, groups=MURPHY[12])),
        "exact 3-mers sqrt-tf h512": (512, lambda x: block(x, "111", 512, tf="sqrt")),
        "exact 3-mers composition-IDF h512": (512, lambda x: block(x, "111", 512, weight=comp3)),
        "exact 3-mers corpus-IDF h512": (512, lambda x: block(x, "111", 512, weight=data3)),
        "BLOSUM62 3-mer neighbours T>=11 h512": (512, lambda x: block(x, "111", 512, kernel=blosum_kernel(11))),
        "BLOSUM62 3-mer neighbours T>=13 h512": (512, lambda x: block(x, "111", 512, kernel=blosum_kernel(13))),
        "BLOSUM62 3-mer neighbours T>=13 h1024": (1024, lambda x: block(x, "111", 1024, kernel=blosum_kernel(13))),
        "BLOSUM62 3-mer neighbours T>=14 h512": (512, lambda x: block(x, "111", 512, kernel=blosum_kernel(14))),
        "BLOSUM62 3-mer neighbours T>=15 h512": (512, lambda x: block(x, "111", 512, kernel=blosum_kernel(15))),
        "BLOSUM62 3-mer neighbours T>=15 + self h512": (
            512, lambda x: block(x, "111", 512, kernel=blosum_kernel(15, with_self=True))),
        "BLOSUM62 3-mer neighbours T>=15 h768": (768, lambda x: block(x, "111", 768, kernel=blosum_kernel(15))),
        "BLOSUM62 3-mer neighbours T>=15 (8000, unhashed)": (
            8000, lambda x: block(x, "111", None, kernel=blosum_kernel(15))),
        "exact 3-mers centred h512": (512, lambda x: centred(x, 3, 512, None)),
        "BLOSUM62 3-mer neighbours T>=15 centred h512": (512, lambda x: centred(x, 3, 512, blosum_kernel(15))),
        "BLOSUM62 3-mer neighbours T>=14 centred h512": (512, lambda x: centred(x, 3, 512, blosum_kernel(14))),
        "BLOSUM62 3-mer neighbours T>=13 centred h512": (512, lambda x: centred(x, 3, 512, blosum_kernel(13))),
        "BLOSUM62 3-mer neighbours T>=12 centred h512": (512, lambda x: centred(x, 3, 512, blosum_kernel(12))),
        "BLOSUM62 3-mer neighbours T>=11 centred h512": (512, lambda x: centred(x, 3, 512, blosum_kernel(11))),
        "BLOSUM62 3-mer neighbours T>=13 centred h768": (768, lambda x: centred(x, 3, 768, blosum_kernel(13))),
        "BLOSUM62 3-mer neighbours T>=16 h512": (512, lambda x: block(x, "111", 512, kernel=blosum_kernel(16))),
        "BLOSUM62 3-mer kernel, spectral beta 0.2 (512)": (512, lambda x: spectral(x, 0.2, 512)),
        "BLOSUM62 3-mer kernel, spectral beta 0.35 (512)": (512, lambda x: spectral(x, 0.35, 512)),
        "BLOSUM62 3-mer kernel, spectral beta 0.5 (512)": (512, lambda x: spectral(x, 0.5, 512)),
        "exact 3-mers h512 + spaced 1101 h512": (
            1024, lambda x: concat(block(x, "111", 512), block(x, "1101", 512, seed=3100))),
        "exact 3-mers h512 + Murphy-10 4-mers h512": (
            1024, lambda x: concat(block(x, "111", 512), block(x, "1111", 512, groups=MURPHY[10], seed=3100))),
        "exact 3-mers h512 + current default": (1024, lambda x: concat(block(x, "111", 512), legacy_embedder(x))),
        "exact 3-mers + spaced 1101 + 1011, comp-IDF, h512 each": (1536, lambda x: concat(
            block(x, "111", 512, weight=comp3), block(x, "1101", 512, weight=comp3, seed=3100),
            block(x, "1011", 512, weight=comp3, seed=3200))),
        "exact 3-mers + spaced 1101, comp-IDF, h512 each": (1024, lambda x: concat(
            block(x, "111", 512, weight=comp3), block(x, "1101", 512, weight=comp3, seed=3100))),
        "exact 3-mers + spaced 1101, comp-IDF, h384 each": (768, lambda x: concat(
            block(x, "111", 384, weight=comp3), block(x, "1101", 384, weight=comp3, seed=3100))),
    }
    return s


# ------------------------------------------------------------------------------------------ scoring
def top_hits(q: Vectors, db: Vectors, self_rows: np.ndarray, top: int) -> np.ndarray:
    """Indexes of the ``top`` best database rows per query, best first, the query's own row dropped."""
    out = np.empty((q.shape[0], top), dtype=np.int64)
    for lo in range(0, q.shape[0], 64):
        qs = q[lo : lo + 64]
        sims = qs @ db.T
        sims = sims.toarray() if sparse.issparse(sims) else np.asarray(sims)
        sims[np.arange(sims.shape[0]), self_rows[lo : lo + 64]] = -np.inf
        part = np.argpartition(-sims, top, axis=1)[:, :top]
        order = np.argsort(-np.take_along_axis(sims, part, axis=1), axis=1, kind="stable")
        out[lo : lo + 64] = np.take_along_axis(part, order, axis=1)
    return out


def metrics(hits: np.ndarray, labels: np.ndarray, db_labels: np.ndarray, which: np.ndarray) -> dict[str, float]:
    """P@1, P@10, sens@50 and cand@500 over the queries ``which`` (a boolean mask)."""
    fam = np.array([(labels == lab).sum() - 1 for lab in labels])
    ok = which & (fam > 0)
    same = db_labels[hits[ok]] == labels[ok][:, None]
    f = fam[ok]
    return {
        "p_at_1": float(same[:, 0].mean()),
        "p_at_10": float(same[:, :10].mean()),
        "sens_at_50": float((same[:, :50].sum(axis=1) / np.minimum(f, 50)).mean()),
        "cand_at_500": float((same[:, :500].sum(axis=1) / f).mean()),
        "queries": int(ok.sum()),
    }


def halves(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The families in two halves, alternately by size (largest first): masks over the queries."""
    names, sizes = np.unique(labels, return_counts=True)
    order = names[np.argsort(-sizes, kind="stable")]
    first = set(order[0::2].tolist())
    a = np.array([lab in first for lab in labels])
    return a, ~a


def evaluate(fn: Callable[[list[str]], Vectors], fam: list[str], labels: np.ndarray, bg: list[str],
             real: int) -> dict[str, Any]:
    """Scores on three databases: the families, plus the first ``real`` background rows, plus all."""
    t = time.perf_counter()
    vec = fn(fam + bg)
    seconds = time.perf_counter() - t
    vec = sparse.csr_matrix(vec) if sparse.issparse(vec) else np.ascontiguousarray(vec, dtype=np.float32)
    n = len(fam)
    rows = np.arange(n)
    all_q = np.ones(n, dtype=bool)
    half_a, half_b = halves(labels)
    db_labels = np.concatenate([labels, np.array(["~background"] * len(bg))])
    fam_hits = top_hits(vec[:n], vec[:n], rows, min(500, n - 1))
    real_hits = top_hits(vec[:n], vec[: n + real], rows, 500)
    bg_hits = top_hits(vec[:n], vec, rows, 500)
    res: dict[str, Any] = {"embed_seconds": seconds, "rows": n + len(bg)}
    for label, hits, dbl in (("families", fam_hits, labels), ("real", real_hits, db_labels[: n + real]),
                             ("background", bg_hits, db_labels)):
        res[label] = metrics(hits, labels, dbl, all_q)
        res[label + "_half_a"] = metrics(hits, labels, dbl, half_a)
        res[label + "_half_b"] = metrics(hits, labels, dbl, half_b)
    return res


# ------------------------------------------------------------------------------------------- report
def spearman(a: list[float], b: list[float]) -> float:
    ra = np.argsort(np.argsort(-np.asarray(a)))
    rb = np.argsort(np.argsort(-np.asarray(b)))
    return float(np.corrcoef(ra, rb)[0, 1])


def report(res: dict[str, Any]) -> str:
    names = list(res["schemes"])
    r = res["schemes"]
    rows = []
    for n in names:
        f, q, b = r[n]["families"], r[n]["real"], r[n]["background"]
        rows.append([n, r[n]["dim"], f"{f['p_at_1']:.3f}", f"{f['sens_at_50']:.3f}", f"{q['p_at_1']:.3f}",
                     f"{q['sens_at_50']:.3f}", f"{b['p_at_1']:.3f}", f"{b['p_at_10']:.3f}", f"{b['sens_at_50']:.3f}",
                     f"{b['cand_at_500']:.3f}", f"{r[n]['background_half_a']['sens_at_50']:.3f}",
                     f"{r[n]['background_half_b']['sens_at_50']:.3f}"])
    head = ["scheme", "dim", "fam P@1", "fam sens@50", "real P@1", "real sens@50", "bg P@1", "bg P@10",
            "bg sens@50", "bg cand@500", "bg half A sens@50", "bg half B sens@50"]
    lines = [
        f"# Dense vectors for protein search ({res['families']} family proteins as queries, "
        f"{res['background_rows']:,} background rows)", "",
        "Columns `fam`: the 579 proteins all against all. `real`: the same queries against the families plus "
        f"{res['real_background']:,} real proteins with no DIAMOND hit to a family (nr 10k, MMseqs2 queries, nr 300). "
        f"`bg`: against the families plus {res['background_rows']:,} background rows (those real proteins and "
        "mutated copies of them, 25-50 % substitutions, 0-3 indels). Background hits count as wrong; self hits "
        "are dropped. Half A / half B: the families split in two (alternately by size), scored apart. "
        "`new-column default (this build)`: the engine's k-mer embedder with the parameters new columns record "
        f"({res.get('new_column_params', '')}); the other rows are computed here from exact k-mer counts "
        "(scipy), `h512` = signed feature hashing into 512 dimensions, `centred` = less the counts a random "
        "sequence of background residue frequencies is expected to have.", "",
        table(head, rows), "",
        "Agreement of the two halves on the order of the schemes (Spearman rank correlation):", "",
    ]
    for db in ("real", "background"):
        for metric in ("p_at_1", "sens_at_50", "cand_at_500"):
            a = [r[n][f"{db}_half_a"][metric] for n in names]
            b = [r[n][f"{db}_half_b"][metric] for n in names]
            lines.append(f"- {db} database, {metric}: {spearman(a, b):.2f}")
    rate = res.get("embed_rate", {})
    if rate:
        old, new = rate["current default"], rate["new-column default"]
        total = res["families"] + res["background_rows"]
        lines += ["", f"Embedding speed (the engine's compiled loop, these {total:,} proteins, one core): "
                  f"current default {old:,.0f} sequences per CPU second, new-column default {new:,.0f} "
                  f"({new / old:.2f}x)."]
    lines += ["", f"Half A families: {', '.join(res['half_a'])}.", f"Half B families: {', '.join(res['half_b'])}.",
              "", f"Run: `python -m bench.vectors_bench --rows {res['background_rows'] + res['families']}`, "
              f"{res['seconds']:.0f} s, seed {SEED}."]
    return "\n".join(lines) + "\n"


def embedding_rates(seqs: list[str], runs: int = 3) -> dict[str, float]:
    """Sequences per CPU second of the engine's embedder, old and new-column parameters (best of runs)."""
    out = {}
    for name, fn in (("current default", legacy_embedder), ("new-column default", default_embedder)):
        best = float("inf")
        for _ in range(runs):
            c = time.process_time()
            fn(seqs)
            best = min(best, time.process_time() - c)
        out[name] = len(seqs) / best
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=50_000, help="rows of the background database, families included")
    ap.add_argument("--only", default="", help="comma-separated substrings of scheme names to run")
    ap.add_argument("--out", default=str(OUT / "vectors"), help="output path without extension")
    ap.add_argument("--merge", action="store_true",
                    help="update the chosen schemes in the existing output (same --rows) instead of replacing it")
    args = ap.parse_args(argv)
    started = time.perf_counter()
    ids, fam, labels = families()
    real = real_background(ids, fam, print)
    bg = background(real, args.rows - len(fam), SEED)
    all_schemes = schemes(real[: len(real) // 2])
    chosen = [n for n in all_schemes if not args.only or any(o in n for o in args.only.split(","))]
    half_a, _ = halves(labels)
    res: dict[str, Any] = {"families": len(fam), "background_rows": len(bg), "real_background": len(real),
                           "half_a": sorted(set(labels[half_a].tolist())),
                           "half_b": sorted(set(labels[~half_a].tolist())), "schemes": {}}
    out = Path(args.out)
    if args.merge and out.with_suffix(".json").exists():
        old = json.loads(out.with_suffix(".json").read_text())
        if old["background_rows"] != len(bg):
            raise SystemExit(f"{out}.json has {old['background_rows']} background rows, not {len(bg)}")
        res["schemes"] = old["schemes"]
        started -= old["seconds"]
    for name in chosen:
        dim, fn = all_schemes[name]
        r = evaluate(fn, fam, labels, bg, min(len(real), len(bg))) | {"dim": dim}
        res["schemes"][name] = r
        f, b = r["families"], r["background"]
        print(f"{name:55s} fam P@1 {f['p_at_1']:.3f} s50 {f['sens_at_50']:.3f} | real s50 "
              f"{r['real']['sens_at_50']:.3f} | bg P@1 {b['p_at_1']:.3f} "
              f"P@10 {b['p_at_10']:.3f} s50 {b['sens_at_50']:.3f} c500 {b['cand_at_500']:.3f} "
              f"({r['embed_seconds']:.1f} s)", flush=True)
    res["schemes"] = {n: res["schemes"][n] for n in all_schemes if n in res["schemes"]}  # the list's order
    res["embed_rate"] = embedding_rates(fam + bg)
    from genocat_desktop.engine.embed.embedders.base import new_column_params

    res["new_column_params"] = new_column_params("kmer")
    res["seconds"] = time.perf_counter() - started
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(res, indent=1) + "\n")
    out.with_suffix(".md").write_text(report(res))
    print(report(res))


if __name__ == "__main__":
    main()
