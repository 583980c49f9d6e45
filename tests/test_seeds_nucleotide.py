"""The nucleotide seed prefilter (engine/search/seeds.py, NUCLEOTIDE_SEEDS) and the DNA ``sensitive`` mode.

Synthetic rows check the seeding itself (both strands, N, U, the significance cut-off); the real
genes of ``../shared/data/dna/`` check the search: a minus-strand gene fragment found first, ``auto``
choosing the seeds for a gene catalog, and the same best hits and bits as aligning every row.
Deterministic: fixed seeds, no timing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from genocat_desktop.engine import Catalog
from genocat_desktop.engine.search.modes import (
    EXHAUSTIVE_MAX_NUCLEOTIDES,
    SEEDED_MAX_NUCLEOTIDES,
    choose_mode,
)
from genocat_desktop.engine.search.seeds import (
    NUCLEOTIDE_SEEDS,
    SeedIndex,
    SeedParams,
    compiled,
    encode,
    nucleotide_params,
    ungapped_cutoff,
)

GENES = Path(__file__).resolve().parents[2] / "shared" / "data" / "dna" / "CP040672.1.genes_100.fna"
COMPLEMENT = str.maketrans("ACGT", "TGCA")

pytestmark = pytest.mark.skipif(not compiled(), reason="the compiled seed loops are not built")


def revcomp(seq: str) -> str:
    return seq.translate(COMPLEMENT)[::-1]


def substituted(rng: np.random.Generator, seq: str, fraction: float) -> str:
    out = list(seq)
    for i in rng.choice(len(out), size=round(len(out) * fraction), replace=False):
        out[i] = str(rng.choice([b for b in "ACGT" if b != out[i]]))
    return "".join(out)


@pytest.fixture(scope="module")
def rows() -> tuple[np.ndarray, list[str]]:
    rng = np.random.default_rng(11)
    seqs = ["".join(rng.choice(list("ACGT"), int(rng.integers(300, 3000)))) for _ in range(400)]
    return np.arange(len(seqs), dtype=np.int64) * 7 + 3, seqs


def test_a_diverged_fragment_is_found_first_on_either_strand(rows: tuple[np.ndarray, list[str]]) -> None:
    ids, seqs = rows
    index = SeedIndex.build(ids, seqs, params=NUCLEOTIDE_SEEDS)
    rng = np.random.default_rng(5)
    for target in (10, 200, 399):
        start = int(rng.integers(0, len(seqs[target]) - 200))
        fragment = substituted(rng, seqs[target][start:start + 200], 0.15)
        plus, plus_scores = index.candidates(fragment, 5)
        minus, minus_scores = index.candidates(revcomp(fragment), 5)
        assert plus[0] == minus[0] == ids[target]
        # the reverse complement is the same alignment read from the other strand: the same score
        assert plus_scores[0] == minus_scores[0] > 2 * 11


def test_one_strand_only_misses_the_reverse_complement(rows: tuple[np.ndarray, list[str]]) -> None:
    ids, seqs = rows
    forward = SeedIndex.build(ids, seqs, params=nucleotide_params(both_strands=False))
    fragment = revcomp(seqs[42][100:300])
    found, _ = forward.candidates(fragment, 5)
    assert ids[42] not in found[:1]
    both = SeedIndex.build(ids, seqs, params=NUCLEOTIDE_SEEDS)
    found, scores = both.candidates(fragment, 5)
    assert found[0] == ids[42] and scores[0] == 2 * 200  # an exact 200 bp match, 2 per base
    others = np.setdiff1d(ids, ids[42:43])
    assert ids[42] not in both.candidates(fragment, 5, others)[0]  # a filter holds on both strands


def test_n_never_seeds_and_u_reads_as_t(rows: tuple[np.ndarray, list[str]]) -> None:
    ids, seqs = rows
    index = SeedIndex.build(ids, seqs, params=NUCLEOTIDE_SEEDS)
    assert index.candidates("N" * 300, 10)[0].size == 0
    assert list(encode("ACGTUNacgtu", "ACGT")) == [0, 1, 2, 3, 3, 20, 0, 1, 2, 3, 3]
    rna = seqs[7][50:250].replace("T", "U").lower()
    assert index.candidates(rna, 1)[0][0] == ids[7]


def test_a_spaced_template_is_exact_over_its_ones(rows: tuple[np.ndarray, list[str]]) -> None:
    ids, seqs = rows
    params = nucleotide_params("1101101101101101")  # discontiguous megablast's 11-of-16 coding template
    assert params.threshold > params.weight * 2  # no similar words: exact matches only
    index = SeedIndex.build(ids, seqs, params=params)
    fragment = substituted(np.random.default_rng(3), seqs[300][:400], 0.15)
    assert index.candidates(revcomp(fragment), 1)[0][0] == ids[300]


def test_the_significance_cut_off_follows_the_search_space(rows: tuple[np.ndarray, list[str]]) -> None:
    small = ungapped_cutoff(NUCLEOTIDE_SEEDS, 500, 10**6, 10.0)
    assert ungapped_cutoff(NUCLEOTIDE_SEEDS, 500, 10**8, 10.0) > small > ungapped_cutoff(NUCLEOTIDE_SEEDS, 500,
                                                                                          10**6, 100.0)
    with pytest.raises(ValueError, match="no ungapped statistics"):
        ungapped_cutoff(SeedParams(), 500, 10**6, 10.0)
    ids, seqs = rows
    index = SeedIndex.build(ids, seqs, params=NUCLEOTIDE_SEEDS)
    residues = sum(len(s) for s in seqs)
    fragment = seqs[5][:300]
    found, scores = index.significant(fragment, 100, None, residues, 10.0)
    everything, _ = index.candidates(fragment, 100)
    assert found[0] == ids[5] and len(found) < len(everything)  # random word hits are not aligned
    assert (scores >= ungapped_cutoff(NUCLEOTIDE_SEEDS, len(fragment), residues, 10.0)).all()


def test_modes_seed_nucleotide_catalogs() -> None:
    assert choose_mode("sensitive", True, 10**6, 1000).mode == "sensitive"
    assert choose_mode("auto", True, EXHAUSTIVE_MAX_NUCLEOTIDES, 50).mode == "exhaustive"
    assert choose_mode("auto", True, EXHAUSTIVE_MAX_NUCLEOTIDES + 1, 50).mode == "sensitive"
    assert choose_mode("auto", True, SEEDED_MAX_NUCLEOTIDES + 1, 10**6).mode == "align"


@pytest.fixture(scope="module")
def gene_catalog(tmp_path_factory: pytest.TempPathFactory) -> tuple[Catalog, list[tuple[str, str, str]]]:
    if not GENES.is_file():
        pytest.skip("../shared/data/dna is absent")
    from Bio.SeqIO.FastaIO import SimpleFastaParser

    from genocat_desktop.engine import import_files

    catalog = Catalog.open(str(tmp_path_factory.mktemp("dna") / "catalog"), create=True)
    import_files(catalog, [GENES])
    with GENES.open() as handle:
        genes = [(h.split()[0], h, s.upper()) for h, s in SimpleFastaParser(handle)]
    return catalog, genes


def test_a_real_minus_strand_fragment_is_found_first_by_the_seeds(
        gene_catalog: tuple[Catalog, list[tuple[str, str, str]]]) -> None:
    """A fragment read from the contig where a minus-strand gene lies is the gene's reverse complement."""
    from genocat_desktop.engine import Searcher
    from genocat_desktop.engine.search.queries import Query

    catalog, genes = gene_catalog
    searcher = Searcher(catalog)
    minus = [(gid, seq) for gid, header, seq in genes if "complement(" in header and len(seq) >= 600][:12]
    assert len(minus) >= 10
    rng = np.random.default_rng(2)
    for gid, seq in minus:
        start = int(rng.integers(0, len(seq) - 300))
        fragment = revcomp(substituted(rng, seq[start:start + 300], 0.10))
        result = searcher.search(Query(gid, fragment, "dna"), k=3, mode="auto")  # the fronts' default
        assert result.extra["mode"] == "sensitive", result.extra["mode_reason"]  # 108 kbp of genes: seeded
        top = result.hits.to_pylist()[0]
        assert (top["id"], top["sstrand"]) == (gid, "minus")
        assert top["evalue"] < 1e-50


