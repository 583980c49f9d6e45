"""Alignment re-ranking: scores equal Biopython's reference, statistics, ranking, CLI."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from Bio.Align import PairwiseAligner, substitution_matrices

from genocat_desktop.cli.main import main
from genocat_desktop.engine import Catalog, QueryError, Searcher, import_files, read_queries
from genocat_desktop.engine.search.alignment import align_to
from genocat_desktop.engine.search.pairwise import align_pair

AA = "ACDEFGHIKLMNPQRSTVWY"


def _mutate(rng: np.random.Generator, seq: str) -> str:
    s = list(seq)
    for _ in range(len(s) // 5):
        i = int(rng.integers(len(s)))
        op = int(rng.integers(3))
        if op == 0:
            s[i] = AA[int(rng.integers(20))]
        elif op == 1:
            del s[i]
        else:
            s.insert(i, AA[int(rng.integers(20))])
    return "".join(s)


def test_scores_equal_biopythons_smith_waterman_with_blast_gap_costs() -> None:
    aligner = PairwiseAligner(mode="local", substitution_matrix=substitution_matrices.load("BLOSUM62"))
    aligner.open_gap_score, aligner.extend_gap_score = -12, -1  # BLAST's 11/1: a gap of length L costs 11 + L
    rng = np.random.default_rng(7)
    query = "".join(rng.choice(list(AA), 150))
    targets = [_mutate(rng, query) for _ in range(40)] + ["".join(rng.choice(list(AA), 90)) for _ in range(10)]
    stats = align_to(query, "protein", targets, ["protein"] * len(targets), 1_000_000)
    assert stats["aln_score"].tolist() == [int(aligner.score(query, t)) for t in targets]


def test_statistics_and_identity() -> None:
    q = "MKVLAAGIVALLLAAGCSSSKEETKAAPA"
    stats = align_to(q, "protein", [q, "MKVLAGIVALLLAAGCSSKEETKAAPAWWW"], ["protein", "protein"], 10**6)
    assert stats["identity"][0] == 1.0 and stats["query_cov"][0] == 1.0 and stats["target_cov"][0] == 1.0
    assert 0.9 < stats["identity"][1] < 1.0  # one gap column counts against identity, as in BLAST
    # Protein bits are composition-adjusted (tests/test_composition.py): below the standard
    # (0.267 S - ln 0.041) / ln 2 for this alanine- and leucine-rich pair.
    bits = (0.267 * stats["aln_score"][0] - math.log(0.041)) / math.log(2)
    assert 0.8 * bits < stats["bits"][0] < bits
    assert stats["evalue"][0] == pytest.approx(len(q) * 10**6 * 2 ** -stats["bits"][0])
    assert stats["evalue"][0] < stats["evalue"][1]


def test_nucleotides_and_mixed_molecules() -> None:
    stats = align_to("ACGTACGTTGCAAC", "dna", ["ACGTACGATGCAAC", "ACGUACGUUGCAAC"], ["dna", "rna"], 1000)
    assert stats["aln_score"][1] > stats["aln_score"][0] and stats["evalue"][1] < stats["evalue"][0]
    with pytest.raises(QueryError, match="nucleotide query to protein"):
        align_to("ACGTACGTTGCAAC", "dna", ["MKVLAAGIV"], ["protein"], 1000)
    with pytest.raises(QueryError, match="mixed"):
        align_to("MKVLAAGIV", "protein", ["MKVLAAGIV", "ACGTACGTTGCAAC"], ["protein", "dna"], 1000)


def test_the_hit_list_and_the_detail_pane_give_the_same_score() -> None:
    # One scheme per molecule: the aln_score of a hit in the list is the score its alignment shows
    # in the detail pane (pyopal and Biopython both find the best local alignment's score).
    rng = np.random.default_rng(11)
    protein = "".join(rng.choice(list(AA), 120))
    protein_hit = _mutate(rng, protein)
    dna = "".join(rng.choice(list("ACGT"), 150))
    dna_hit = dna[:40] + "T" * 3 + dna[40:90] + dna[95:]  # an insertion, a deletion
    dna_hit = dna_hit[:20] + ("A" if dna_hit[20] != "A" else "C") + dna_hit[21:]  # a mismatch
    for query, hit, molecule in ((protein, protein_hit, "protein"), (dna, dna_hit, "dna")):
        listed = int(align_to(query, molecule, [hit], [molecule], 10**6)["aln_score"][0])
        pane = align_pair(query, hit)
        assert listed > 0 and pane.score == listed, (molecule, listed, pane.score)
        assert align_pair(query, hit, molecule).score == listed


def _revcomp(seq: str) -> str:
    return seq[::-1].translate(str.maketrans("ACGT", "TGCA"))


def test_nucleotide_statistics_are_blastns() -> None:
    # blastn's defaults (match 2, mismatch -3, gaps 5 + 2L) with BLAST's published gapped
    # lambda 0.625 and K 0.41 (blast_stat.c, blastn_values_2_3), odd raw scores rounded down.
    rng = np.random.default_rng(5)
    query = "".join(rng.choice(list("ACGT"), 100))
    stats = align_to(query, "dna", [query, query[:51]], ["dna", "dna"], 10**6)
    assert stats["aln_score"].tolist() == [200, 102]
    for i, raw in enumerate((200, 102)):
        bits = (0.625 * raw - math.log(0.41)) / math.log(2)
        assert stats["bits"][i] == pytest.approx(bits)
        assert stats["evalue"][i] == pytest.approx(100 * 10**6 * 2**-bits)
    one_mismatch = query[:50] + ("A" if query[50] != "A" else "C") + query[51:]  # 99 matches, 1 mismatch
    odd = align_to(query, "dna", [one_mismatch], ["dna"], 10**6)
    assert odd["aln_score"][0] == 2 * 99 - 3  # an odd raw score: the statistics use 194
    assert odd["bits"][0] == pytest.approx((0.625 * 194 - math.log(0.41)) / math.log(2))


def test_a_random_nucleotide_alignment_is_not_significant() -> None:
    rng = np.random.default_rng(9)
    query = "".join(rng.choice(list("ACGT"), 500))
    targets = ["".join(rng.choice(list("ACGT"), 2000)) for _ in range(200)]
    stats = align_to(query, "dna", targets, ["dna"] * len(targets), 200 * 2000)
    # Karlin-Altschul: about E random alignments score an E-value of E or less in the whole search.
    assert np.median(stats["evalue"]) > 10 and (stats["evalue"] < 0.01).sum() <= 1, np.sort(stats["evalue"])[:5]


def test_both_strands_in_the_list_and_the_pane() -> None:
    rng = np.random.default_rng(3)
    gene = "".join(rng.choice(list("ACGT"), 300))
    fragment = _revcomp(gene[100:250])  # read from the other strand
    stats = align_to(fragment, "dna", [gene, gene[::-1]], ["dna", "dna"], 10**6)
    assert stats["sstrand"].tolist()[0] == "minus" and stats["aln_score"][0] == 300
    assert stats["identity"][0] == 1.0 and stats["query_cov"][0] == 1.0
    forward = align_to(gene[100:250], "dna", [gene], ["dna"], 10**6)
    assert forward["sstrand"].tolist() == ["plus"] and forward["aln_score"][0] == 300
    pane = align_pair(fragment, gene, "dna")
    assert pane.strand == "minus" and pane.score == 300 and (pane.target_start, pane.target_end) == (100, 250)
    text = pane.format(width=60)
    first_hit_row = text.splitlines()[2].split()
    assert first_hit_row[1] == "250" and text.splitlines()[-1].split()[-1] == "101"  # counts down, as BLAST
    proteins = align_to("MKVLAAGIV", "protein", ["MKVLAAGIV"], ["protein"], 1000)
    assert proteins["sstrand"].tolist() == [""]


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    data = Path(__file__).parent / "data"
    cat = Catalog.open(tmp_path_factory.mktemp("rerank") / "catalog")
    import_files(cat, [data / "families_small.faa"])
    return cat


def test_align_ranks_by_alignment_and_keeps_k(catalog: Catalog) -> None:
    q = read_queries(Path(__file__).parent / "data" / "families_small.faa")[0]
    result = Searcher(catalog).search(q, k=10, align=True, candidates=60)
    hits = result.hits
    assert len(hits) == 10 and hits.column("id")[0].as_py() == q.id  # itself: best alignment
    bits = hits.column("bits").to_pylist()  # ranked by bit score (composition-adjusted: not the raw order)
    assert bits == sorted(bits, reverse=True)
    assert hits.column("evalue")[0].as_py() < 1e-10
    by_embedding = Searcher(catalog).search(q, k=10, align=True, rank_by="embedding").hits
    scores = by_embedding.column("score").to_pylist()
    assert scores == sorted(scores, reverse=True)


def test_cli_align(catalog: Catalog, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    q = read_queries(Path(__file__).parent / "data" / "families_small.faa")[3]
    code = main(["--catalog", catalog.location, "search", q.sequence, "-k", "3", "--align", "--format", "tsv"])
    out = capsys.readouterr().out.splitlines()
    assert code == 0 and out[0].split("\t")[:7] == ["query_id", "rank", "bits", "evalue", "identity", "query_cov",
                                                    "cosine"]
    assert "score" not in out[0].split("\t") and float(out[1].split("\t")[4]) == 1.0
    csv_out = tmp_path / "aligned.csv"
    assert main(["--catalog", catalog.location, "search", q.sequence, "--align", "--out", str(csv_out)]) == 0
    header, first = [line for line in csv_out.read_text().splitlines() if not line.startswith("#")][:2]
    assert header.startswith('"query_id","rank","bits","evalue","identity","query_cov","cosine","aln_score"')
    assert 0 < float(first.split(",")[3]) < 1e-10  # the E-value is written in full, not rounded to 0

def test_cli_search_of_a_reverse_strand_fragment_shows_the_strand(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    rng = np.random.default_rng(21)
    genes = ["".join(rng.choice(list("ACGT"), 600)) for _ in range(5)]
    (tmp_path / "genes.fna").write_text("".join(f">gene{i}\n{g}\n" for i, g in enumerate(genes)))
    location = str(tmp_path / "catalog")
    assert main(["--catalog", location, "import", str(tmp_path / "genes.fna")]) == 0
    capsys.readouterr()
    fragment = _revcomp(genes[3][200:400])
    assert main(["--catalog", location, "search", fragment, "-k", "2", "--align", "--format", "tsv"]) == 0
    header, first = capsys.readouterr().out.splitlines()[:2]
    row = dict(zip(header.split("\t"), first.split("\t"), strict=True))
    assert row["id"] == "gene3" and row["sstrand"] == "minus" and float(row["identity"]) == 1.0
    assert float(row["evalue"]) < 1e-50
