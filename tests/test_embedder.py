"""The k-mer embedder and the embedder registry."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from genocat_desktop.engine.core.errors import EmbedderError
from genocat_desktop.engine.embed.embedders import base, kmer
from genocat_desktop.engine.embed.embedders.kmer import KmerEmbedder


@pytest.fixture(params=["compiled", "numpy"])
def counting(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Runs a test with the compiled counting loop, then with the numpy one it replaces."""
    if request.param == "numpy":
        monkeypatch.setattr(kmer, "_native_count", None)
    return str(request.param)


def test_the_compiled_counting_loop_is_built() -> None:
    # `pip install` builds it when a C compiler is there (make test's system-deps install gcc).
    # Without it the embedder still works, on the slower numpy path; a test run must not pass
    # on that path unnoticed, because the import speed in BENCHMARKS.md depends on the loop.
    assert kmer.NATIVE_COUNTING, "genocat_desktop/engine/embedders/_kmer_count was not built (no C compiler?)"


def test_vectors_are_unit_length_and_deterministic() -> None:
    e = KmerEmbedder()
    seqs = ["MKVLAAGIVALLLAAG", "M", "MK", "ACGTACGTTGCA", "W" * 2000]
    v1, v2 = e.embed(seqs), KmerEmbedder().embed(list(seqs))
    assert v1.shape == (5, 512) and v1.dtype == np.float32
    assert np.allclose(np.linalg.norm(v1, axis=1), 1.0, atol=1e-5)  # short ones fall back to smaller k
    assert np.array_equal(v1, v2)


def test_batch_and_single_give_the_same_vectors() -> None:
    e = KmerEmbedder()
    rng = np.random.default_rng(1)
    seqs = ["".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), n)) for n in rng.integers(1, 3000, 300)]
    batch = e.embed(seqs)
    single = np.vstack([e.embed([s]) for s in seqs[:30]])
    assert np.allclose(batch[:30], single, atol=1e-6)


def test_similar_sequences_score_higher_than_unrelated() -> None:
    e = KmerEmbedder()
    a = "MSTNPKPQRKTKRNTNRRPQDVKFPGGGQIVGGVYLLPRRGPRLGVRATRKTSERSQPRGRRQPIPKARRPEGRTWAQPGY"
    mutant = a[:20] + "A" + a[21:50] + "L" + a[51:]
    unrelated = "MVHLTPEEKSAVTALWGKVNVDEVGGEALGRLLVVYPWTQRFFESFGDLSTPDAVMGNPKVKAHGKKVLGAFSDGLAHL"
    v = e.embed([a, mutant, unrelated])
    assert v[0] @ v[1] > 0.8 > v[0] @ v[2]


def test_nucleotides_use_their_own_space() -> None:
    e = KmerEmbedder()
    dna = "ACGTTGCAAGGCTTACGATCGATCGGATCGATTACG"
    v = e.embed([dna, dna], ["dna", "protein"])
    assert not np.allclose(v[0], v[1])
    rna = e.embed([dna.replace("T", "U")], ["rna"])
    assert np.allclose(rna[0], v[0])  # U reads as T


def test_only_unknown_residues_give_a_zero_vector() -> None:
    v = KmerEmbedder().embed(["XXXX"])
    assert not v.any()


def test_registry() -> None:
    assert "kmer" in base.available()
    e = base.create("kmer", dim=64)
    assert isinstance(e, base.Embedder) and e.dim == 64 and e.params()["dim"] == 64
    with pytest.raises(EmbedderError, match="unknown embedder"):
        base.create("nope")
    with pytest.raises(EmbedderError, match="cannot be built"):
        base.create("kmer", colour="red")


def _reference_cases() -> list[tuple[list[str], list[str] | None]]:
    """Sequences that exercise every branch of the counting: real proteins, DNA, odd letters, short ones."""
    from Bio.SeqIO.FastaIO import SimpleFastaParser

    here = Path(__file__).parent / "data"
    with open(here / "mmseqs2_QUERY.fasta") as fh:
        real = [s.upper().rstrip("*") for _, s in SimpleFastaParser(fh)]
    with open(here / "families_small.faa") as fh:
        real += [s.upper().rstrip("*") for _, s in SimpleFastaParser(fh)]
    rng = np.random.default_rng(7)
    letters = list("ACDEFGHIKLMNPQRSTVWYXBZUOJ")
    odd = ["".join(rng.choice(letters, n)) for n in rng.integers(1, 40, 300)]
    dna = ["".join(rng.choice(list("ACGTUN"), n)) for n in rng.integers(1, 400, 100)]
    tiny = ["M", "MK", "MKV", "MKVL", "XXXX", "XMXK", "AXA", "WX", "", "ACGT", "X"]
    cases: list[tuple[list[str], list[str] | None]] = [(real, None), (odd, None), (tiny, None)]
    mixed = real[:50] + dna + odd[:50] + tiny
    kinds = ["protein"] * 50 + [str(rng.choice(["dna", "rna"])) for _ in dna] + ["protein"] * 50 + ["dna"] * len(tiny)
    cases.append((mixed, kinds))
    return cases


@pytest.mark.parametrize("params", [{}, {"k": 3, "dim": 64, "nucleotide_k": 5}, {"k": 5, "nucleotide_k": 3},
                                    {"k": 1, "nucleotide_k": 1}, {"k": 2, "nucleotide_k": 2}, {"k": 6}])
def test_vectors_are_those_of_the_version_1_counting(params: dict[str, int], counting: str) -> None:
    # The counting was rewritten for speed with the embedder version kept at 1:
    # catalogs already written must be searched with bit-identical vectors.
    from kmer_reference import KmerEmbedder as Reference

    new, old = KmerEmbedder(**params), Reference(**params)
    for seqs, kinds in _reference_cases():
        assert np.array_equal(new.embed(seqs, kinds), old.embed(seqs, kinds))


