"""Every filter form (CLI ``--where`` text, GUI rows) against a small catalog: rows returned or one exact error."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest

from genocat_desktop.app.catalog import conditions_from
from genocat_desktop.engine import Catalog, FilterError, import_files, parse_condition, to_sql
from genocat_desktop.engine.catalog.fields import add_field
from genocat_desktop.engine.catalog.values import set_values

INJECTION = "' OR 1=1 --"

RECORDS = [
    ("sp|P00001|A_HUMAN Alpha OS=Homo sapiens OX=9606 GN=alpha PE=1 SV=1", "MKVLAAGIVALLLAAGCSSA"),
    ("sp|P00002|B_MOUSE Beta OS=Mus musculus OX=10090 GN=beta PE=2 SV=1", "MKTAYIAKQRQISFVKSHFSRQLEERLG"),
    (f"sp|P00003|C_ECOLI Gamma {INJECTION} x OS=Escherichia coli OX=562 PE=3 SV=1", "MSTNPKPQRKTKRNTNRRPQDVKFPGGGQ"),
    ("sp|P00004|D_HUMAN Delta 100%_done OS=Homo sapiens OX=9606 GN=delta PE=1 SV=2", "MAHHHHHHVDDDDKMLLLLLLLLW"),
]
ALL = {"A", "B", "C", "D"}


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    tmp = tmp_path_factory.mktemp("filters")
    fasta = tmp / "f.faa"
    fasta.write_text("".join(f">{h}\n{s}\n" for h, s in RECORDS))
    cat = Catalog.open(tmp / "catalog")
    assert not import_files(cat, [fasta]).failed
    for name, kind in (("weight", "float"), ("ok", "boolean"), ("when", "date"), ("note", "text")):
        add_field(cat, name, kind)
    for ident, field, value in (("P00001", "weight", 1.5), ("P00002", "weight", -2e10), ("P00001", "ok", True),
                                ("P00002", "ok", False), ("P00001", "when", "2024-05-01"),
                                ("P00002", "note", "a, b"), ("P00003", "note", "O'Brien"),
                                ("P00004", "note", INJECTION)):
        set_values(cat, field, value, conditions=[parse_condition(f"accession = {ident}")])
    return cat


def letters(catalog: Catalog, sql: str | None) -> set[str]:
    """The rows a filter matches, as the letter of their entry name (A_HUMAN → A)."""
    table = catalog.dataset().to_table(columns=["entry_name"], filter=sql)
    return {name[0] for name in table.column("entry_name").to_pylist()}


MATCHES: list[tuple[str, set[str]]] = [
    ("taxid = 9606", {"A", "D"}),
    ("taxid != 9606", {"B", "C"}),
    ("length < 24", {"A"}),
    ("length <= 24", {"A", "D"}),
    ("length > 24", {"B", "C"}),
    ("length >= 28", {"B", "C"}),
    ("length > 1,000", set()),  # a single whole number takes thousands separators
    ("taxid in 9606, 10090", {"A", "B", "D"}),
    ("taxid in '9606', \"10090\"", {"A", "B", "D"}),
    ("taxid in 562", {"C"}),
    ("organism in 'Homo sapiens', 'Mus musculus'", {"A", "B", "D"}),
    ("organism in Homo sapiens, Escherichia coli", {"A", "C", "D"}),
    ("organism = 'Homo sapiens'", {"A", "D"}),
    ("organism = \"Mus musculus\"", {"B"}),
    ("organism contains coli", {"C"}),
    ("organism contains SAPIENS", {"A", "D"}),
    ("organism starts with mus", {"B"}),
    ("gene is empty", {"C"}),
    ("gene is not empty", {"A", "B", "D"}),
    ("aliases is empty", ALL),
    ("aliases is not empty", set()),
    ("note is empty", {"A"}),
    ("note is not empty", {"B", "C", "D"}),
    ("aliases contains P00001", set()),
    ("protein_existence in 1, 3", {"A", "C", "D"}),
    ("weight > 0", {"A"}),
    ("weight < -1e10", {"B"}),
    ("weight in 1.5, -2e10", {"A", "B"}),
    ("weight is empty", {"C", "D"}),
    ("ok = yes", {"A"}),
    ("ok = false", {"B"}),
    ("when = 2024-05-01", {"A"}),
    ("when > 0005-01-01", {"A"}),
    ("when < 9999-12-31", {"A"}),
    ("imported_at > 2000-01-01", ALL),
    ("note = 'a, b'", {"B"}),
    ("note in 'a, b', x", {"B"}),
    ("note = 'O''Brien'", {"C"}),
    ("note in \"O'Brien\", 'a, b'", {"B", "C"}),
    (f"note = \"{INJECTION}\"", {"D"}),
    (f"description contains \"{INJECTION}\"", {"C"}),
    ("description contains 100%_", {"D"}),
    ("description contains %", {"D"}),
    ("description contains _", {"D"}),
    ("`organism` = Homo sapiens", {"A", "D"}),
]

ERRORS: list[tuple[str, str]] = [
    ("taxid in '9606,10090'",
     "'9606,10090' is one quoted value holding commas; for a list quote each value or none: taxid in 9606, 10090"),
    ("organism in 'Homo sapiens, Mus musculus'",
     "'Homo sapiens, Mus musculus' is one quoted value holding commas; for a list quote each value or none: "
     "organism in Homo sapiens, Mus musculus"),
    ("organism = 'Homo sapiens', 'Mus musculus'",
     "unexpected \", 'Mus musculus'\" after the quoted value 'Homo sapiens'; for several values use 'in': "
     "organism in 'a', 'b'"),
    ("organism = 'Homo sapiens",
     "the quote ' opened in \"'Homo sapiens\" is never closed"),
    ("taxid in 9606,,10090", "the list '9606,,10090' has an empty value; separate values with single commas"),
    ("taxid in 9606,", "the list '9606,' has an empty value; separate values with single commas"),
    ("organism in 'a' 'b'", "unexpected \"'b'\" after the quoted value 'a' in the list \"'a' 'b'\"; "
     "separate values with commas"),
    ("note in O'Brien", "a quote inside the value \"O'Brien\" of the list \"O'Brien\"; quote whole values "
     "('a', 'b') and write a quote inside them twice ('O''Brien')"),
    ("taxid = 99999999999999999999999",
     "99999999999999999999999 is out of range for 'taxid' (a whole number from -9,223,372,036,854,775,807 to "
     "9,223,372,036,854,775,807)"),
    ("taxid in 1, 99999999999999999999999",
     "99999999999999999999999 is out of range for 'taxid' (a whole number from -9,223,372,036,854,775,807 to "
     "9,223,372,036,854,775,807)"),
    ("length > 3000000000",
     "3000000000 is out of range for 'length' (a whole number from -2,147,483,647 to 2,147,483,647)"),
    ("weight > nan", "'nan' is not a valid value for 'weight': give a finite number (at most about 1.8e308 "
     "either side of zero)"),
    ("weight > inf", "'inf' is not a valid value for 'weight': give a finite number (at most about 1.8e308 "
     "either side of zero)"),
    ("weight < -Infinity", "'-Infinity' is not a valid value for 'weight': give a finite number (at most about "
     "1.8e308 either side of zero)"),
    ("weight > 1e400", "'1e400' is not a valid value for 'weight': give a finite number (at most about 1.8e308 "
     "either side of zero)"),
    ("weight in 1, nan", "'nan' is not a valid value for 'weight': give a finite number (at most about 1.8e308 "
     "either side of zero)"),
    ("length > many", "'many' is not a valid value for 'length' (a whole number)"),
    ("length = 20.0", "'20.0' is not a valid value for 'length' (a whole number)"),
    ("ok = maybe", "'maybe' is not a valid value for 'ok' (yes/no)"),
    ("when > yesterday", "'yesterday' is not a valid value for 'when' (a date)"),
    ("length contains 3", "'contains' works on text fields; 'length' is a whole number"),
    ("aliases = x", "'aliases' is a list; use 'contains', 'is empty' or 'is not empty'"),
    ("vec_kmer = 1", "'vec_kmer' holds vectors and cannot be filtered"),
    ("gene is empty now", "'is empty' takes no value (in 'gene is empty now')"),
    ("gene =", "the filter 'gene =' has no value after '='"),
]


@pytest.mark.parametrize(("text", "rows"), MATCHES, ids=[t for t, _ in MATCHES])
def test_filter_matches(catalog: Catalog, text: str, rows: set[str]) -> None:
    assert letters(catalog, to_sql([parse_condition(text)], catalog.schema)) == rows


@pytest.mark.parametrize(("text", "message"), ERRORS, ids=[t for t, _ in ERRORS])
def test_filter_error_is_one_exact_line(catalog: Catalog, text: str, message: str) -> None:
    with pytest.raises(FilterError) as caught:
        to_sql([parse_condition(text)], catalog.schema)
    assert str(caught.value) == message


def test_gui_rows_read_values_as_the_cli_does(catalog: Catalog) -> None:
    rows = [("organism", "in", "'Homo sapiens', 'Mus musculus'"), ("taxid", "in", "9606, 10090"),
            ("gene", "is not empty", ""), ("organism", "=", " 'Homo sapiens' ")]
    assert letters(catalog, to_sql(conditions_from(rows), catalog.schema)) == {"A", "D"}
    with pytest.raises(FilterError, match="one quoted value holding commas"):
        conditions_from([("taxid", "in", "'9606,10090'")])


# ------------------------------------------------------------------------------------------ fuzz
PIECES = ["'", '"', "''", ",", " , ", "%", "_", "\\", "`", "--", ";", INJECTION, "') OR 1=1 --", "1=1",
          "Homo", "sapiens", "é", "中", "\u202e", "\x1b[2J", "\x00", "\t", " ", "9606", "-", "+", ".", "e",
          "1e400", "nan", "inf", "-inf", "99999999999999999999999", "0x10", "1_000", "٣", "2024-05-01", "true"]
OPS = ["=", "!=", "<", "<=", ">", ">=", "in", "contains", "starts with", "is empty", "is not empty", "=="]
FIELDS = ["organism", "description", "note", "taxid", "length", "weight", "ok", "when", "aliases", "gene",
          "`note`", "nofield", "imported_at"]


NUMBERS = ["0", "-1", "1e400", "-1e400", "nan", "inf", "-inf", "NaN", "Infinity", "99999999999999999999999",
           "-9223372036854775808", "9223372036854775807", "3000000000", "1.5", "1,000", "1_000", "0x10", "٣",
           "1e-400", "2024-05-01", "0005-01-01", "yes"]


def _random_value(rng: random.Random) -> str:
    """Random text, a number-like token, or a list of tokens (bare or quoted)."""
    mode = rng.random()
    if mode < 0.4:
        return "".join(rng.choice(PIECES) for _ in range(rng.randint(0, 5)))
    if mode < 0.7:
        return rng.choice(NUMBERS)
    tokens = [rng.choice(NUMBERS + PIECES) for _ in range(rng.randint(1, 3))]
    quote = rng.choice(["", "'", '"'])
    return rng.choice([", ", ",", " , "]).join(quote + t + quote for t in tokens)


def test_fuzzed_filters_raise_only_filter_errors(catalog: Catalog) -> None:
    rng = random.Random(19)
    schema, ok = catalog.schema, 0
    for _ in range(600):
        text = f"{rng.choice(FIELDS)} {rng.choice(OPS)} {_random_value(rng)}"
        try:
            sql = to_sql([parse_condition(text)], schema)
        except FilterError as exc:
            assert "\n" not in str(exc), text
            continue
        catalog.count(sql)  # anything Lance raises here fails the test
        ok += 1
    assert ok > 50  # the fuzzer reaches Lance, not only the parser


def _python_match(stored: Any, op: str, value: str) -> bool:
    if stored is None:
        return False
    if op == "=":
        return bool(stored == value)
    return value.lower() in stored.lower()


def test_fuzzed_text_values_match_literally(catalog: Catalog) -> None:
    """A quoted value is data, never SQL nor a LIKE pattern: Lance matches what Python matches."""
    table = catalog.dataset().to_table(columns=["entry_name", "description", "note"]).to_pylist()
    rng = random.Random(7)
    values = [INJECTION, "x') OR 1=1 --", "100%_", "%", "_", "\\", "'", '"', "a, b", "O'Brien"]
    values += [_random_value(rng) for _ in range(150)]
    for value in values:
        if "\x00" in value or not value.strip() or value != value.strip():
            continue  # values are trimmed; NUL cannot be typed
        quote = rng.choice("'\"")
        literal = quote + value.replace(quote, quote * 2) + quote
        for field in ("description", "note"):
            for op in ("=", "contains"):
                sql = to_sql([parse_condition(f"{field} {op} {literal}")], catalog.schema)
                expected = {r["entry_name"][0] for r in table if _python_match(r[field], op, value)}
                assert letters(catalog, sql) == expected, (field, op, value)


def _fits_int32(text: str) -> bool:
    try:
        return abs(int(text)) < 2**31
    except ValueError:  # whole numbers are written with digits only: "1e3" is not one
        return False


def test_fuzzed_numbers_compare_as_python_does(catalog: Catalog) -> None:
    table = catalog.dataset().to_table(columns=["entry_name", "length", "weight"]).to_pylist()
    rng = random.Random(11)
    numbers = ["0", "-1", "20", "24", "1e3", "1.5", "-2e10", "2147483647", "-2147483647", "5e-324",
               "1.7976931348623157e308", "9223372036854775807", "+7", "1_000"]
    compare = {"=": float.__eq__, "!=": float.__ne__, "<": float.__lt__, "<=": float.__le__,
               ">": float.__gt__, ">=": float.__ge__}
    for _ in range(200):
        field, op, text = rng.choice(["length", "weight"]), rng.choice(list(compare)), rng.choice(numbers)
        try:
            sql = to_sql([parse_condition(f"{field} {op} {text}")], catalog.schema)
        except FilterError:
            assert field == "length" and not _fits_int32(text), text
            continue
        number = float(text)
        assert math.isfinite(number)
        expected = {r["entry_name"][0] for r in table
                    if r[field] is not None and compare[op](float(r[field]), number)}
        assert letters(catalog, sql) == expected, (field, op, text)
