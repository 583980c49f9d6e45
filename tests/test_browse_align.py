"""The engine helpers the desktop app uses: paging through rows (browse) and aligning a hit (align)."""

from __future__ import annotations

from pathlib import Path

import pytest

from genocat_desktop.engine import Cancelled, Catalog, FilterError, import_files, parse_condition
from genocat_desktop.engine.catalog.browse import browse_page, browse_sql, browse_table
from genocat_desktop.engine.search.pairwise import MAX_CELLS, AlignerProcess, align_pair


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    data = Path(__file__).resolve().parent / "data"
    cat = Catalog.open(tmp_path_factory.mktemp("browse") / "catalog")
    report = import_files(cat, [data / "families_small.faa", data / "mmseqs2_QUERY.fasta"])
    assert not report.failed
    return cat


def test_pages_cover_every_row_once(catalog: Catalog) -> None:
    total = catalog.count()
    seen: list[str] = []
    offset = 0
    while True:
        page = browse_page(catalog, offset=offset, limit=300)
        assert page.total == total
        seen += page.rows.column("seq_hash").to_pylist()
        offset += page.rows.num_rows
        if offset >= total:
            break
    assert len(seen) == total == len(set(seen))
    assert not any(c.startswith("vec_") for c in page.rows.column_names)


def test_sort_and_filter(catalog: Catalog) -> None:
    page = browse_page(catalog, conditions=[parse_condition("length > 500")], sort="length", descending=True, limit=10)
    lengths = page.rows.column("length").to_pylist()
    assert lengths == sorted(lengths, reverse=True)
    assert page.total == catalog.count("length > 500")
    assert lengths[0] == max(catalog.dataset().to_table(columns=["length"]).column("length").to_pylist())
    asc = browse_page(catalog, sort="organism", limit=5, offset=0)
    organisms = asc.rows.column("organism").to_pylist()
    assert organisms == sorted(organisms)


def test_text_search_matches_ids_and_descriptions(catalog: Catalog) -> None:
    by_id = browse_page(catalog, text="pkinase", limit=1000)
    assert by_id.total > 0
    assert all("pkinase" in i.lower() for i in by_id.rows.column("id").to_pylist())
    by_description = browse_page(catalog, text="Homo sapiens", limit=1000)
    assert by_description.total > 0
    assert all("homo sapiens" in d.lower() for d in by_description.rows.column("description").to_pylist())
    # Quotes and SQL wildcards in the text are data, not SQL.
    assert browse_page(catalog, text="x' OR '1'='1").total == 0
    assert browse_page(catalog, text="%").total == 0
    combined = browse_sql(catalog, [parse_condition("length < 100")], "kinase")
    assert combined is not None and "length" in combined and "LIKE" in combined


def test_browse_table_exports_all_matching_rows(catalog: Catalog) -> None:
    table = browse_table(catalog, conditions=[parse_condition("length >= 300")])
    assert table.num_rows == catalog.count("length >= 300")


def test_bad_sort_or_filter_is_a_filter_error(catalog: Catalog) -> None:
    with pytest.raises(FilterError, match="cannot sort"):
        browse_page(catalog, sort="nope")
    with pytest.raises(FilterError, match="list"):
        browse_page(catalog, sort="aliases")
    with pytest.raises(FilterError, match="no field"):
        browse_page(catalog, conditions=[parse_condition("colour = red")])


HBA = "MVLSPADKTNVKAAWGKVGAHAGEYGAEALERMFLSFPTTKTYFPHFDLSHGSAQVKGHGKKVADALTNAVAHVDDMPNALSALSDLHAHKLRVDPVNFKLLSHCLLVTLAAHLPAEFTPAVHASLDKFLASVSTVLTSKYR"  # noqa: E501
HBB = "MVHLTPEEKSAVTALWGKVNVDEVGGEALGRLLVVYPWTQRFFESFGDLSTPDAVMGNPKVKAHGKKVLGAFSDGLAHLDNLKGTFATLSELHCDKLHVDPENFRLLGNVLVCVLAHHFGKEFTPPVQAAYQKVVAGVANALAHKYH"  # noqa: E501


def test_identical_sequences_align_fully() -> None:
    a = align_pair(HBA, HBA)
    assert (a.identity, a.similarity, a.coverage, a.gaps) == (1.0, 1.0, 1.0, 0)
    assert a.length == len(HBA) and a.aligned_query == HBA == a.aligned_target
    assert set(a.match_line) == {"|"}


def test_homologues_have_partial_identity() -> None:
    # Human alpha and beta globin: about 43% identical over most of their length (a textbook pair).
    a = align_pair(HBA, HBB)
    assert 0.38 < a.identity < 0.48
    assert a.similarity > a.identity
    assert a.coverage > 0.9
    assert len(a.aligned_query) == len(a.match_line) == len(a.aligned_target) == a.length
    assert a.aligned_query.replace("-", "") == HBA[a.query_start : a.query_end]
    assert a.aligned_target.replace("-", "") == HBB[a.target_start : a.target_end]
    text = a.format(width=60, query_name="HBA", target_name="HBB")
    assert text.splitlines()[0].startswith("HBA") and "HBB" in text


def test_partial_coverage_and_unrelated() -> None:
    a = align_pair(HBA + "W" * 0, HBA[40:80])
    assert a.identity == 1.0
    assert a.coverage == pytest.approx(40 / len(HBA))
    assert align_pair("WWWWWWWW", "GGGGGGGG").length == 0


def test_nucleotides_and_odd_letters() -> None:
    dna = align_pair("ACGTACGTACGTAAAC", "ACGTACGTACGTAAAC")
    # The hit list's nucleotide scheme (blastn's match 2): the pane shows the list's score.
    assert dna.identity == 1.0 and "blastn" in dna.scoring and dna.score == 16 * 2
    # Letters outside BLOSUM62 (O, U, J) do not break the alignment.
    assert align_pair("MKUOJLLV", "MKUOJLLV").length == 8


def test_limits() -> None:
    with pytest.raises(ValueError, match="empty"):
        align_pair("", HBA)
    with pytest.raises(ValueError, match="too long"):
        align_pair("A" * 20_000, "A" * (MAX_CELLS // 20_000 + 1))


def test_aligner_process_gives_the_same_alignment_and_can_be_cancelled() -> None:
    aligner = AlignerProcess()
    try:
        assert aligner.align(HBA, HBB) == align_pair(HBA, HBB)
        with pytest.raises(ValueError, match="empty"):
            aligner.align("", HBB)
        with pytest.raises(Cancelled):
            aligner.align(HBA * 20, HBB * 20, cancelled=lambda: True)
        # A new child replaces the stopped one.
        assert aligner.align(HBA, HBA).identity == 1.0
    finally:
        aligner.close()
    assert aligner._proc is None