def test_the_seeds_keep_the_exhaustive_hits_and_bits_on_both_strands(
        gene_catalog: tuple[Catalog, list[tuple[str, str, str]]]) -> None:
    """A quality floor for DNA search: fragments at 0, 5 and 15 % substitutions, a third reverse-complemented,
    each found first by the seeded search, with the hit and bits of aligning every row."""
    from genocat_desktop.engine import Searcher
    from genocat_desktop.engine.search.queries import Query

    catalog, genes = gene_catalog
    searcher = Searcher(catalog)
    rng = np.random.default_rng(9)
    usable = [(gid, seq) for gid, _, seq in genes if len(seq) >= 600]
    queries = []
    for n in range(36):
        gid, seq = usable[int(rng.integers(len(usable)))]
        size = (150, 500)[n % 2]
        start = int(rng.integers(0, len(seq) - size))
        fragment = substituted(rng, seq[start:start + size], (0.0, 0.05, 0.15)[n % 3])
        queries.append((gid, revcomp(fragment) if n % 3 == 2 or n % 5 == 0 else fragment))
    qs = [Query(f"q{n}", fragment, "dna") for n, (_, fragment) in enumerate(queries)]
    seeded = searcher.search_many(qs, k=1, mode="sensitive")
    every = searcher.search_many(qs, k=1, mode="exhaustive")
    for (gid, _), a, b in zip(queries, seeded, every, strict=True):
        top, ref = a.hits.to_pylist()[0], b.hits.to_pylist()[0]
        assert top["id"] == gid
        assert (top["id"], top["bits"], top["sstrand"]) == (ref["id"], ref["bits"], ref["sstrand"])
        aligned = a.extra["aligned_rows"]
        assert isinstance(aligned, int) and aligned < 10  # only rows with a significant diagonal are aligned


