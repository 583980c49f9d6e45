"""ESM-2 through ONNX Runtime: tokenizer, export parity, windows, quantisation, registry,
several embeddings per catalog (add, search, resume, import), cancel latency.

A small ESM-2 of the real architecture with random weights is built once per
session (``transformers.EsmModel``), exported by the same code path as
``genocat model export`` and installed in a temporary model registry.
"""

from __future__ import annotations

import argparse
import itertools
import os
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

# torch and transformers come with the [export] extra, which [dev] (and so CI) installs.
import torch
import transformers
from esm_helpers import save_fair_esm_checkpoint, write_vocab

import genocat_desktop.engine as engine
from genocat_desktop.cli.main import EXIT_CANCELLED, EXIT_OK, main
from genocat_desktop.engine import (
    Cancelled,
    CancelToken,
    Catalog,
    EmbedderError,
    ModelNotFoundError,
    Searcher,
    add_embedding,
    add_model,
    find_model,
    import_files,
    list_models,
    pending_embeddings,
    remove_model,
    set_runtime_options,
)
from genocat_desktop.engine.catalog import embeddings
from genocat_desktop.engine.embed.embedders.base import create
from genocat_desktop.engine.embed.embedders.esm_onnx import EsmOnnxEmbedder, make_batches
from genocat_desktop.engine.embed.embedders.esm_tokens import ESM2_TOKENS, encode_batch, translate_longest_orf, windows
from genocat_desktop.engine.embed.esm_export import build_random_model, export_esm, pooled, sample_proteins

RESIDUES = "LAGVSERTIDPKQNFYMHWCXBUZO"


@pytest.fixture(scope="session")
def esm(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A random 2-layer ESM-2 (64-d), its fp32 and int8 ONNX exports, and the PyTorch model."""
    root = tmp_path_factory.mktemp("esm")
    model = build_random_model(root / "hf", hidden=64, layers=2, heads=4)
    fp32 = export_esm(root / "hf", root / "tiny.onnx", name="tiny")
    int8 = export_esm(root / "hf", root / "tiny-int8.onnx", quantize="int8")
    return {"root": root, "model": model, "fp32": fp32, "int8": int8}


@pytest.fixture
def registry(esm: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty model registry for this test, with the tiny model installed."""
    folder = tmp_path / "models"
    monkeypatch.setenv("GENOCAT_MODELS", str(folder))
    add_model(esm["fp32"].path)
    return folder


def torch_pooled(model: Any, residues: list[bytes]) -> np.ndarray:
    """Reference: each protein alone (no padding) through PyTorch, mean over residues, normalised."""
    out = []
    for r in residues:
        ids, mask = encode_batch([r])
        with torch.inference_mode():
            hidden = model(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask)).last_hidden_state
        out.append(pooled(hidden.numpy(), mask)[0])
    return np.array(out)


# ---------------------------------------------------------------------------- tokenizer
def test_tokenizer_ids_match_the_reference_tokenizer(tmp_path: Path) -> None:
    ref = transformers.EsmTokenizer(vocab_file=str(write_vocab(tmp_path / "vocab.txt")))
    seqs = ["MKTAYIAKQRQISFVKSHFSRQ", RESIDUES, "A", "MKJV", "XBUZO", "ACDEFGHIKLMNPQRSTVWY" * 3]
    expected = ref(seqs, padding=True, return_tensors="np")
    ids, mask = encode_batch([s.encode() for s in seqs])
    np.testing.assert_array_equal(ids, expected["input_ids"])
    np.testing.assert_array_equal(mask, expected["attention_mask"])
    assert ref.convert_ids_to_tokens(list(range(len(ESM2_TOKENS)))) == list(ESM2_TOKENS)


def test_unknown_residues_are_one_unk_each_and_lower_case_is_accepted() -> None:
    ids, _ = encode_batch([b"MJJk"])
    assert ids[0].tolist() == [0, 20, 3, 3, 15, 2]  # <cls> M <unk> <unk> K <eos>


def test_windows_cover_everything_with_overlap() -> None:
    assert windows(500, 1022, 256) == [(0, 500)]
    assert windows(1022, 1022, 256) == [(0, 1022)]
    for length in (1023, 1500, 2500, 7777):
        wins = windows(length, 1022, 256)
        assert wins[0][0] == 0 and wins[-1][1] == length
        assert all(e - s == 1022 for s, e in wins)
        assert all(a[1] - b[0] >= 256 for a, b in itertools.pairwise(wins))


