"""MinHash sketch columns (sourmash): inserts found in constructs either way round, genome ANI as sourmash
reports it, imports that fill the column, the refusals, the CLI and the Add embedding dialog."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from genocat_desktop.cli.main import EXIT_OK, main
from genocat_desktop.engine import Catalog, Condition, add_embedding, import_files
from genocat_desktop.engine.core.errors import CatalogError, QueryError, SchemaError
from genocat_desktop.engine.embed.embedders.base import create
from genocat_desktop.engine.embed.embedders.sketch import SketchEmbedder
from genocat_desktop.engine.search.export import export_hits
from genocat_desktop.engine.search.searcher import Searcher
from genocat_desktop.engine.search.sketches import SKETCH_COLUMNS, SketchIndex

DNA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "dna"
if not DNA.is_dir():
    DNA = Path("/work/shared/data/dna")
pytestmark = pytest.mark.skipif(not (DNA / "bmyD.fna").exists(), reason="shared DNA data absent")
COMPLEMENT = str.maketrans("ACGT", "TGCA")


def rc(seq: str) -> str:
    return seq.translate(COMPLEMENT)[::-1]


def fasta(path: Path) -> list[tuple[str, str]]:
    opener: Any = gzip.open if path.suffix == ".gz" else open
    out: list[tuple[str, list[str]]] = []
    with opener(path, "rt") as f:
        for line in f:
            if line.startswith(">"):
                out.append((line[1:].split()[0], []))
            elif out:
                out[-1][1].append(line.strip().upper())
    return [(name, "".join(parts)) for name, parts in out]


def write(path: Path, records: list[tuple[str, str]]) -> Path:
    path.write_text("".join(f">{name}\n{seq}\n" for name, seq in records))
    return path


def random_dna(rng: np.random.Generator, n: int) -> str:
    return "".join(np.array(list("ACGT"))[rng.integers(0, 4, n)])


def substitute(rng: np.random.Generator, seq: str, share: float) -> str:
    out = np.array(list(seq))
    at = rng.choice(len(out), size=round(len(out) * share), replace=False)
    shift = rng.integers(1, 4, at.size)
    codes = np.searchsorted(np.array(list("ACGT")), out[at])
    out[at] = np.array(list("ACGT"))[(codes + shift) % 4]
    return "".join(out)


@pytest.fixture(scope="module")
def constructs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Catalog, dict[str, str]]:
    """Constructs on two shared backbones: bmyD forward in one, reversed in another; other real genes in
    the rest. Returns the catalog (k-mer column, then a sketch column) and the inserts by name."""
    rng = np.random.default_rng(7)
    folder = tmp_path_factory.mktemp("sketch-constructs")
    bmyd = fasta(DNA / "bmyD.fna")[0][1]
    others = [s for _, s in fasta(DNA / "CP040672.1.genes_100.fna") if 800 <= len(s) <= 2500][:12]
    backbones = [random_dna(rng, 3000), random_dna(rng, 4500)]
    records = [("bmyD_fwd", backbones[0][:1000] + bmyd + backbones[0][1000:]),
               ("bmyD_rev", backbones[1][:2500] + rc(bmyd) + backbones[1][2500:])]
    for i, gene in enumerate(others):
        bb = backbones[i % 2]
        insert = gene if i % 3 else rc(gene)
        records.append((f"other{i:02d}", bb[:1500] + insert + bb[1500:]))
    catalog = Catalog.open(folder / "cat")
    import_files(catalog, [write(folder / "constructs.fna", records)])
    report = add_embedding(catalog, "sketch")
    assert report.column == "vec_sketch" and report.rows == len(records)
    return catalog, {"bmyD": bmyd, "other05": others[5]}


def test_the_column_records_sourmash_parameters(constructs: tuple[Catalog, dict[str, str]]) -> None:
    catalog, _ = constructs
    record = catalog.vector_columns()["vec_sketch"]
    assert record == {"name": "sketch", "version": 1, "dim": 0, "params": {"ksize": 21, "scaled": 100, "seed": 42}}
    assert str(catalog.schema.field("vec_sketch").type) == "list<item: uint64>"
    assert catalog.default_vector == "vec_kmer"
    # The hashes are sourmash's for the same sequence.
    from sourmash import MinHash

    seq = catalog.dataset().to_table(columns=["sequence"], filter="id = 'bmyD_fwd'").column(0)[0].as_py()
    mh = MinHash(n=0, ksize=21, scaled=100)
    mh.add_sequence(seq, force=True)
    stored = catalog.dataset().to_table(columns=["vec_sketch"], filter="id = 'bmyD_fwd'").column(0)[0].as_py()
    assert stored == sorted(mh.hashes) and len(stored) > 20


@pytest.mark.parametrize("orientation", ["forward", "reverse"])
def test_insert_found_in_both_constructs_either_way(constructs: tuple[Catalog, dict[str, str]],
                                                     orientation: str) -> None:
    catalog, inserts = constructs
    query = inserts["bmyD"] if orientation == "forward" else rc(inserts["bmyD"])
    result = Searcher(catalog).search(query, k=5, column="vec_sketch")
    hits = result.hits.to_pylist()
    assert {h["id"] for h in hits[:2]} == {"bmyD_fwd", "bmyD_rev"}
    assert [h["containment"] for h in hits[:2]] == [1.0, 1.0] and [h["ani"] for h in hits[:2]] == [1.0, 1.0]
    assert all(h["score"] == h["containment"] for h in hits)
    assert all(h["containment"] < 0.1 for h in hits[2:])  # constructs sharing only the backbone: nothing
    assert hits[0]["shared_hashes"] >= 5 and result.extra == {"strategy": "sketch"} and result.exact
    assert result.hits.column_names[:7] == ["rank", "score", *SKETCH_COLUMNS]
    assert "vec_sketch" not in result.hits.column_names and "vec_kmer" not in result.hits.column_names


def test_filters_and_fields(constructs: tuple[Catalog, dict[str, str]]) -> None:
    catalog, inserts = constructs
    searcher = Searcher(catalog)
    result = searcher.search(inserts["bmyD"], k=5, column="vec_sketch", conditions=[Condition("id", "!=", "bmyD_fwd")],
                             fields=["id", "length"])
    assert result.hits.column("id").to_pylist()[0] == "bmyD_rev"
    assert result.hits.column_names == ["rank", "score", *SKETCH_COLUMNS, "id", "length"]
    assert result.candidates == catalog.count() - 1


def test_protein_and_too_short_queries_are_refused(constructs: tuple[Catalog, dict[str, str]]) -> None:
    catalog, inserts = constructs
    searcher = Searcher(catalog)
    with pytest.raises(QueryError, match="sketches compare DNA; this query is protein"):
        searcher.search("MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEKAVQVKVKALPDAQ", column="vec_sketch")
    with pytest.raises(QueryError, match="keep no hash of the sketch"):
        searcher.search(inserts["bmyD"][:40], column="vec_sketch")


def test_a_sketch_column_is_never_the_default(constructs: tuple[Catalog, dict[str, str]], tmp_path: Path) -> None:
    from genocat_desktop.engine import set_default_embedding

    with pytest.raises(CatalogError, match="starts with a vector embedding"):
        Catalog.open(tmp_path / "new", embedder="sketch")
    catalog, _ = constructs
    with pytest.raises(CatalogError, match="cannot be the default"):
        set_default_embedding(catalog, "vec_sketch")
    with pytest.raises(SchemaError, match="cannot be the default"):
        add_embedding(catalog, "sketch", {"scaled": 200}, make_default=True)


def test_a_sketch_column_takes_no_vector_index(constructs: tuple[Catalog, dict[str, str]]) -> None:
    from genocat_desktop.engine.search.indexes import build_indexes

    catalog, _ = constructs
    version = catalog.refresh()
    with pytest.raises(CatalogError, match="searched without a vector index"):
        build_indexes(catalog, column="vec_sketch", scalar=False, text=False)
    assert catalog.refresh() == version


def test_imports_fill_the_sketch_column(tmp_path: Path, constructs: tuple[Catalog, dict[str, str]]) -> None:
    _, inserts = constructs
    rng = np.random.default_rng(3)
    catalog = Catalog.open(tmp_path / "cat")
    import_files(catalog, [write(tmp_path / "a.fna", [("first", random_dna(rng, 4000))])])
    add_embedding(catalog, "sketch")
    searcher = Searcher(catalog)
    carrier = random_dna(rng, 2000) + rc(inserts["other05"]) + random_dna(rng, 1000)
    import_files(catalog, [write(tmp_path / "b.fna", [("new_construct", carrier), ("decoy", random_dna(rng, 5000))])])
    hits = searcher.search(inserts["other05"], k=3, column="vec_sketch").hits.to_pylist()
    assert hits[0]["id"] == "new_construct" and hits[0]["containment"] == 1.0
    assert len(hits) == 1  # records sharing no hash are not hits
    from genocat_desktop.engine import remove_embedding

    with pytest.raises(CatalogError, match="needs at least one embedding"):
        remove_embedding(catalog, "vec_kmer")  # the sketches alone cannot be searched by similarity
    remove_embedding(catalog, "vec_sketch")
    assert list(catalog.vector_columns()) == ["vec_kmer"] and "vec_sketch" not in catalog.schema.names


def test_ani_of_a_diverged_reverse_complemented_copy_is_sourmashs(tmp_path: Path) -> None:
    from sourmash import MinHash

    rng = np.random.default_rng(11)
    contig = fasta(DNA / "1390.SAMEA104415756.OFHT01000022.fna")[0][1]
    piece = contig[100_000:150_000]
    assert "N" not in piece
    copy = rc(substitute(rng, piece, 0.05))  # 5 % substitutions, read from the other strand
    unrelated = contig[200_000:250_000]
    catalog = Catalog.open(tmp_path / "cat")
    import_files(catalog, [write(tmp_path / "g.fna", [("copy", copy), ("unrelated", unrelated)])])
    add_embedding(catalog, "sketch")
    hits = Searcher(catalog).search(piece, k=5, column="vec_sketch").hits.to_pylist()
    assert [h["id"] for h in hits][:1] == ["copy"]
    a, b = MinHash(n=0, ksize=21, scaled=100), MinHash(n=0, ksize=21, scaled=100)
    a.add_sequence(piece, force=True)
    b.add_sequence(copy, force=True)
    assert abs(hits[0]["ani"] - a.containment_ani(b).ani) < 1e-5
    assert abs(hits[0]["distance"] - a.jaccard_ani(b).dist) < 1e-5
    assert abs(hits[0]["containment"] - a.contained_by(b)) < 1e-5 and abs(hits[0]["jaccard"] - a.jaccard(b)) < 1e-5
    assert abs(hits[0]["distance"] - 0.05) < 0.01 and abs(1 - hits[0]["ani"] - 0.05) < 0.01  # the truth


def test_a_protein_catalog_refuses_a_sketch_column(tmp_path: Path) -> None:
    catalog = Catalog.open(tmp_path / "cat")
    import_files(catalog, [write(tmp_path / "p.faa", [("p1", "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ"),
                                                      ("p2", "MSTNPKPQRKTKRNTNRRPQDVKFPGGGQIVGG")])])
    with pytest.raises(SchemaError, match="holds only proteins"):
        add_embedding(catalog, "sketch")
    assert "vec_sketch" not in catalog.vector_columns()


def test_shared_hash_counts_match_sets() -> None:
    """The vectorised intersection agrees with Python sets (10,000 records), and in well under a second."""
    import time

    rng = np.random.default_rng(5)
    sizes = rng.integers(0, 80, 10_000)
    pool = np.unique(rng.integers(1, 2**63, 200_000, dtype=np.uint64))
    sets = [np.unique(rng.choice(pool, n)) for n in sizes]
    flat = np.concatenate(sets)
    owner = np.repeat(np.arange(len(sets), dtype=np.int32), [s.size for s in sets])
    order = np.argsort(flat, kind="stable")
    index = SketchIndex(1, "vec_sketch", np.arange(len(sets), dtype=np.uint64),
                        np.array([s.size for s in sets]), flat[order], owner[order])
    query = np.unique(np.concatenate([sets[3], rng.choice(pool, 500)]))
    started = time.perf_counter()
    shared = index.shared(query)
    assert time.perf_counter() - started < 0.2
    q = set(query.tolist())
    assert shared.tolist() == [len(q & set(s.tolist())) for s in sets]
    assert shared[3] == sets[3].size


def test_sketches_and_ani_without_scipy() -> None:
    """The desktop bundle leaves scipy and matplotlib out: sourmash still imports, sketches and converts."""
    code = textwrap.dedent("""
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("scipy", "matplotlib"):
                    raise ModuleNotFoundError(f"No module named {name!r}", name=name)
                return None
        sys.meta_path.insert(0, Block())
        import numpy as np
        from genocat_desktop.engine.embed.embedders.sketch import SketchEmbedder
        from genocat_desktop.engine.search.sketches import ani_from
        rng = np.random.default_rng(1)
        seq = "".join(np.array(list("ACGT"))[rng.integers(0, 4, 20000)])
        h = SketchEmbedder().sketch_one(seq)
        ani, dist = ani_from(np.array([0.5]), np.array([0.3]), h.size, np.array([h.size]), 21, 100)
        print(h.size, round(float(ani[0]), 4), "matplotlib" in sys.modules, hasattr(sys.modules["scipy"], "__file__"))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    size, ani, matplotlib, real_scipy = out.stdout.split()
    assert int(size) > 100 and float(ani) == round(0.5 ** (1 / 21), 4)
    assert matplotlib == "False" and real_scipy == "False"