def test_a_query_shorter_than_a_word_is_aligned_to_every_row(
        gene_catalog: tuple[Catalog, list[tuple[str, str, str]]]) -> None:
    from genocat_desktop.engine import Searcher
    from genocat_desktop.engine.search.queries import Query

    catalog, genes = gene_catalog
    gid, _, seq = genes[3]
    result = Searcher(catalog).search(Query("short", revcomp(seq[40:50]), "dna"), k=5, mode="sensitive")
    assert result.extra["aligned_rows"] == len(genes)  # no word of 11 in 10 bases: nothing could seed
    hits = {h["id"]: h["sstrand"] for h in result.hits.to_pylist()}
    assert hits.get(gid) == "minus"  # its exact 10 bases, read from the other strand


def test_significant_strands_names_the_strands_that_seeded_each_row(rows: tuple[np.ndarray, list[str]]) -> None:
    ids, seqs = rows
    index = SeedIndex.build(ids, seqs, params=NUCLEOTIDE_SEEDS)
    residues = sum(len(s) for s in seqs)
    fragment = substituted(np.random.default_rng(8), seqs[120][200:500], 0.05)
    for query, strand in ((fragment, 1), (revcomp(fragment), 2)):
        found, scores, strands = index.significant_strands(query, 100, None, residues, 10.0)
        plain, plain_scores = index.significant(query, 100, None, residues, 10.0)
        assert found.tolist() == plain.tolist() and scores.tolist() == plain_scores.tolist()
        assert found[0] == ids[120] and strands[0] == strand
    # a palindrome (a sequence and its reverse complement) seeds its row on both strands
    palindrome = seqs[60][:150] + revcomp(seqs[60][:150])
    found, _, strands = index.significant_strands(palindrome, 100, None, residues, 10.0)
    assert ids[60] in found and strands[found.tolist().index(ids[60])] == 3