def test_make_batches_respects_the_token_budget() -> None:
    rng = np.random.default_rng(1)
    lengths = rng.integers(1, 1022, size=500)
    batches = make_batches(lengths, 4096, 64)
    seen = np.sort(np.concatenate(batches))
    np.testing.assert_array_equal(seen, np.arange(500))
    for b in batches:
        assert len(b) <= 64
        assert len(b) == 1 or len(b) * (lengths[b].max() + 2) <= 4096
    # Length-sorted: padding is small.
    padded = sum(len(b) * (lengths[b].max() + 2) for b in batches)
    assert (lengths + 2).sum() / padded > 0.9
    # The attention cap: long proteins go in smaller batches (memory), short ones are unaffected.
    capped = make_batches(lengths, 4096, 64, 2_000_000)
    assert all(len(b) == 1 or len(b) * (lengths[b].max() + 2) ** 2 <= 2_000_000 for b in capped)
    assert len(capped) > len(batches)
    np.testing.assert_array_equal(np.sort(np.concatenate(capped)), np.arange(500))


def test_six_frame_translation() -> None:
    cds = b"ATGGCTAAAGAAACCTTTTGGCATTAA"  # M A K E T F W H stop
    # The reverse strand has a longer stop-free stretch (LMPKGFFSH), but the ORF from ATG wins.
    assert translate_longest_orf(cds) == b"MAKETFWH"
    assert translate_longest_orf(cds.replace(b"T", b"U")) == b"MAKETFWH"
    assert translate_longest_orf(b"CCATGNNNAAATAGCC") == b"MXK"
    # Reverse strand: the reverse complement of the CDS translates to the same protein.
    longer = b"ATGGCTAAAGAAACCTTTTGGCATGGCGGCGGCTAA"
    rc = longer[::-1].translate(bytes.maketrans(b"ACGT", b"TGCA"))
    assert translate_longest_orf(rc) == translate_longest_orf(longer) == b"MAKETFWHGGG"
    assert translate_longest_orf(b"CCCCCCCCC") == b"PPP"  # no ATG anywhere: the longest stretch
    assert translate_longest_orf(b"AC") == b""


# ---------------------------------------------------------------------------- export and parity
def test_export_parity_with_pytorch_on_padded_batches(esm: dict[str, Any]) -> None:
    import onnxruntime as ort

    report = esm["fp32"]
    assert report.max_abs_diff < 1e-4 and report.max_abs_diff_pooled < 1e-4
    session = ort.InferenceSession(str(report.path), providers=["CPUExecutionProvider"])
    for lengths in ((5, 300, 41), (120, 119, 1, 64, 230), (700,)):
        residues = sample_proteins(len(lengths), seed=sum(lengths), lengths=lengths)
        ids, mask = encode_batch(residues)
        got = session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
        with torch.inference_mode():
            ref = esm["model"](input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask))
        real = mask.astype(bool)
        assert np.abs(got - ref.last_hidden_state.numpy())[real].max() < 1e-4


def test_embedder_matches_pytorch_unpadded(esm: dict[str, Any], registry: Path) -> None:
    residues = sample_proteins(24, seed=3, lengths=(7, 33, 150, 260, 12, 90))
    emb = create("esm", model="tiny")
    assert isinstance(emb, EsmOnnxEmbedder) and emb.dim == 64
    ref = torch_pooled(esm["model"], residues)
    for budget in (4096, 300):  # different buckets, different padding: the same vectors
        set_runtime_options(token_budget=budget)
        try:
            got = emb.embed([r.decode() for r in residues])
        finally:
            set_runtime_options(token_budget=4096)
        assert got.dtype == np.float32 and got.shape == (24, 64)
        np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
        assert np.abs(got - ref).max() < 1e-4