def test_embedder_contract() -> None:
    emb = create("sketch", scaled=50)
    assert isinstance(emb, SketchEmbedder) and emb.params() == {"ksize": 21, "scaled": 50, "seed": 42}
    sketches = emb.sketch(["ACGT" * 100, "MKV" * 50, "ACGU" * 100], ["dna", "protein", "rna"])
    assert sketches[1].size == 0 and sketches[0].tolist() == sketches[2].tolist()
    with pytest.raises(Exception, match="ksize"):
        create("sketch", ksize=5)


def test_cli_adds_searches_and_exports(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GENOCAT_CATALOG", str(tmp_path / "cat"))
    rng = np.random.default_rng(9)
    bmyd = fasta(DNA / "bmyD.fna")[0][1]
    records = [("carrier", random_dna(rng, 2000) + rc(bmyd) + random_dna(rng, 500)), ("empty", random_dna(rng, 4000))]
    assert main(["import", str(write(tmp_path / "c.fna", records))]) == EXIT_OK
    capsys.readouterr()
    assert main(["embed", "--embedder", "sketch", "--param", "scaled=50", "--json"]) == EXIT_OK
    report = json.loads(capsys.readouterr().out)
    assert report["column"] == "vec_sketch" and report["rows"] == 2
    assert main(["search", "--embedding", "sketch", "--format", "tsv", bmyd]) == EXIT_OK
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split("\t") == ["query_id", "rank", *SKETCH_COLUMNS, "id", "name", "organism", "length"]
    row = dict(zip(lines[0].split("\t"), lines[1].split("\t"), strict=True))
    assert row["id"] == "carrier" and float(row["containment"]) == 1.0 and len(lines) == 2
    # The CSV export carries the sketch columns right after the score.
    result = Searcher(Catalog.open(tmp_path / "cat")).search(bmyd, column="vec_sketch")
    export_hits([result], tmp_path / "hits.csv")
    header = (tmp_path / "hits.csv").read_text().splitlines()[0].replace('"', "").split(",")
    assert header[:8] == ["query_id", "rank", "score", *SKETCH_COLUMNS]


def test_add_embedding_dialog_offers_sketches(qtbot: Any) -> None:
    pytest.importorskip("pytestqt")
    from genocat_desktop.ui.dialogs.embedding import AddEmbeddingDialog

    dialog = AddEmbeddingDialog([], 10, {"vec_kmer"})
    qtbot.addWidget(dialog)
    combo = dialog.embedder_combo
    assert [combo.itemData(i) for i in range(combo.count())] == [("kmer", None), ("sketch", None)]
    combo.setCurrentIndex(1)
    assert dialog.column_edit.text() == "vec_sketch" and dialog.ok_button.isEnabled()
    assert not dialog.default_check.isEnabled() and not dialog.k_spin.isVisibleTo(dialog)
    dialog.scaled_combo.setCurrentIndex(dialog.scaled_combo.findData(1000))
    assert dialog.values() == ("sketch", {"scaled": 1000}, "vec_sketch_s1000", False)


def test_search_page_shows_sketch_hits(qtbot: Any, tmp_path: Path) -> None:
    pytest.importorskip("pytestqt")
    from PySide6.QtCore import QSettings, Qt

    from genocat_desktop.ui.main_window import MainWindow

    for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(fmt, QSettings.Scope.UserScope, str(tmp_path / "settings"))
    rng = np.random.default_rng(4)
    bmyd = fasta(DNA / "bmyD.fna")[0][1]
    catalog = Catalog.open(tmp_path / "cat")
    import_files(catalog, [write(tmp_path / "c.fna", [("carrier", random_dna(rng, 3000) + rc(bmyd)),
                                                      ("other", random_dna(rng, 5000))])])
    add_embedding(catalog, "sketch")
    window = MainWindow(str(tmp_path / "cat"), [])
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.catalog_opened, timeout=120_000):
        window.show()
    page = window.search_page
    qtbot.waitUntil(lambda: page.embedder_combo.findData("vec_sketch") >= 0, timeout=120_000)
    index = page.embedder_combo.findData("vec_sketch")
    assert page.embedder_combo.itemText(index).startswith("MinHash sketch, k=21, scaled 100")
    page.embedder_combo.setCurrentIndex(index)
    page.query_edit.setPlainText(f">insert\n{bmyd}\n")
    with qtbot.waitSignal(window.results_shown, timeout=120_000):
        window.run_search()
    view = page.hits_table
    qtbot.waitUntil(lambda: bool(view.source_rows()), timeout=120_000)
    names = view.source.column_names
    for name, label in (("containment", "Containment"), ("ani", "ANI"), ("distance", "Distance"),
                        ("shared_hashes", "Shared hashes")):
        assert label == view.source.headerData(names.index(name), Qt.Orientation.Horizontal)
        assert not view.isColumnHidden(names.index(name))
    first = view.source.row_dict(0)
    assert first["id"] == "carrier" and first["containment"] == 1.0 and view.source.rowCount() == 1
    # The score is the containment, not a cosine: its header and the histogram say so; it is hidden
    # beside its own Containment column.
    tip = view.source.headerData(names.index("score"), Qt.Orientation.Horizontal, Qt.ItemDataRole.ToolTipRole)
    assert "containment" in tip and "cosine" not in tip.lower() and view.isColumnHidden(names.index("score"))
    qtbot.waitUntil(lambda: page.histogram.label == "containment (sketch)", timeout=120_000)
    qtbot.waitUntil(lambda: "Containment" in page.hit_detail.toPlainText(), timeout=120_000)
    window.confirm = lambda title, text: True
    window.close()
