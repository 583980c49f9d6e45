"""The k-mer embedder and the embedder registry."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from genocat_desktop.engine.core.errors import EmbedderError
from genocat_desktop.engine.embed.embedders import base, kmer
from genocat_desktop.engine.embed.embedders.kmer import KmerEmbedder


@pytest.fixture(params=["compiled", "numpy"])
def counting(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Runs a test with the compiled counting loops, then with the numpy ones they replace."""
    if request.param == "numpy":
        monkeypatch.setattr(kmer, "_native_count", None)
        monkeypatch.setattr(kmer, "_native_neighbours", None)
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


def test_new_kmer_columns_record_both_strands_and_neighbourhoods_and_old_records_stay_as_they_were() -> None:
    new = base.new_column_params("kmer")
    assert new == {"strands": "both", "alphabet": "amino20", "k": 3, "threshold": 14, "centred": True}
    assert base.new_column_params("kmer", {"strands": "forward"})["strands"] == "forward"
    # Parameters that name the protein scheme in part leave the whole new scheme out; others keep it.
    recorded = {"k": 4, "dim": 512, "nucleotide_k": 6}
    assert base.new_column_params("kmer", recorded) == {"strands": "both", **recorded}
    assert base.create("kmer", **base.new_column_params("kmer", recorded)).alphabet == "murphy12"  # type: ignore[attr-defined]
    assert base.new_column_params("kmer", {"dim": 1024}) == {**new, "dim": 1024}
    assert base.new_column_params("kmer", {"threshold": 12}) == {"strands": "both", "threshold": 12}
    made = base.create("kmer", **new)
    assert made.params() == {"k": 3, "dim": 512, "nucleotide_k": 6, **new}
    # The record a new column writes recreates the same embedder.
    assert base.create("kmer", **made.params()).params() == made.params()
    # A record written before these parameters existed recreates the embedder that wrote it.
    old = base.create("kmer", k=4, dim=512, nucleotide_k=6)
    assert old.params() == {"k": 4, "dim": 512, "nucleotide_k": 6}
    assert isinstance(old, KmerEmbedder) and old.strands == "forward" and old.alphabet == "murphy12"
    assert old.threshold is None and not old.centred
    strands_only = base.create("kmer", k=4, dim=512, nucleotide_k=6, strands="both")
    assert strands_only.params() == {"k": 4, "dim": 512, "nucleotide_k": 6, "strands": "both"}
    assert isinstance(strands_only, KmerEmbedder) and strands_only.alphabet == "murphy12"
    for bad in ({"strands": "sideways"}, {"alphabet": "greek"}, {"threshold": 13},  # a threshold needs amino20
                {"alphabet": "amino20", "k": 4, "threshold": 13}, {"centred": True},
                {"alphabet": "amino20", "k": 5}, {"alphabet": "amino20", "threshold": 12.5}):
        with pytest.raises(EmbedderError):
            base.create("kmer", **bad)


def test_old_parameters_still_give_the_version_1_vectors() -> None:
    # Catalogs made before the new defaults search their rows with the vectors they were written with.
    from kmer_reference import KmerEmbedder as Reference

    proteins, _ = _reference_cases()[0]
    old = base.create("kmer", k=4, dim=512, nucleotide_k=6, strands="both")
    assert np.array_equal(old.embed(proteins), Reference().embed(proteins))