def test_long_proteins_are_windowed_and_pooled(esm: dict[str, Any], registry: Path) -> None:
    (long,) = sample_proteins(1, seed=5, lengths=(260,))
    emb = EsmOnnxEmbedder("tiny", window=100, overlap=30)
    got = emb.embed([long.decode()])[0]
    # Reference: each window through PyTorch alone; a residue's vector is the mean over its windows.
    wins = windows(len(long), 100, 30)
    assert len(wins) == 4
    total = np.zeros(64)
    cover = np.zeros(len(long))
    for s, e in wins:
        cover[s:e] += 1
    for s, e in wins:
        ids, mask = encode_batch([long[s:e]])
        with torch.inference_mode():
            h = esm["model"](input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask))
        total += (h.last_hidden_state.numpy()[0, 1:-1] / cover[s:e, None]).sum(axis=0)
    ref = total / np.linalg.norm(total)
    assert np.abs(got - ref).max() < 1e-4
    # Not a truncation: the tail changes the vector.
    assert np.abs(emb.embed([long[:100].decode()])[0] - got).max() > 1e-3
    # With the default window, 1,100 residues become two windows, and a different vector than 1,022.
    default = EsmOnnxEmbedder("tiny")
    (x,) = sample_proteins(1, seed=6, lengths=(1100,))
    assert default.embed([x.decode()]).shape == (1, 64)


def test_dna_records_embed_as_their_translation(registry: Path) -> None:
    emb = create("esm", model="tiny")
    cds = "ATGGCTAAAGAAACCTTTTGGCATTAA"
    a = emb.embed([cds], ["dna"])
    b = emb.embed(["MAKETFWH"], ["protein"])
    assert np.abs(a - b).max() < 1e-6


def test_empty_sequence_gives_a_unit_vector(registry: Path) -> None:
    v = create("esm", model="tiny").embed([""])
    assert np.isclose(np.linalg.norm(v[0]), 1.0, atol=1e-5)


def test_int8_model_is_close_to_fp32(esm: dict[str, Any], registry: Path) -> None:
    int8 = esm["int8"]
    assert int8.manifest["quantization"] == "int8" and int8.manifest["name"] == "hf-int8"
    assert int8.cosine_to_fp32 is not None and int8.cosine_to_fp32 >= 0.99
    assert int8.path.stat().st_size < esm["fp32"].path.stat().st_size
    residues = [r.decode() for r in sample_proteins(16, seed=9)]
    q = EsmOnnxEmbedder(path=int8.path).embed(residues)
    f = create("esm", model="tiny").embed(residues)
    assert np.sum(q * f, axis=1).min() >= 0.99


def test_fair_esm_checkpoint_exports_like_the_hf_model(esm: dict[str, Any], tmp_path: Path) -> None:
    ckpt = save_fair_esm_checkpoint(esm["model"], tmp_path / "esm2_tiny.pt")
    report = export_esm(ckpt, tmp_path / "fair.onnx")
    assert report.manifest["source"] == {"checkpoint": "esm2_tiny.pt", "kind": "fair-esm"}
    assert report.manifest["name"] == "esm2_tiny" and report.manifest["layers"] == 2
    residues = sample_proteins(6, seed=11)
    a = EsmOnnxEmbedder(path=report.path).embed([r.decode() for r in residues])
    assert np.abs(a - torch_pooled(esm["model"], residues)).max() < 1e-4


