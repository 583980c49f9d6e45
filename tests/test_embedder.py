"""The k-mer embedder and the embedder registry."""

from __future__ import annotations

import numpy as np
import pytest

from genocat_desktop.engine.embedders import base
from genocat_desktop.engine.embedders.kmer import KmerEmbedder
from genocat_desktop.engine.errors import EmbedderError


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