@pytest.fixture(scope="module")
def neighbour_cases() -> list[str]:
    """Real proteins, odd letters, low-complexity and tiny records (every branch of the fallback)."""
    seqs, _ = _reference_cases()[0]
    rng = np.random.default_rng(11)
    odd = ["".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWYXBZUOJ"), int(n))) for n in rng.integers(1, 40, 80)]
    tiny = ["M", "MK", "MKV", "LLLL", "LLLLLLLLLLLLLLLLLLLL", "AAAAAAAA", "XXXX", "WXW", "", "AXA", "MKVXXLLL"]
    return seqs[:120] + odd + tiny


_NEIGHBOUR_PARAMS = [{"k": 3, "threshold": 13, "centred": True}, {"k": 3, "threshold": 15},
                     {"k": 3, "centred": True}, {"k": 2, "threshold": 9, "dim": 64, "centred": True}]
_REFERENCE_VECTORS: dict[str, np.ndarray] = {}


@pytest.mark.parametrize("params", _NEIGHBOUR_PARAMS, ids=str)
def test_neighbourhood_vectors_are_those_of_the_reference(
    params: dict[str, int], counting: str, neighbour_cases: list[str]
) -> None:
    from kmer_reference import NeighbourReference

    key = str(params)
    if key not in _REFERENCE_VECTORS:  # the pure-Python reference is slow: once for both countings
        _REFERENCE_VECTORS[key] = NeighbourReference(**params).embed(neighbour_cases)
    got = KmerEmbedder(alphabet="amino20", **params).embed(neighbour_cases)
    assert got.shape == (len(neighbour_cases), params.get("dim", 512))
    np.testing.assert_allclose(got, _REFERENCE_VECTORS[key], rtol=0, atol=1e-6)
    norms = np.linalg.norm(got, axis=1)
    # Only records without a residue of the 20 amino acids are zero (shorter k down to 1 otherwise).
    zero = {s for s, n in zip(neighbour_cases, norms, strict=True) if n == 0}
    assert zero == {s for s in neighbour_cases if not set(s) & set(kmer._AMINO20)}
    assert np.allclose(norms[norms > 0], 1, atol=1e-5)


def test_the_blosum62_table_and_the_neighbour_lists_are_blosum62s() -> None:
    from Bio.Align import substitution_matrices

    blosum = substitution_matrices.load("BLOSUM62")
    letters = "".join(kmer._AMINO20)
    expected = np.array([[blosum[a][b] for b in letters] for a in letters])
    assert np.array_equal(kmer._blosum62(), expected)
    starts, flat = kmer._neighbours(3, 13)
    # Brute force for a few words: every 3-mer against every 3-mer.
    words = np.array(np.meshgrid(*[np.arange(20)] * 3, indexing="ij")).reshape(3, -1).T  # index order
    for word in ("WWW", "LLL", "MKV", "CHW", "AAA"):
        x = [letters.index(a) for a in word]
        scores = expected[x[0], words[:, 0]] + expected[x[1], words[:, 1]] + expected[x[2], words[:, 2]]
        i = (x[0] * 20 + x[1]) * 20 + x[2]
        assert flat[starts[i] : starts[i + 1]].tolist() == np.flatnonzero(scores >= 13).tolist(), word
    # LLL scores 12 against itself: below 13 it counts nowhere; WWW (33) has many neighbours.
    lll = (letters.index("L") * 20 + letters.index("L")) * 20 + letters.index("L")
    assert starts[lll + 1] == starts[lll]


def test_centring_takes_the_chance_similarity_of_long_unrelated_proteins_away() -> None:
    # Long random proteins of background composition share many 3-mers by chance; without centring
    # their cosine grows with length, which is what buries distant homologues in a large catalog.
    rng = np.random.default_rng(3)
    freqs = kmer._BACKGROUND / kmer._BACKGROUND.sum()
    seqs = ["".join(rng.choice(list(kmer._AMINO20), 3000, p=freqs)) for _ in range(20)]
    params = {"alphabet": "amino20", "k": 3, "threshold": 13}
    plain = KmerEmbedder(**params).embed(seqs)
    centred = KmerEmbedder(**params, centred=True).embed(seqs)
    off = ~np.eye(len(seqs), dtype=bool)
    assert (plain @ plain.T)[off].mean() > 0.2
    assert abs((centred @ centred.T)[off].mean()) < 0.02


def _family_scores(path: Path, vectors_of: Callable[[list[str]], np.ndarray]) -> tuple[float, float]:
    """P@1 and sensitivity@50 of all against all (self hits dropped), families from the ids' prefixes."""
    from Bio.SeqIO.FastaIO import SimpleFastaParser

    with open(path) as fh:
        records = [(t.split("|")[0], s.upper()) for t, s in SimpleFastaParser(fh)]
    labels = np.array([lab for lab, _ in records])
    vectors = vectors_of([s for _, s in records])
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -np.inf)
    top = np.argsort(-sims, axis=1, kind="stable")[:, :50]
    family = np.array([(labels == lab).sum() - 1 for lab in labels])
    has = family > 0
    same = labels[top] == labels[:, None]
    return float(same[has, 0].mean()), float((same[has].sum(axis=1) / np.minimum(family[has], 50)).mean())