class _Opaque:
    """A class the checkpoint loader must not import or run (like fairseq's pickled configs)."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, ("echo never",))  # would run a command if the loader trusted it


def test_fair_esm_checkpoint_with_untrusted_pickles_loads_inertly(esm: dict[str, Any], tmp_path: Path) -> None:
    cfg = argparse.Namespace(encoder_layers=2, encoder_embed_dim=64, encoder_attention_heads=4, token_dropout=True)
    ckpt = save_fair_esm_checkpoint(esm["model"], tmp_path / "odd.pt", cfg=cfg)
    data = torch.load(ckpt, weights_only=False)
    data["args"] = _Opaque()
    torch.save(data, ckpt)
    from genocat_desktop.engine.embed.esm_export import load_checkpoint

    _model, info = load_checkpoint(ckpt)
    assert info["kind"] == "fair-esm" and info["heads"] == 4


def test_export_fails_above_tolerance_and_writes_nothing(esm: dict[str, Any], tmp_path: Path) -> None:
    with pytest.raises(EmbedderError, match="differ from PyTorch"):
        export_esm(esm["root"] / "hf", tmp_path / "x.onnx", tolerance=0.0)
    assert not any(tmp_path.iterdir())


def test_export_rejects_what_is_not_an_esm2_checkpoint(tmp_path: Path) -> None:
    from genocat_desktop.engine import InputError

    with pytest.raises(InputError, match="no such checkpoint"):
        export_esm(tmp_path / "missing.pt", tmp_path / "x.onnx")
    (tmp_path / "folder").mkdir()
    with pytest.raises(InputError, match=r"config\.json"):
        export_esm(tmp_path / "folder", tmp_path / "x.onnx")
    torch.save({"model": {"w": torch.zeros(2)}}, tmp_path / "other.pt")
    with pytest.raises(InputError, match="not an ESM-2 checkpoint"):
        export_esm(tmp_path / "other.pt", tmp_path / "x.onnx")


def test_external_weights_file(esm: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    report = export_esm(esm["root"] / "hf", tmp_path / "big.onnx", external_data=True, name="big")
    assert (tmp_path / "big.onnx.data").is_file()
    monkeypatch.setenv("GENOCAT_MODELS", str(tmp_path / "models"))
    info = add_model(report.path)
    assert info.sha256 == report.manifest["sha256"]
    assert (info.path.parent / "big.onnx.data").is_file()
    residues = [r.decode() for r in sample_proteins(4)]
    np.testing.assert_allclose(create("esm", model="big").embed(residues),
                               EsmOnnxEmbedder(path=esm["fp32"].path).embed(residues), atol=1e-6)


# ---------------------------------------------------------------------------- registry
def test_registry_add_list_find_remove(esm: dict[str, Any], registry: Path) -> None:
    (m,) = list_models()
    assert m.name == "tiny" and m.dim == 64 and m.layers == 2 and m.quantization == "none"
    assert m.sha256 == esm["fp32"].manifest["sha256"]
    assert add_model(esm["fp32"].path).name == "tiny"  # the same file again: nothing new
    with pytest.raises(EmbedderError, match="different model named 'tiny'"):
        add_model(esm["int8"].path, name="tiny")
    q = add_model(esm["int8"].path)
    assert q.name == "hf-int8" and q.quantization == "int8"
    assert find_model(sha256=q.sha256).name == "hf-int8"
    remove_model("hf-int8")
    with pytest.raises(ModelNotFoundError, match="genocat model add"):
        find_model(sha256=q.sha256)
    with pytest.raises(ModelNotFoundError):
        create("esm", model="nope")


def test_registry_rejects_other_onnx_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import onnx
    from onnx import TensorProto, helper

    monkeypatch.setenv("GENOCAT_MODELS", str(tmp_path / "models"))
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    onnx.save(helper.make_model(graph), tmp_path / "other.onnx")
    with pytest.raises(EmbedderError, match="does not look like an ESM model"):
        add_model(tmp_path / "other.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    with pytest.raises(EmbedderError, match="not a readable ONNX model"):
        add_model(tmp_path / "junk.onnx")
    assert list_models() == []


# ---------------------------------------------------------------------------- catalogs
def subset(data_dir: Path, out: Path, start: int, stop: int) -> Path:
    """Records ``start:stop`` of the small labelled set (a model embeds ~100/s here, under load much less)."""
    records = (data_dir / "families_small.faa").read_text().split(">")[1:]
    out.write_text("".join(">" + r for r in records[start:stop]))
    return out


@pytest.fixture
def catalog(tmp_catalog_path: Path, data_dir: Path, tmp_path: Path) -> Catalog:
    cat = Catalog.open(tmp_catalog_path)
    import_files(cat, [subset(data_dir, tmp_path / "first.faa", 0, 80)])
    return cat


def _column(cat: Catalog, column: str) -> dict[str, np.ndarray]:
    t = cat.dataset().to_table(columns=["seq_hash", column])
    vecs = np.array(t.column(column).to_pylist(), dtype=np.float32)
    return dict(zip(t.column("seq_hash").to_pylist(), vecs, strict=True))


def test_add_embedding_then_search_by_it(catalog: Catalog, registry: Path) -> None:
    rows, before = catalog.count(), catalog.version
    kmer_before = _column(catalog, "vec_kmer")
    files_before = {f.path for frag in catalog.dataset().get_fragments() for f in frag.metadata.files}
    report = add_embedding(catalog, "esm", {"model": "tiny"})
    assert report.column == "vec_esm_tiny" and report.rows == rows == report.embedded
    assert catalog.version == before + 2  # the column, then the metadata
    assert set(catalog.vector_columns()) == {"vec_kmer", "vec_esm_tiny"}
    assert catalog.vector_columns()["vec_esm_tiny"]["params"]["sha256"] == find_model("tiny").sha256
    assert catalog.default_vector == "vec_kmer"
    # Schema evolution: the old data files are all still there, only new ones were added.
    files_after = {f.path for frag in catalog.dataset().get_fragments() for f in frag.metadata.files}
    assert files_before < files_after
    assert all(np.array_equal(kmer_before[h], v) for h, v in _column(catalog, "vec_kmer").items())
    t = catalog.dataset().to_table(columns=["sequence", "vec_esm_tiny"], limit=5)
    direct = create("esm", model="tiny").embed(t.column("sequence").to_pylist())
    assert np.abs(np.array(t.column("vec_esm_tiny").to_pylist()) - direct).max() < 1e-5
    query = t.column("sequence")[0].as_py()
    hit = Searcher(catalog).search(query, k=3, column="vec_esm_tiny")
    assert hit.column == "vec_esm_tiny" and hit.hits.column("score")[0].as_py() == pytest.approx(1.0, abs=1e-5)
    assert hit.hits.column("sequence")[0].as_py() == query
    # Asking again changes nothing; another column for the same model is allowed.
    assert add_embedding(catalog, "esm", {"model": "tiny"}).version is None
    assert embeddings.resolve_column(catalog, "tiny") == "vec_esm_tiny"


def test_a_small_language_model_embeds_the_calibrations_near_copies(catalog: Catalog, registry: Path) -> None:
    from genocat_desktop.engine.search.calibration import NO_ROW, calibration_sample, cheap_embedder

    add_embedding(catalog, "esm", {"model": "tiny"})
    emb = cheap_embedder(catalog, "vec_esm_tiny")
    assert emb is not None  # a tiny model embeds a hundred copies in well under the budget
    assert cheap_embedder(catalog, "vec_esm_tiny", budget=0.0) is None  # no time is short enough
    sample = calibration_sample(catalog.dataset(), "vec_esm_tiny", queries=10, embedder=emb)
    assert sample.vectors.shape == (20, int(catalog.vector_columns()["vec_esm_tiny"]["dim"]))
    assert int((sample.own == NO_ROW).sum()) == 10  # ten near copies beside the ten rows


def test_import_after_adding_fills_every_column(catalog: Catalog, registry: Path, data_dir: Path,
                                                tmp_path: Path) -> None:
    add_embedding(catalog, "esm", {"model": "tiny"}, make_default=True)
    assert catalog.default_vector == "vec_esm_tiny"
    report = import_files(catalog, [subset(data_dir, tmp_path / "more.faa", 80, 130)])
    assert report.imported == 50
    t = catalog.dataset().to_table(columns=["sequence", "vec_kmer", "vec_esm_tiny"], filter="source_file = 'more.faa'")
    assert t.num_rows == 50 and t.column("vec_esm_tiny").null_count == 0 and t.column("vec_kmer").null_count == 0
    some = t.slice(0, 8)
    direct = create("esm", model="tiny").embed(some.column("sequence").to_pylist())
    assert np.abs(np.array(some.column("vec_esm_tiny").to_pylist()) - direct).max() < 1e-5


def _report_every_step(monkeypatch: pytest.MonkeyPatch) -> None:
    """Report every embedding step, so a test that cancels at a given count is not racing the throttle.

    Progress is throttled to one report per 0.25 s: a quick run can end between its first report and
    the next, so the report that should cancel it comes only at the end, with every row embedded.
    """
    report = embeddings._EmbedUdf._report

    def unthrottled(udf: Any, extra: int = 0) -> None:
        udf.meter.interval = 0.0
        report(udf, extra)

    monkeypatch.setattr(embeddings._EmbedUdf, "_report", unthrottled)


def test_cancel_then_resume(catalog: Catalog, registry: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embeddings, "SAVE_EVERY", 16)
    monkeypatch.setattr(embeddings, "SCAN_BATCH", 64)
    _report_every_step(monkeypatch)
    version, names = catalog.version, catalog.schema.names
    data = Path(catalog.uri) / "data"
    files = set(os.listdir(data))
    token = CancelToken()

    def progress(p: Any) -> None:
        if p.phase == "embedding" and p.done >= 40:
            token.cancel()

    with pytest.raises(Cancelled):
        add_embedding(catalog, "esm", {"model": "tiny"}, progress=progress, cancel=token)
    # Nothing changed in the catalog, no stray column files; the work is in the checkpoint.
    assert catalog.refresh() == version and catalog.schema.names == names
    assert set(os.listdir(data)) == files
    (pending,) = pending_embeddings(catalog)
    assert pending.column == "vec_esm_tiny" and 16 <= pending.done < catalog.count()
    report = add_embedding(catalog, "esm", {"model": "tiny"})
    assert report.reused == pending.done and report.embedded == catalog.count() - pending.done
    assert pending_embeddings(catalog) == []
    got = _column(catalog, "vec_esm_tiny")
    t = catalog.dataset().to_table(columns=["seq_hash", "sequence"])
    direct = create("esm", model="tiny").embed(t.column("sequence").to_pylist())
    ref = dict(zip(t.column("seq_hash").to_pylist(), direct, strict=True))
    assert max(float(np.abs(got[h] - ref[h]).max()) for h in ref) < 1e-5


def test_checkpoint_of_another_model_is_not_reused(catalog: Catalog, registry: Path, esm: dict[str, Any],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embeddings, "SAVE_EVERY", 16)
    _report_every_step(monkeypatch)
    token = CancelToken()
    with pytest.raises(Cancelled):
        add_embedding(catalog, "esm", {"model": "tiny"}, column="vec_esm_x", cancel=token,
                      progress=lambda p: token.cancel() if p.done >= 32 else None)
    add_model(esm["int8"].path)
    report = add_embedding(catalog, "esm", {"model": "hf-int8"}, column="vec_esm_x")
    assert report.reused == 0
    # A pending run can also be thrown away.
    with pytest.raises(Cancelled):
        add_embedding(catalog, "esm", {"model": "tiny"}, cancel=token)
    assert [p.column for p in pending_embeddings(catalog)] == ["vec_esm_tiny"]
    assert embeddings.discard_pending_embedding(catalog, "vec_esm_tiny")
    assert pending_embeddings(catalog) == [] and not embeddings.discard_pending_embedding(catalog, "vec_esm_tiny")


def test_remove_and_default_embedding(catalog: Catalog, registry: Path) -> None:
    add_embedding(catalog, "esm", {"model": "tiny"})
    embeddings.set_default_embedding(catalog, "vec_esm_tiny")
    assert catalog.default_vector == "vec_esm_tiny"
    embeddings.remove_embedding(catalog, "vec_esm_tiny")
    assert catalog.default_vector == "vec_kmer" and "vec_esm_tiny" not in catalog.schema.names
    from genocat_desktop.engine import CatalogError

    with pytest.raises(CatalogError, match="at least one"):
        embeddings.remove_embedding(catalog, "vec_kmer")


def test_add_embedding_to_an_empty_catalog(tmp_catalog_path: Path, registry: Path, data_dir: Path,
                                           tmp_path: Path) -> None:
    cat = Catalog.open(tmp_catalog_path)
    report = add_embedding(cat, "esm", {"model": "tiny"})
    assert report.rows == 0 and "vec_esm_tiny" in cat.schema.names
    import_files(cat, [subset(data_dir, tmp_path / "few.faa", 0, 20)])
    assert cat.dataset().to_table(columns=["vec_esm_tiny"]).column(0).null_count == 0


# ---------------------------------------------------------------------------- cancel latency
def test_cancel_interrupts_a_model_call_in_flight(registry: Path) -> None:
    emb = create("esm", model="tiny")
    residues = [r.decode() for r in sample_proteins(64, seed=2, lengths=(900,))]
    set_runtime_options(token_budget=1_000_000, max_batch=1000)  # one huge call
    token = CancelToken()
    timer = threading.Timer(0.3, token.cancel)
    try:
        started = time.perf_counter()
        timer.start()
        with pytest.raises(Cancelled):
            emb.embed(residues, cancel=token)  # type: ignore[call-arg]
        elapsed = time.perf_counter() - started
    finally:
        timer.cancel()
        timer.join()
        set_runtime_options(token_budget=4096, max_batch=128)
    assert elapsed < 1.3


@pytest.fixture
def big_fasta(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    letters = np.frombuffer(b"ACDEFGHIKLMNPQRSTVWY", dtype=np.uint8)
    codes = letters[rng.integers(0, 20, size=100_000 * 60)].reshape(100_000, 60)
    path = tmp_path / "100k.fa"
    with open(path, "wb") as fh:
        for i, row in enumerate(codes):
            fh.write(b">p%d\n%s\n" % (i, row.tobytes()))
    return path


@pytest.mark.slow
def test_import_of_100k_sequences_with_esm_cancels_within_a_second(
    tmp_catalog_path: Path, registry: Path, big_fasta: Path
) -> None:
    cat = Catalog.open(tmp_catalog_path)
    add_embedding(cat, "esm", {"model": "tiny"})
    version = cat.version
    token = CancelToken()
    embedding = threading.Event()

    def progress(p: Any) -> None:
        if p.phase == "importing" and p.done > 0:
            embedding.set()

    result: dict[str, Any] = {}

    def run() -> None:
        result["report"] = import_files(cat, [big_fasta], progress=progress, cancel=token)
        result["end"] = time.perf_counter()

    thread = threading.Thread(target=run)
    thread.start()
    try:
        assert embedding.wait(120), "the import never started embedding"
        cancelled_at = time.perf_counter()
        token.cancel()
    finally:
        thread.join(60)
    assert result["report"].cancelled
    assert result["end"] - cancelled_at < 1.0
    assert cat.refresh() == version and cat.count() == 0


# ---------------------------------------------------------------------------- CLI
def test_cli_model_and_embed_commands(esm: dict[str, Any], tmp_path: Path, data_dir: Path,
                                      monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GENOCAT_MODELS", str(tmp_path / "models"))
    monkeypatch.setenv("GENOCAT_CATALOG", str(tmp_path / "cat"))
    assert main(["model", "list"]) == EXIT_OK
    assert "No models installed" in capsys.readouterr().out
    assert main(["model", "add", str(esm["fp32"].path)]) == EXIT_OK
    assert "installed tiny" in capsys.readouterr().out
    assert main(["model", "list"]) == EXIT_OK
    assert "tiny\t2 layers, 64 dimensions" in capsys.readouterr().out
    assert main(["import", str(subset(data_dir, tmp_path / "few.faa", 0, 30))]) == EXIT_OK
    assert main(["embed", "--model", "tiny", "--json"]) == EXIT_OK
    out = capsys.readouterr().out
    assert '"column": "vec_esm_tiny"' in out
    assert main(["info"]) == EXIT_OK
    assert "vec_esm_tiny: esm v1, 64 dimensions" in capsys.readouterr().out
    assert main(["search", "--embedding", "tiny", "MKVLSPADKTNVKAAWGKVGAHAGEYGAEALERMFLSFPTTKTYFPHF", "-k", "2",
                 "--format", "tsv"]) == EXIT_OK
    assert len(capsys.readouterr().out.strip().splitlines()) == 3
    assert main(["embed", "--model", "missing"]) != EXIT_OK
    assert "no model named 'missing' is installed" in capsys.readouterr().err


def test_cli_export(esm: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str],
                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GENOCAT_MODELS", str(tmp_path / "models"))
    code = main(["model", "export", "--checkpoint", str(esm["root"] / "hf"), "--out", str(tmp_path / "m.onnx"),
                 "--quantize", "int8", "--add"])
    out = capsys.readouterr().out
    assert code == EXIT_OK and "max abs difference vs PyTorch" in out and "cosine" in out
    assert [m.name for m in list_models()] == ["hf-int8"]


def test_cli_embed_cancel_exit_code(esm: dict[str, Any], tmp_path: Path, data_dir: Path,
                                    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GENOCAT_MODELS", str(tmp_path / "models"))
    monkeypatch.setenv("GENOCAT_CATALOG", str(tmp_path / "cat"))
    add_model(esm["fp32"].path)
    assert main(["import", str(subset(data_dir, tmp_path / "few.faa", 0, 10))]) == EXIT_OK

    def cancelled(*args: Any, **kwargs: Any) -> None:
        raise Cancelled()

    # The CLI reaches it through the application layer's ``from genocat_desktop.engine import
    # add_embedding``: patch the name where it is looked up.
    monkeypatch.setattr(engine, "add_embedding", cancelled)
    assert main(["embed", "--model", "tiny"]) == EXIT_CANCELLED
    assert "Run the same command again to resume" in capsys.readouterr().err
