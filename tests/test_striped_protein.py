"""Protein pairs aligned one at a time with parasail (:mod:`.striped`) give pyopal's scores and regions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from genocat_desktop.engine.search import alignment, composition, striped
from genocat_desktop.engine.search.alignment import _opal_hits, align_to
from genocat_desktop.engine.search.scoring import PROTEIN

DATA = Path(__file__).parent / "data"
LETTERS = composition.AMINO_ACIDS + "X"


def _proteins() -> list[str]:
    seqs: list[str] = []
    for line in (DATA / "mmseqs2_QUERY.fasta").read_text().splitlines():
        if line.startswith(">"):
            seqs.append("")
        elif seqs:
            seqs[-1] += line.strip()
    return seqs


def _pyopal_score(query: str, target: str, rows: np.ndarray, gap_open: int, gap_extend: int) -> int:
    import pyopal
    from scoring_matrices import ScoringMatrix

    aligner = pyopal.Aligner(ScoringMatrix(rows.tolist(), alphabet=LETTERS), gap_open=gap_open, gap_extend=gap_extend)
    database = pyopal.Database([target.encode()], alphabet=aligner.alphabet)
    return int(aligner.align(query.encode(), database, mode="score")[0].score)


def test_each_pairs_matrix_has_the_query_letters_as_rows() -> None:
    rows = np.full((1, 21, 21), -10, dtype=np.int32)
    rows[0, LETTERS.index("A"), LETTERS.index("R")] = 10  # query A against target R only
    assert striped.pair_scores("A", ["R"], rows, LETTERS, 12, 1).tolist() == [10]
    assert striped.pair_scores("R", ["A"], rows, LETTERS, 12, 1).tolist() == [0]
    assert _pyopal_score("A", "R", rows[0], 12, 1) == 10


def test_composition_realignment_gives_pyopals_scores_on_real_pairs() -> None:
    seqs = [s for s in _proteins() if 50 <= len(s) <= 800]
    rng = np.random.default_rng(5)
    pairs = [(seqs[i], seqs[j]) for i, j in rng.integers(0, len(seqs), (12, 2))]
    # and homologues: a protein against a copy with 20 % of its residues changed
    for s in seqs[:6]:
        pairs.append((s, "".join(c if rng.random() < 0.8 else rng.choice(list(LETTERS[:20])) for c in s)))
    for query, target in pairs:
        qp, qn = composition.compositions([query])
        tp, tn = composition.compositions([target])
        matrices = composition.adjusted_matrices(qp[0], float(qn[0]), tp, tn)
        rows = np.full((21, 21), composition._blosum().unknown * composition.SCALE, dtype=np.int32)
        rows[:20, :20] = np.rint(matrices[0] * composition.SCALE)
        expected = _pyopal_score(query, target, rows, PROTEIN.gap_open * composition.SCALE,
                                 PROTEIN.gap_extend * composition.SCALE)
        assert composition._realigned(query, [target], matrices)[0] * composition.SCALE == expected


def test_a_pair_that_saturates_16_bits_is_aligned_again_in_32() -> None:
    query = "W" * 3000  # W-W scores 11: 33,000 passes 16 bits
    rows = np.full((1, 21, 21), -4, dtype=np.int32)
    rows[0, LETTERS.index("W"), LETTERS.index("W")] = 11
    assert striped.pair_scores(query, [query], rows, LETTERS, 12, 1).tolist() == [33_000]
    assert striped.pair_scores(query, [query], rows, LETTERS, 12, 1, np.array([True])).tolist() == [33_000]


def test_tracebacks_give_pyopals_scores_and_consistent_regions() -> None:
    seqs = _proteins()[:40]
    for query, target in zip(seqs[::2], seqs[1::2], strict=True):
        expected = next(iter(_opal_hits(query, "protein", [target], ["protein"])))
        found = striped.protein_traced(query, target, PROTEIN)
        assert found.score == expected.score
        if found.score:
            # I: a query letter against a gap, D: a target letter against a gap
            assert len(found.alignment) - found.alignment.count("D") == found.query_end - found.query_start + 1
            assert len(found.alignment) - found.alignment.count("I") == found.target_end - found.target_start + 1
            assert found.alignment[0] in "MX" and found.alignment[-1] in "MX"


def test_a_protein_within_another_is_traced_at_its_place() -> None:
    outer = _proteins()[3]
    inner = outer[40:140]
    found = striped.protein_traced(inner, outer, PROTEIN, target_index=7)
    assert (found.query_start, found.query_end, found.target_start, found.target_end) == (0, 99, 40, 139)
    assert found.alignment == "M" * 100 and found.target_index == 7


def test_letters_outside_the_alphabet_read_as_x() -> None:
    query = "MKTAYIAKQRQISFVKSHFSRQ"
    odd = query[:10] + "J#u" + query[10:]
    assert striped.protein_letters(odd, "ARNDCQEGHILKMFPSTWYVBZX*", PROTEIN) == query[:10] + "XXX" + query[10:]
    plain = query[:10] + "XXX" + query[10:]
    assert striped.protein_traced(query, odd, PROTEIN).score == striped.protein_traced(query, plain, PROTEIN).score


@pytest.mark.parametrize("long_query", [False, True])
def test_hit_list_tracebacks_agree_between_parasail_and_pyopal(
    monkeypatch: pytest.MonkeyPatch, long_query: bool
) -> None:
    seqs = _proteins()
    query = next(s for s in seqs if (len(s) >= 450) == long_query and len(s) > 150)
    rng = np.random.default_rng(2)
    # distinct homologues (one clear best alignment each) and unrelated proteins
    targets = ["".join(c if rng.random() < 0.9 else "W" for c in query[i * 20:]) for i in range(3)] + seqs[:6]
    molecules = ["protein"] * len(targets)
    calls: list[str] = []
    traced = striped.protein_traced

    def spy(*args: Any, **kwargs: Any) -> striped.Traced:
        calls.append(args[1])
        return traced(*args, **kwargs)

    monkeypatch.setattr(striped, "protein_traced", spy)
    monkeypatch.setattr(alignment, "STRIPED_PROTEIN_TARGETS", 100)
    striped_run = align_to(query, "protein", targets, molecules, 10**7)
    assert len(calls) == len(targets)
    monkeypatch.setattr(alignment, "STRIPED_PROTEIN_QUERY", 10**9)
    monkeypatch.setattr(alignment, "STRIPED_PROTEIN_TARGETS", 0)
    opal_run = align_to(query, "protein", targets, molecules, 10**7)
    assert len(calls) == len(targets)
    for column in ("aln_score", "bits"):
        assert np.array_equal(striped_run[column], opal_run[column])
    for column in ("identity", "query_cov", "target_cov"):
        assert np.allclose(striped_run[column][:3], opal_run[column][:3])
    assert (striped_run["identity"][:3] > 0.85).all()


def test_the_score_pass_over_few_targets_gives_pyopals_scores() -> None:
    """:func:`.striped.protein_scores` (parasail, one query profile) scores real proteins, homologues,
    odd letters and a pair past 16 bits as pyopal's score pass does; an empty target scores 0."""
    seqs = [s for s in _proteins() if 30 <= len(s) <= 900][:40]
    rng = np.random.default_rng(8)
    query = seqs[0]
    targets = [*seqs[1:], "".join(c if rng.random() < 0.7 else "W" for c in query), "BZUOJX" + query[:50]]
    expected = [h.score for h in _opal_hits(query, "protein", targets, ["protein"] * len(targets), mode="score")]
    assert striped.protein_scores(query, targets, PROTEIN).tolist() == expected
    itself = _opal_hits(query, "protein", [query], ["protein"], mode="score")[0].score
    assert striped.protein_scores(query, ["", query], PROTEIN).tolist() == [0, itself]
    long = "".join(rng.choice(list(LETTERS[:20]), 7_000))
    wide = striped.protein_scores(long, [long], PROTEIN)
    assert wide[0] > 32_767 and wide.tolist() == [h.score for h in _opal_hits(long, "protein", [long], ["protein"],
                                                                              mode="score")]


def test_best_scores_takes_parasail_for_few_protein_targets_and_pyopal_for_many(
        monkeypatch: pytest.MonkeyPatch) -> None:
    seqs = [s for s in _proteins() if 30 <= len(s) <= 600][:30]
    calls: list[int] = []
    real = striped.protein_scores
    monkeypatch.setattr(striped, "protein_scores", lambda q, t, s: calls.append(len(t)) or real(q, t, s))
    few, _ = alignment.best_scores(seqs[0], "protein", seqs, ["protein"] * len(seqs))
    monkeypatch.setattr(alignment, "STRIPED_SCORED_PROTEIN_TARGETS", 10)
    many, _ = alignment.best_scores(seqs[0], "protein", seqs, ["protein"] * len(seqs))
    assert calls == [len(seqs)] and few.tolist() == many.tolist()