def test_new_vectors_rank_family_members_first_more_often_than_the_old_ones() -> None:
    path = Path(__file__).parent / "data" / "families_small.faa"
    old, _ = _family_scores(path, base.create("kmer").embed)
    new, _ = _family_scores(path, base.create("kmer", **base.new_column_params("kmer")).embed)
    assert new >= old + 0.03, (old, new)


def test_quality_floor_of_new_vectors_on_the_shared_families(shared_file: Callable[[str], Path]) -> None:
    # bench/out/vectors.md: 0.841 and 0.618 (the 12-letter 4-mers: 0.746 and 0.489). A change to
    # the embedding that loses sensitivity fails here.
    path = shared_file("proteins/labeled/families_cap100.faa")
    p_at_1, sens_at_50 = _family_scores(path, base.create("kmer", **base.new_column_params("kmer")).embed)
    assert p_at_1 >= 0.83 and sens_at_50 >= 0.60, (p_at_1, sens_at_50)


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
    batch = next(iter(FastaReader(Path(__file__).parent / "data" / "families_small.faa")))
    nucleotide = np.zeros(len(batch), dtype=bool)
    nucleotide[::7] = True  # every seventh record counted as DNA: both spaces in one call
    embedders = [KmerEmbedder(), base.create("kmer", **base.new_column_params("kmer"))]
    compiled = [e.embed_packed(batch.data, batch.offsets, nucleotide) for e in embedders]
    monkeypatch.setattr(kmer, "_native_count", None)
    monkeypatch.setattr(kmer, "_native_neighbours", None)
    for e, fast in zip(embedders, compiled, strict=True):
        assert np.array_equal(fast, e.embed_packed(batch.data, batch.offsets, nucleotide))


@pytest.mark.parametrize("offsets", [[0, 5, 3], [0, 5, 99], [-1, 4]])
def test_the_compiled_loop_refuses_offsets_outside_its_buffer(offsets: list[int]) -> None:
    from genocat_desktop.engine.embed.embedders._kmer_count import count_windows

    space = KmerEmbedder()._protein[-1]
    codes = np.zeros(10, dtype=np.uint8)
    out = np.zeros((len(offsets) - 1, 512), dtype=np.float32)
    with pytest.raises(ValueError, match="not within"):
        count_windows(codes, np.array(offsets, dtype=np.int64), space.native_columns, space.base, space.k, out)


def _neighbour_lists() -> tuple[np.ndarray, ...]:
    space = base.create("kmer", **base.new_column_params("kmer"))._protein[-1]  # type: ignore[attr-defined]
    heads, more, starts, flat = space.native_lists
    return heads.copy(), more.copy(), starts.copy(), flat.copy(), space.mean


@pytest.mark.parametrize("damage", ["column", "flat column", "starts", "offsets", "heads"])
def test_the_neighbour_loop_refuses_tables_and_offsets_that_would_write_outside(damage: str) -> None:
    from genocat_desktop.engine.embed.embedders._kmer_count import count_neighbours

    heads, more, starts, flat, mean = _neighbour_lists()
    offsets = np.array([0, 5, 10], dtype=np.int64)
    if damage == "column":
        heads[7, 2] = 2 * 512 + 100_000
    elif damage == "flat column":
        flat[3] = -1
    elif damage == "starts":
        starts[5] = starts[6] + 1
    elif damage == "offsets":
        offsets = np.array([0, 5, 99], dtype=np.int64)
    else:
        heads = heads[:100]
    out = np.zeros((2, 512), dtype=np.float32)
    with pytest.raises(ValueError):
        count_neighbours(np.zeros(10, dtype=np.uint8), offsets, heads, more, starts, flat, mean, 21, 3, out)