def _reverse_complement(seq: str) -> str:
    return seq[::-1].translate(str.maketrans("ACGTU", "TGCAA"))


@pytest.mark.parametrize("params", [{}, {"k": 3, "dim": 64, "nucleotide_k": 5}, {"nucleotide_k": 1}])
def test_both_strands_give_a_sequence_and_its_reverse_complement_one_vector(
    params: dict[str, int], counting: str
) -> None:
    rng = np.random.default_rng(7)
    dna = ["".join(rng.choice(list("ACGT"), size=int(n))) for n in rng.integers(1, 400, size=60)]
    dna += ["ACGT", "GAATTC", "AAAAAAAAAA", "ACGTNNNNACGT", "ACGU"]  # palindromes, N runs, RNA
    both = KmerEmbedder(**params, strands="both")
    forward = both.embed(dna, ["dna"] * len(dna))
    reverse = both.embed([_reverse_complement(s) for s in dna], ["dna"] * len(dna))
    np.testing.assert_allclose(forward, reverse, rtol=0, atol=1e-6)
    # Proteins are untouched, and the forward-only embedder (older catalogs) is the version-1 one.
    proteins, _ = _reference_cases()[0]
    assert np.array_equal(both.embed(proteins[:50]), KmerEmbedder(**params).embed(proteins[:50]))
    single = KmerEmbedder(**params)
    assert not np.allclose(single.embed(dna[:5], ["dna"] * 5), single.embed(
        [_reverse_complement(s) for s in dna[:5]], ["dna"] * 5))


def test_new_kmer_columns_record_both_strands_and_old_records_stay_forward() -> None:
    assert base.new_column_params("kmer") == {"strands": "both"}
    assert base.new_column_params("kmer", {"strands": "forward"}) == {"strands": "forward"}
    assert base.create("kmer", **base.new_column_params("kmer")).params()["strands"] == "both"
    # A record written before the parameter existed recreates the forward-only embedder.
    old = base.create("kmer", k=4, dim=512, nucleotide_k=6)
    assert old.params() == {"k": 4, "dim": 512, "nucleotide_k": 6}
    assert isinstance(old, KmerEmbedder) and old.strands == "forward"
    with pytest.raises(EmbedderError):
        base.create("kmer", strands="sideways")


def test_a_real_minus_strand_gene_fragment_finds_its_gene(tmp_path: Path) -> None:
    """A fragment cut from the contig where a minus-strand gene lies is the gene's reverse complement."""
    from genocat_desktop.engine import Catalog, Searcher, import_files

    shared = Path(__file__).resolve().parents[2] / "shared" / "data" / "dna" / "CP040672.1.genes_100.fna"
    if not shared.exists():
        pytest.skip("../shared/data/dna is not there")
    catalog = Catalog.open(str(tmp_path / "catalog"), create=True)
    import_files(catalog, [shared])
    from Bio.SeqIO.FastaIO import SimpleFastaParser

    with shared.open() as handle:
        minus = [(h, s) for h, s in SimpleFastaParser(handle) if "complement(" in h][:20]
    assert len(minus) >= 10
    searcher = Searcher(catalog)
    found = 0
    for header, seq in minus:
        middle = seq[len(seq) // 4 : len(seq) // 4 + 300]
        hits = searcher.search(_reverse_complement(middle), k=1).hits.to_pylist()
        found += hits[0]["id"] == header.split()[0]
    assert found == len(minus), f"{found} of {len(minus)} reverse-strand fragments found their gene first"


def test_packed_embedding_of_a_selection_matches_the_whole(counting: str) -> None:
    e = KmerEmbedder()
    seqs, _ = _reference_cases()[0]
    data = "".join(seqs).encode()
    offsets = np.zeros(len(seqs) + 1, dtype=np.int64)
    np.cumsum([len(s) for s in seqs], out=offsets[1:])
    whole = e.embed_packed(data, offsets)
    # An offset window into a larger buffer, and a numpy buffer instead of bytes.
    part = e.embed_packed(np.frombuffer(data, dtype=np.uint8), offsets[10:21])
    assert np.array_equal(part, whole[10:20])


def test_the_compiled_loop_counts_as_numpy_does_on_a_real_import_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    # Whole batches as the importer hands them over (8,192 records in one buffer), not just lists.
    from genocat_desktop.engine.ingest.fasta import FastaReader

    if not kmer.NATIVE_COUNTING:
        pytest.fail("the compiled counting loop is not built")
    e = KmerEmbedder()
    batch = next(iter(FastaReader(Path(__file__).parent / "data" / "families_small.faa")))
    nucleotide = np.zeros(len(batch), dtype=bool)
    nucleotide[::7] = True  # every seventh record counted as DNA: both spaces in one call
    compiled = e.embed_packed(batch.data, batch.offsets, nucleotide)
    monkeypatch.setattr(kmer, "_native_count", None)
    reference = e.embed_packed(batch.data, batch.offsets, nucleotide)
    assert np.array_equal(compiled, reference)


@pytest.mark.parametrize("offsets", [[0, 5, 3], [0, 5, 99], [-1, 4]])
def test_the_compiled_loop_refuses_offsets_outside_its_buffer(offsets: list[int]) -> None:
    from genocat_desktop.engine.embed.embedders._kmer_count import count_windows

    space = KmerEmbedder()._protein[-1]
    codes = np.zeros(10, dtype=np.uint8)
    out = np.zeros((len(offsets) - 1, 512), dtype=np.float32)
    with pytest.raises(ValueError, match="not within"):
        count_windows(codes, np.array(offsets, dtype=np.int64), space.native_columns, space.base, space.k, out)
