"""Composition-based statistics: biased pairs lose their false significance, homologues keep theirs."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from genocat_desktop.engine.search import composition
from genocat_desktop.engine.search.alignment import align_to
from genocat_desktop.engine.search.pairwise import align_pair
from genocat_desktop.engine.search.scoring import evalue

DATA = Path(__file__).parent / "data"
DB_RESIDUES = 10**7  # a catalog of ~30,000 proteins


def _coiled_coil(rng: np.random.Generator, length: int) -> str:
    """A low-complexity sequence with a coiled-coil protein's composition (E, K, L, A, Q, R rich), residues
    drawn independently: two such sequences share a composition and nothing else. (BLAST+ 2.12 on the pair
    of the test below: E 1e-19 with ``-comp_based_stats 0 -seg no``, no hit at E <= 10 by default.)"""
    letters = list("EKLAQRSDIN")
    weights = np.array([20, 18, 14, 10, 8, 8, 6, 6, 5, 5], dtype=float)
    return "".join(rng.choice(letters, length, p=weights / weights.sum()))


def _families() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    name, seq = "", list[str]()
    for line in [*(DATA / "families_small.faa").read_text().splitlines(), ">"]:
        if line.startswith(">"):
            if seq:
                out.setdefault(name.split("|")[0], []).append("".join(seq))
            name, seq = line[1:], []
        else:
            seq.append(line.strip())
    return out


def _standard_bits(scores: np.ndarray) -> np.ndarray:
    return (0.267 * np.asarray(scores, dtype=float) - math.log(0.041)) / math.log(2)


def test_compositions_are_counted_over_the_true_amino_acids() -> None:
    freqs, counts = composition.compositions(["AAAC", "XXBZ", "acdW", ""])
    assert counts.tolist() == [4, 0, 4, 0]
    a, c, d, w = (composition.AMINO_ACIDS.index(x) for x in "ACDW")
    assert freqs[0, a] == 0.75 and freqs[0, c] == 0.25 and freqs[1].sum() == 0 and freqs[3].sum() == 0
    assert freqs[2, [a, c, d, w]].tolist() == [0.25, 0.25, 0.25, 0.25]  # lower case counts too


def test_lambda_of_the_standard_background_is_blasts() -> None:
    # BLOSUM62 with Robinson & Robinson frequencies: BLAST's ungapped lambda 0.3176.
    rr = composition.ROBINSON_FREQUENCIES
    lam = composition.ungapped_lambdas(rr, rr[None, :])
    assert lam[0] == pytest.approx(0.3176, abs=1e-4)
    biased = composition.compositions(["EEKKLLEEKKLAEQ" * 10])[0]
    assert composition.lambda_ratios(biased[0], biased)[0] < 0.9  # a biased pair: a smaller lambda
    only_w = composition.compositions(["W"])[0]
    assert np.isnan(composition.ungapped_lambdas(only_w[0], only_w)[0])  # W-W only: positive expected score
    assert composition.lambda_ratios(only_w[0], only_w)[0] == 0.5  # BLAST's lower bound


def test_the_adjusted_matrix_is_blosum62_at_its_own_background() -> None:
    blosum = composition._blosum()
    assert blosum.lam_implied == pytest.approx(0.3240, abs=1e-4)
    big = 1e12  # pseudocounts vanish
    matrices = composition.adjusted_matrices(blosum.background, big, blosum.background[None, :], np.array([big]))
    # BLOSUM62 scaled by 0.3240 / 0.3176 (scores are divided by BLAST's standard lambda, as BLAST does),
    # sharpened a little towards BLAST's relative entropy 0.44.
    assert np.abs(matrices[0] - blosum.scores * blosum.lam_implied / blosum.lam).max() < 0.1
    assert np.array_equal(np.rint(matrices[0]), blosum.scores)
    biased, counts = composition.compositions(["EEKKLLEEKKLAEQ" * 10])
    adjusted = composition.adjusted_matrices(biased[0], counts[0], biased, counts)[0]
    e = composition.AMINO_ACIDS.index("E")
    assert adjusted[e, e] < blosum.scores[e, e] - 1  # the abundant letter's match is worth less


def test_a_coiled_coil_like_pair_is_no_longer_significant() -> None:
    rng = np.random.default_rng(17)
    query, target = _coiled_coil(rng, 300), _coiled_coil(rng, 600)
    stats = align_to(query, "protein", [target], ["protein"], DB_RESIDUES)
    standard = evalue(_standard_bits(stats["aln_score"]), len(query), DB_RESIDUES)[0]
    assert standard < 1e-10, standard  # what the uncorrected statistics said of two unrelated sequences
    assert stats["evalue"][0] > 1e-3, stats["evalue"][0]
    scaled = composition.adjusted_bits(query, [target], stats["aln_score"], adjust=[])
    assert scaled[0] < _standard_bits(stats["aln_score"])[0]  # scaling alone lowers it too


def test_homologues_stay_significant() -> None:
    families = _families()
    # Families of ordinary composition (SMC_N's coiled coils and 12TM_1's membrane helices lose more,
    # as they do in BLAST+).
    for name in ("Globin", "Pkinase", "3Beta_HSD", "Patched"):
        query, *members = families[name][:6]
        stats = align_to(query, "protein", members, ["protein"] * len(members), DB_RESIDUES)
        standard = _standard_bits(stats["aln_score"])
        significant = standard > 60
        assert significant.any(), name
        # True homologues of ordinary composition keep nearly all of their bit score.
        assert (stats["bits"][significant] > 0.85 * standard[significant]).all(), (name, stats["bits"], standard)
        assert (stats["evalue"][significant] < 1e-5).all(), (name, stats["evalue"])


def test_the_hit_list_and_the_detail_pane_give_the_same_bits_and_evalue() -> None:
    rng = np.random.default_rng(23)
    globins = _families()["Globin"]
    pairs = [(globins[0], globins[3]), (_coiled_coil(rng, 200), _coiled_coil(rng, 250)),
             ("MKUOJLLVBZ" * 5, "MKVLLZBX" * 6)]  # letters outside the 20 as well
    for query, hit in pairs:
        listed = align_to(query, "protein", [hit], ["protein"], DB_RESIDUES)
        pane = align_pair(query, hit)
        assert pane.score == listed["aln_score"][0]
        assert pane.bits == listed["bits"][0] and pane.evalue(DB_RESIDUES) == listed["evalue"][0], (query[:10], pane)
    # A hit aligned among others gets what it gets alone (the adjustment is per pair).
    many = align_to(globins[0], "protein", globins[1:9], ["protein"] * 8, DB_RESIDUES)
    for i, hit in enumerate(globins[1:9]):
        assert many["bits"][i] == align_pair(globins[0], hit).bits
    dna = "ACGTTGCAAGGCTTACCGATGCAAGTCCGA" * 3
    listed = align_to(dna, "dna", [dna[5:70]], ["dna"], DB_RESIDUES)
    pane = align_pair(dna, dna[5:70], "dna")
    assert pane.bits == listed["bits"][0] == pytest.approx(_nucleotide_bits(pane.score))
    assert pane.evalue(DB_RESIDUES) == listed["evalue"][0]


def _nucleotide_bits(score: float) -> float:
    raw = score - score % 2
    return (0.625 * raw - math.log(0.41)) / math.log(2)


def test_sequences_without_true_amino_acids_keep_the_standard_statistics() -> None:
    stats = align_to("XXXXXXXXXX", "protein", ["XXXXXXXXXX"], ["protein"], DB_RESIDUES)
    assert stats["bits"][0] == pytest.approx(_standard_bits(stats["aln_score"])[0])


def test_pairs_too_long_to_align_again_are_scaled(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(29)
    query, target = _coiled_coil(rng, 300), _coiled_coil(rng, 600)
    raw = align_to(query, "protein", [target], ["protein"], DB_RESIDUES)["aln_score"]
    adjusted = composition.adjusted_bits(query, [target], raw)
    scaled = composition.adjusted_bits(query, [target], raw, adjust=[])
    assert adjusted[0] < scaled[0] - 5  # matrix adjustment: far less significant than scaling alone
    monkeypatch.setattr(composition, "MAX_ADJUST_CELLS", 300 * 600 - 1)
    assert composition.adjusted_bits(query, [target], raw)[0] == scaled[0]


def test_the_list_adjusts_what_can_enter_it_and_traces_what_it_shows() -> None:
    from genocat_desktop.engine.search.homology import ranked_alignment

    families = _families()
    query = families["Globin"][0]
    targets = [*families["Globin"][1:30], *families["RRM_1"][:40], *families["Pkinase"][:20]]
    k = 12
    order, stats = ranked_alignment(query, "protein", targets, ["protein"] * len(targets), DB_RESIDUES, k,
                                    tiebreak=np.arange(len(targets)))
    assert len(order) == k
    # Every hit shown has the detail pane's bits and E-value, and its traceback (identity, coverage).
    for i in order:
        pane = align_pair(query, targets[i])
        assert stats["bits"][i] == pane.bits and stats["evalue"][i] == pane.evalue(DB_RESIDUES)
        assert 0 < stats["identity"][i] <= 1 and 0 < stats["query_cov"][i] <= 1
    # The rows not shown have no traceback: a cut-off on identity cannot keep them unseen.
    hidden = np.setdiff1d(np.arange(len(targets)), order)
    assert np.isnan(stats["identity"][hidden]).all()
    # The same hits, in the same order, as when every candidate is adjusted.
    full = align_to(query, "protein", targets, ["protein"] * len(targets), DB_RESIDUES)
    best = np.lexsort((np.arange(len(targets)), -full["aln_score"], -full["bits"]))[:k]
    assert order.tolist() == best.tolist()


def test_candidates_that_cannot_reach_the_list_are_only_scaled() -> None:
    families = _families()
    query = families["Globin"][0]
    targets = [families["Globin"][1], *families["fn3"][:6]]  # one homologue, then unrelated proteins
    raw = align_to(query, "protein", targets, ["protein"] * len(targets), DB_RESIDUES)["aln_score"]
    by_raw = np.argsort(-raw, kind="stable")
    assert by_raw[0] == 0
    every = composition.adjusted_bits(query, targets, raw, by_raw)
    scaled = composition.adjusted_bits(query, targets, raw, adjust=[])
    early = composition.adjusted_bits(query, targets, raw, by_raw, keep=1)
    assert early[0] == every[0]  # the first keep candidates are always adjusted
    standard = _standard_bits(raw)
    cut = every[0] - math.log2(composition.EVALUE_STRETCH)
    far, near = standard < cut, standard >= cut
    assert far[1:].any()
    assert (early[far] == scaled[far]).all() and (early[far] < every[0]).all()
    assert (early[near] == every[near]).all()


def test_a_long_homologue_realigned_in_32_bits_from_the_start_keeps_its_score() -> None:
    rng = np.random.default_rng(31)
    letters = list(composition.AMINO_ACIDS)
    query = "".join(rng.choice(letters, 1500))
    target = "".join(c if rng.random() < 0.85 else rng.choice(letters) for c in query)
    raw = align_to(query, "protein", [target], ["protein"], DB_RESIDUES)["aln_score"]
    assert raw[0] * composition.SCALE >= composition._WIDE_FROM  # the case of the wide range
    qp, qn = composition.compositions([query])
    tp, tn = composition.compositions([target])
    matrices = composition.adjusted_matrices(qp[0], float(qn[0]), tp, tn)
    narrow = composition._realigned(query, [target], matrices)
    wide = composition._realigned(query, [target], matrices, raw)
    assert wide[0] == narrow[0] > 0.8 * raw[0]


def test_the_compiled_fit_gives_the_numpy_fits_matrices() -> None:
    """The matrix adjustment's compiled loop (one pair at a time) and its numpy fallback (every pair at
    once) take the same steps: the same matrices within the tolerances, the same rounded scores."""
    from genocat_desktop.engine.search import _composition  # built by `make venv`, as _seeds is

    rng = np.random.default_rng(4)
    sequences = ["".join(rng.choice(list(composition.AMINO_ACIDS), int(n))) for n in rng.integers(30, 500, 40)]
    sequences += [_coiled_coil(rng, 300), "W" * 30 + "C" * 30, "A" * 50 + "L" * 3]
    query_p, query_n = composition.compositions([_coiled_coil(rng, 200)])
    target_p, target_n = composition.compositions(sequences)
    b = composition._blosum()
    n = len(sequences)
    p = composition._with_pseudocounts(np.broadcast_to(query_p[0], (n, 20)), np.full(n, float(query_n[0])))
    q = composition._with_pseudocounts(target_p, target_n)
    log_pq = np.log(p)[:, :, None] + np.log(q)[:, None, :]
    numpy_log_joint, numpy_entropy = composition._fitted_joints(p, q, log_pq)
    log_joint, entropy = _composition.fit_joints(np.ascontiguousarray(p), np.ascontiguousarray(q),
                                                 b.integer_scores, b.lam_implied, composition.TARGET_ENTROPY)
    np.testing.assert_allclose(entropy, composition.TARGET_ENTROPY, atol=1e-9)
    np.testing.assert_allclose(entropy, numpy_entropy, atol=2e-9)
    joint = np.exp(log_joint)
    assert np.allclose(joint.sum(axis=2), p) and np.allclose(joint.sum(axis=1), q)  # the pairs' marginals
    # the relative entropy, from the frequencies themselves
    np.testing.assert_allclose((joint * (log_joint - log_pq)).sum(axis=(1, 2)), entropy, atol=1e-9)
    matrices, numpy_matrices = ((j - log_pq) / b.lam for j in (log_joint, numpy_log_joint))
    np.testing.assert_allclose(matrices, numpy_matrices, atol=1e-6)
    scale = composition.SCALE
    assert np.array_equal(np.rint(matrices * scale), np.rint(numpy_matrices * scale))
