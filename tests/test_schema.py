"""User fields: schema changes and value edits never rewrite the vectors, and failures change nothing."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from genocat_desktop.engine import (
    Cancelled,
    CancelToken,
    Catalog,
    FilterError,
    InputError,
    SchemaError,
    Searcher,
    add_field,
    annotate,
    drop_field,
    import_files,
    list_fields,
    parse_condition,
    plan_annotations,
    rename_field,
    set_cells,
    set_values,
    to_sql,
    update_field,
    user_fields,
)

DATA = Path(__file__).parent / "data"
QUERY = "MKVLAAGIVALLLAAGCSSSKEETKTEAPAQSAPKAAE"


def _new_catalog(path: Path) -> Catalog:
    cat = Catalog.open(path)
    # Two files, two fragments: edits must handle rows spread over fragments.
    report = import_files(cat, [DATA / "mmseqs2_QUERY.fasta", DATA / "families_small.faa"])
    assert not report.failed
    return cat


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    return _new_catalog(tmp_path / "catalog")


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    """One catalog with a few user fields, shared by the refusal cases (none of them may change it)."""
    cat = _new_catalog(tmp_path_factory.mktemp("schema") / "catalog")
    add_field(cat, "assay", "category", allowed=["low", "high"])
    add_field(cat, "count", "integer")
    add_field(cat, "flag", "boolean")
    return cat


def _data_files(cat: Catalog) -> dict[str, str]:
    """MD5 of every data file of the table, by path."""
    folder = Path(cat.uri) / "data"
    return {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def _files_of_field(cat: Catalog, field_id: int) -> dict[int, str]:
    """For each fragment, the data file that holds ``field_id``."""
    out = {}
    for fragment in cat.dataset().get_fragments():
        for data_file in fragment.data_files():
            if field_id in data_file.fields:
                out[fragment.fragment_id] = data_file.path
    return out


def _field_id(cat: Catalog, name: str) -> int:
    field = cat.dataset().lance_schema.field(name)
    assert field is not None
    return int(field.id())


def _values(cat: Catalog, name: str) -> dict[str, Any]:
    table = cat.dataset().to_table(columns=["seq_hash", name])
    return dict(zip(table.column("seq_hash").to_pylist(), table.column(name).to_pylist(), strict=True))


def test_no_operation_rewrites_the_vectors_and_the_index_still_answers(tmp_path: Path) -> None:
    cat = _new_catalog(tmp_path / "catalog")
    ds = cat.dataset()
    ds.create_index("vec_kmer", index_type="IVF_FLAT", num_partitions=4, metric="cosine")
    cat.refresh()
    query = cat.embedder().embed([QUERY], ["protein"])[0]

    def ann_top() -> list[str]:
        table = cat.dataset().to_table(
            columns=["seq_hash"], nearest={"column": "vec_kmer", "q": query, "k": 10, "nprobes": 4}
        )
        return table.column("seq_hash").to_pylist()

    before_files = _data_files(cat)
    vector_id = _field_id(cat, "vec_kmer")
    vector_files = _files_of_field(cat, vector_id)
    before_ann = ann_top()
    before_exact = Searcher(cat).search(QUERY, k=10).hits.column("seq_hash").to_pylist()
    start = cat.version

    add_field(cat, "assay", "category", allowed=["low", "high"])
    add_field(cat, "ph", "float", default=7.0)
    user_ids = {_field_id(cat, "assay"), _field_id(cat, "ph")}
    set_values(cat, "assay", "high", conditions=[parse_condition("length > 300")])
    set_values(cat, "ph", 6.5, hashes=before_exact[:3])
    csv = tmp_path / "notes.csv"
    acc = cat.dataset().to_table(columns=["accession"], limit=2).column("accession").to_pylist()
    csv.write_text(f"accession,assay\n{acc[0]},low\n{acc[1]},high\nNOPE,low\n")
    annotate(cat, plan_annotations(cat, csv, key="accession"))
    rename_field(cat, "assay", "assay_level")
    update_field(cat, "assay_level", description="bench assay")
    drop_field(cat, "ph")
    assert cat.version == start + 8  # one version per change

    after_files = _data_files(cat)
    # Byte for byte: every data file that existed is still there, unchanged.
    assert {name: after_files.get(name) for name in before_files} == before_files
    # The vectors are still read from the very same files.
    assert _files_of_field(cat, vector_id) == vector_files
    # The new files hold user fields only.
    new_files = 0
    for fragment in cat.dataset().get_fragments():
        for data_file in fragment.data_files():
            if data_file.path not in before_files:
                assert set(data_file.fields) <= user_ids
                new_files += 1
    assert new_files >= 2  # at least the latest values of assay_level in both fragments
    # The index covers every row and answers as before; exact search too.
    stats = cat.dataset().stats.index_stats("vec_kmer_idx")
    assert stats["num_unindexed_rows"] == 0 and stats["num_indexed_rows"] == cat.count()
    assert ann_top() == before_ann
    hits = Searcher(cat).search(QUERY, k=10).hits
    assert hits.column("seq_hash").to_pylist() == before_exact
    assert "assay_level" in hits.column_names and "ph" not in hits.column_names


def test_add_rename_drop_and_list(catalog: Catalog) -> None:
    add_field(catalog, "assay", "category", allowed=["low", "medium", "high"], description="plate assay")
    add_field(catalog, "reviewed", "boolean", default="yes")
    add_field(catalog, "seen", "date")
    fields = {f.name: f for f in list_fields(catalog)}
    rows = catalog.count()
    assert fields["assay"].kind == "user" and fields["assay"].type == "category"
    assert fields["assay"].allowed == ("low", "medium", "high") and fields["assay"].description == "plate assay"
    assert fields["assay"].filled == 0 and fields["reviewed"].filled == rows and fields["reviewed"].default is True
    assert fields["seq_hash"].kind == "builtin" and fields["seq_hash"].filled == rows
    assert fields["vec_kmer"].kind == "vector"
    # Catalog.fields (info, the GUI's column list) shows the description too.
    assert {f.name: f.description for f in catalog.fields()}["assay"] == "plate assay"

    rename_field(catalog, "assay", "assay_level")
    assert "assay" not in user_fields(catalog)
    assert user_fields(catalog)["assay_level"].allowed == ("low", "medium", "high")  # the definition moved with it
    drop_field(catalog, "seen")
    assert list(user_fields(catalog)) == ["assay_level", "reviewed"]
    # The history view: fields as of an older version.
    assert "seen" in {f.name for f in list_fields(catalog, version=catalog.version - 1, counts=False)}
    messages = [v.message for v in catalog.versions()[-5:]]
    assert messages == [
        "schema: add field 'assay' (category (low, medium, high))",
        "schema: add field 'reviewed' (boolean), default True",
        "schema: add field 'seen' (date)",
        "schema: rename field 'assay' to 'assay_level'",
        "schema: drop field 'seen'",
    ]


def test_values_for_a_filter_a_selection_and_clearing(catalog: Catalog) -> None:
    add_field(catalog, "note", "text")
    add_field(catalog, "score_x", "integer")
    lengths = dict(zip(*(catalog.dataset().to_table(columns=["seq_hash", "length"]).column(c).to_pylist()
                         for c in ("seq_hash", "length")), strict=True))
    report = set_values(catalog, "note", "long one", conditions=[parse_condition("length > 300")])
    long_rows = {h for h, n in lengths.items() if n > 300}
    assert report.rows == len(long_rows) and report.version == catalog.version
    assert "set note = 'long one'" in catalog.versions()[-1].message
    values = _values(catalog, "note")
    assert {h for h, v in values.items() if v == "long one"} == long_rows

    picked = sorted(long_rows)[:5]
    set_values(catalog, "score_x", "42", hashes=picked)
    assert {h for h, v in _values(catalog, "score_x").items() if v == 42} == set(picked)
    set_values(catalog, "note", None, hashes=picked[:2])  # clearing
    values = _values(catalog, "note")
    assert values[picked[0]] is None and values[picked[2]] == "long one"
    # Filters work on user fields like on built-in ones.
    assert catalog.count("`score_x` = 42") == 5

    before = catalog.version
    report = set_values(catalog, "note", "x", conditions=[parse_condition("length > 1000000")])
    assert report.rows == 0 and catalog.version == before  # nothing matched: no version


def test_typed_values(catalog: Catalog) -> None:
    add_field(catalog, "grade", "category", allowed=["low", "high"])
    add_field(catalog, "active", "boolean")
    add_field(catalog, "seen", "date")
    add_field(catalog, "ph", "float")
    some = [parse_condition("length < 100")]
    set_values(catalog, "grade", "HIGH", conditions=some)  # stored as the allowed spelling
    set_values(catalog, "active", "no", conditions=some)
    set_values(catalog, "seen", "2024-03-01", conditions=some)
    set_values(catalog, "ph", "7.25", conditions=some)
    n = catalog.count("length < 100")
    assert catalog.count("grade = 'high'") == n
    assert catalog.count("active = false") == n
    assert catalog.count("ph > 7.2") == n
    row = catalog.dataset().to_table(columns=["seen"], filter="length < 100", limit=1).to_pylist()[0]
    assert row["seen"] == date(2024, 3, 1)
    # The filters of search and export (query.to_sql) work on the new types.
    for text in ("seen >= 2024-03-01", "active = no", "grade in low, high", "ph < 7.3"):
        assert catalog.count(to_sql([parse_condition(text)], catalog.schema)) == n, text


@pytest.mark.parametrize(
    ("call", "error", "words"),
    [
        (lambda c: add_field(c, "organism", "text"), SchemaError, "built-in"),
        (lambda c: add_field(c, "assay", "text"), SchemaError, "already has a field named 'assay'"),
        (lambda c: add_field(c, "ASSAY", "text"), SchemaError, "already has a field named 'assay'"),
        (lambda c: add_field(c, "_rowid", "text"), SchemaError, "reserved"),
        (lambda c: add_field(c, "vec_esm", "text"), SchemaError, "embedding"),
        (lambda c: add_field(c, "score", "float"), SchemaError, "reserved"),
        (lambda c: add_field(c, "evalue", "float"), SchemaError, "reserved"),
        (lambda c: add_field(c, "my field", "text"), SchemaError, "not a valid field name"),
        (lambda c: add_field(c, "1st", "text"), SchemaError, "not a valid field name"),
        (lambda c: add_field(c, "x" * 65, "text"), SchemaError, "longer than 64"),
        (lambda c: add_field(c, "ok", "decimal"), SchemaError, "unknown field type 'decimal'"),
        (lambda c: add_field(c, "ok", "category"), SchemaError, "needs its allowed values"),
        (lambda c: add_field(c, "ok", "category", allowed=["a", "a"]), SchemaError, "given twice"),
        (lambda c: add_field(c, "ok", "integer", allowed=["a"]), SchemaError, "category fields"),
        (lambda c: add_field(c, "ok", "integer", default="many"), InputError, "whole number"),
        (lambda c: add_field(c, "ok", "date", default="2024-13-01"), InputError, "YYYY-MM-DD"),
        (lambda c: set_values(c, "assay", "maybe", all_rows=True), InputError, "not an allowed value"),
        (lambda c: set_values(c, "count", "1.5", all_rows=True), InputError, "whole number"),
        (lambda c: set_values(c, "count", True, all_rows=True), InputError, "whole number"),
        (lambda c: set_values(c, "flag", "perhaps", all_rows=True), InputError, "yes/no"),
        (lambda c: set_values(c, "missing", "x", all_rows=True), SchemaError, "no field named 'missing'"),
        (lambda c: set_values(c, "organism", "x", all_rows=True), SchemaError, "built-in"),
        (lambda c: set_values(c, "vec_kmer", "x", all_rows=True), SchemaError, "vectors"),
        (lambda c: set_values(c, "assay", "low"), SchemaError, "choose the rows"),
        (lambda c: set_values(c, "assay", "low", conditions=[parse_condition("lenght > 3")]), FilterError, "lenght"),
        (lambda c: rename_field(c, "missing", "other"), SchemaError, "no field named"),
        (lambda c: rename_field(c, "assay", "count"), SchemaError, "already has a field named 'count'"),
        (lambda c: rename_field(c, "gene", "gene2"), SchemaError, "built-in"),
        (lambda c: drop_field(c, "sequence"), SchemaError, "built-in"),
        (lambda c: drop_field(c, "vec_kmer"), SchemaError, "vectors"),
        (lambda c: drop_field(c, "missing"), SchemaError, "no field named"),
        (lambda c: update_field(c, "count", allowed=["a"]), SchemaError, "category fields"),
    ],
)
def test_refused_changes_leave_the_catalog_unchanged(
    prepared: Catalog, call: Callable[[Catalog], Any], error: type[Exception], words: str
) -> None:
    cat = prepared
    version, files = cat.version, _data_files(cat)
    with pytest.raises(error, match=words.replace("(", r"\(")):
        call(cat)
    cat.refresh()
    assert cat.version == version and _data_files(cat) == files


def test_removing_a_category_value_in_use_is_refused(catalog: Catalog) -> None:
    add_field(catalog, "grade", "category", allowed=["low", "high"])
    set_values(catalog, "grade", "low", conditions=[parse_condition("length < 100")])
    before = catalog.version
    with pytest.raises(SchemaError, match="hold 'low'"):
        update_field(catalog, "grade", allowed=["high", "top"])
    assert catalog.version == before
    update_field(catalog, "grade", allowed=["low", "high", "top"], description="quality grade")
    assert user_fields(catalog)["grade"].allowed == ("low", "high", "top")
    assert user_fields(catalog)["grade"].description == "quality grade"


def test_annotations_from_csv_with_preview_and_unmatched_keys(catalog: Catalog, tmp_path: Path) -> None:
    add_field(catalog, "assay", "category", allowed=["low", "high"])
    add_field(catalog, "ph", "float")
    table = catalog.dataset().to_table(columns=["accession", "seq_hash"], limit=3).to_pylist()
    a, b, c = (r["accession"] for r in table)
    set_values(catalog, "ph", 5.0, hashes=[table[1]["seq_hash"]])
    sheet = tmp_path / "lab.csv"
    sheet.write_text(f"accession,assay,ph\n{a},high,7.5\n{b},low,\nUNKNOWN1,low,1\n\n{c},,6\nUNKNOWN2,high,2\n")
    version = catalog.version

    plan = plan_annotations(catalog, sheet, key="accession")
    assert catalog.version == version  # a preview writes nothing
    assert plan.rows_in_file == 5 and plan.matched_keys == 3 and plan.unmatched_keys == ["UNKNOWN1", "UNKNOWN2"]
    assert plan.rows == 3 and plan.cells == 4 and plan.fields == ["assay", "ph"]
    preview = plan.preview.to_pylist()
    assert {"key": a, "field": "ph", "old": "", "new": "7.5"} in preview
    assert "2 not found" in plan.summary()

    report = annotate(catalog, plan)
    assert report.rows == 3 and catalog.version == version + 1
    assert "annotate from lab.csv by accession" in catalog.versions()[-1].message
    got = {r["accession"]: (r["assay"], r["ph"]) for r in catalog.dataset().to_table(
        columns=["accession", "assay", "ph"], filter=f"accession IN ('{a}', '{b}', '{c}')").to_pylist()}
    # An empty cell leaves the catalog's value alone (b keeps ph 5.0).
    assert got == {a: ("high", 7.5), b: ("low", 5.0), c: (None, 6.0)}


def test_tsv_keyed_by_id_and_a_stale_preview(catalog: Catalog, tmp_path: Path) -> None:
    add_field(catalog, "note", "text")
    ident = catalog.dataset().to_table(columns=["id"], limit=1).column("id")[0].as_py()
    sheet = tmp_path / "notes.tsv"
    sheet.write_text(f"sequence_id\tnote\n{ident}\tcomma, inside\n")
    plan = plan_annotations(catalog, sheet, key="id", key_column="sequence_id")
    set_values(catalog, "note", "meanwhile", all_rows=True)  # someone else changed the catalog
    with pytest.raises(SchemaError, match="changed since the preview"):
        annotate(catalog, plan)
    report = annotate(catalog, plan_annotations(catalog, sheet, key="id", key_column="sequence_id"))
    assert report.rows >= 1
    assert catalog.dataset().to_table(columns=["note"], filter=f"id = '{ident}'").column("note")[0].as_py() == (
        "comma, inside"
    )


@pytest.mark.parametrize(
    ("content", "kwargs", "error", "words"),
    [
        ("acc,assay\nA,low\n", {}, InputError, "no column 'accession'"),
        ("accession,colour\nA,red\n", {}, SchemaError, "'colour' of lab.csv is not a field"),
        ("accession,organism\nA,x\n", {}, SchemaError, "built-in"),
        ("accession,count\nA,1\nB,two\n", {}, InputError, "line 3, column 'count'"),
        ("accession,assay\nA,low\nA,high\n", {}, InputError, "two different values"),
        ("accession,assay\n,low\n", {}, InputError, "line 2: the key column"),
        ("accession\nA\n", {}, InputError, "nothing to fill"),
        ("", {}, InputError, "empty"),
        ("accession,assay,assay\nA,low,low\n", {}, InputError, "appears twice"),
        ("accession,assay\nA,low\n", {"key": "organism"}, InputError, "matched by"),
    ],
)
def test_bad_spreadsheets_change_nothing(
    prepared: Catalog, tmp_path: Path, content: str, kwargs: dict[str, Any], error: type[Exception], words: str
) -> None:
    cat = prepared
    sheet = tmp_path / "lab.csv"
    sheet.write_text(content)
    version = cat.version
    with pytest.raises(error, match=words):
        plan_annotations(cat, sheet, **kwargs)
    assert cat.refresh() == version


def test_binary_spreadsheet_is_refused(prepared: Catalog, tmp_path: Path) -> None:
    sheet = tmp_path / "lab.xlsx"
    sheet.write_bytes(b"PK\x03\x04\0\0binary")
    with pytest.raises(InputError, match="not a text file"):
        plan_annotations(prepared, sheet)


def test_cancelled_edit_writes_nothing(catalog: Catalog) -> None:
    add_field(catalog, "note", "text")
    version, files = catalog.version, _data_files(catalog)
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        set_values(catalog, "note", "x", all_rows=True, cancel=token)
    with pytest.raises(Cancelled):
        add_field(catalog, "other", "integer", default=1, cancel=token)
    assert catalog.refresh() == version and _data_files(catalog) == files


def test_defaults_apply_to_later_imports_and_restore_brings_a_field_back(tmp_path: Path) -> None:
    cat = Catalog.open(tmp_path / "catalog")
    import_files(cat, [DATA / "mmseqs2_QUERY.fasta"])
    add_field(cat, "lab", "text", default="north")
    set_values(cat, "lab", "south", conditions=[parse_condition("length > 300")])
    south = cat.count("lab = 'south'")
    import_files(cat, [DATA / "families_small.faa"])
    assert cat.count("lab = 'north'") + south == cat.count()
    before_drop = cat.version
    drop_field(cat, "lab")
    cat.restore(before_drop)
    assert cat.count("lab = 'south'") == south
    assert cat.versions()[-1].message == f"restore version {before_drop}"


def test_empty_catalog_fields(tmp_path: Path) -> None:
    cat = Catalog.open(tmp_path / "catalog")
    add_field(cat, "note", "text", default="x")  # no rows: schema only
    import_files(cat, [DATA / "mmseqs2_QUERY.fasta"])
    assert cat.count("note = 'x'") == cat.count() > 0
    assert np.all(np.array([f.filled for f in list_fields(cat)]) >= 0)


def test_cell_edits_in_one_version(catalog: Catalog) -> None:
    add_field(catalog, "note", "text")
    add_field(catalog, "count", "integer")
    hashes = catalog.dataset().to_table(columns=["seq_hash"]).column("seq_hash").to_pylist()
    first, last = hashes[0], hashes[-1]  # one row in each fragment
    version = catalog.version
    report = set_cells(catalog, "note", {first: "first row", last: "last row"})
    assert report.rows == 2 and catalog.version == version + 1
    assert catalog.versions()[-1].message == "edit note in 2 row(s)"
    values = _values(catalog, "note")
    assert values[first] == "first row" and values[last] == "last row"
    assert sum(v is not None for v in values.values()) == 2
    with pytest.raises(InputError, match=f"row {last}: .*whole number"):
        set_cells(catalog, "count", {first: "1", last: "x"})
    with pytest.raises(SchemaError, match="not in the catalog"):
        set_cells(catalog, "count", {first: "1", "0" * 32: "2"})
    assert catalog.version == version + 1


def test_cancel_after_a_fragment_was_written_removes_its_files(catalog: Catalog) -> None:
    add_field(catalog, "note", "text")
    assert len(catalog.dataset().get_fragments()) == 2
    version, files = catalog.version, _data_files(catalog)
    token = CancelToken()

    def cancel_after_first(p: Any) -> None:
        token.cancel()  # the first fragment's new file is written by now

    with pytest.raises(Cancelled):
        set_values(catalog, "note", "x", all_rows=True, progress=cancel_after_first, cancel=token)
    with pytest.raises(Cancelled):
        add_field(catalog, "ph", "float", default=7.0, progress=cancel_after_first, cancel=token)
    assert catalog.refresh() == version and _data_files(catalog) == files
