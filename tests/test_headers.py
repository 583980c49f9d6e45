"""FASTA header parsing: UniProt, UniRef, NCBI, nr and plain headers.

The header strings are real ones: UniProt headers from ``tests/data/mmseqs2_QUERY.fasta``
and NCBI nr deflines from DIAMOND's test data (``diamond_nr_300.faa``, read from
``../shared/data`` when present).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from Bio.SeqIO.FastaIO import SimpleFastaParser

from genocat_desktop.engine.ingest.headers import HeaderInfo, parse_header

# --------------------------------------------------------------------------
# UniProt


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        (
            "tr|A7TBS3|A7TBS3_NEMVE Predicted protein (Fragment) OS=Nematostella vectensis GN=v1g153959 PE=4 SV=1 "
            "Split=0 ",
            {
                "id": "tr|A7TBS3|A7TBS3_NEMVE",
                "db": "tr",
                "accession": "A7TBS3",
                "entry_name": "A7TBS3_NEMVE",
                "name": "Predicted protein (Fragment)",
                "organism": "Nematostella vectensis",
                "taxid": None,
                "gene": "v1g153959",
                "protein_existence": 4,
                "sequence_version": 1,
            },
        ),
        (
            "sp|O51528|RECG_BORBU ATP-dependent DNA helicase RecG OS=Borrelia burgdorferi (strain ATCC 35210 / B31 / "
            "CIP 102532 / DSM 4680) GN=recG PE=3 SV=1 Split=0 ",
            {
                "db": "sp",
                "accession": "O51528",
                "entry_name": "RECG_BORBU",
                "name": "ATP-dependent DNA helicase RecG",
                "organism": "Borrelia burgdorferi (strain ATCC 35210 / B31 / CIP 102532 / DSM 4680)",
                "gene": "recG",
                "protein_existence": 3,
                "sequence_version": 1,
            },
        ),
        (
            "sp|P84927|DMS7_PHYTS Dermaseptin-7 OS=Phyllomedusa tarsius PE=1 SV=1 Split=0 ",
            {"name": "Dermaseptin-7", "organism": "Phyllomedusa tarsius", "gene": None, "protein_existence": 1},
        ),
        (
            "tr|A0A0W7XYV8|A0A0W7XYV8_9BACI Isoleucine--tRNA ligase OS=Bacillus sp. G3(2015) GN=ileS PE=3 SV=1 "
            "Split=0 ",
            {"accession": "A0A0W7XYV8", "name": "Isoleucine--tRNA ligase", "organism": "Bacillus sp. G3(2015)"},
        ),
        (
            # The current UniProt format, with OX= (the taxon id).
            "sp|P69905|HBA_HUMAN Hemoglobin subunit alpha OS=Homo sapiens OX=9606 GN=HBA1 PE=1 SV=2",
            {
                "accession": "P69905",
                "entry_name": "HBA_HUMAN",
                "name": "Hemoglobin subunit alpha",
                "organism": "Homo sapiens",
                "taxid": 9606,
                "gene": "HBA1",
                "protein_existence": 1,
                "sequence_version": 2,
            },
        ),
    ],
)
def test_uniprot(title: str, expected: dict[str, object]) -> None:
    info = parse_header(title)
    assert {k: getattr(info, k) for k in expected} == expected
    assert info.aliases == []


UNIPROT_TAG = re.compile(r"\b(OS|OX|GN|PE|SV|Split)=")


def test_every_uniprot_header_of_the_query_file(data_dir: Path) -> None:
    with open(data_dir / "mmseqs2_QUERY.fasta") as handle:
        titles = [title for title, _ in SimpleFastaParser(handle)]
    assert len(titles) == 500
    for title in titles:
        info = parse_header(title)
        db, accession, entry = info.id.split("|")
        assert (info.db, info.accession, info.entry_name) == (db, accession, entry)
        assert info.db in {"sp", "tr"}
        assert info.name and not UNIPROT_TAG.search(info.name)
        assert info.organism and not UNIPROT_TAG.search(info.organism)  # may hold '=': "OT 569 = DSM 20559"
        assert info.protein_existence in {1, 2, 3, 4, 5}
        assert isinstance(info.sequence_version, int)
        assert info.gene is None or " " not in info.gene
        assert (info.gene is None) == (" GN=" not in title)


def test_uniref() -> None:
    info = parse_header("UniRef90_P69905 Hemoglobin subunit alpha n=2 Tax=Homo sapiens TaxID=9606 RepID=HBA_HUMAN")
    assert (info.id, info.db, info.accession) == ("UniRef90_P69905", "UniRef90", "P69905")
    assert (info.name, info.organism, info.taxid, info.entry_name) == (
        "Hemoglobin subunit alpha",
        "Homo sapiens",
        9606,
        "HBA_HUMAN",
    )


# --------------------------------------------------------------------------
# NCBI


@pytest.mark.parametrize(
    ("title", "accession", "db", "name", "organism"),
    [
        (
            "gi|4504349|ref|NP_000509.1| hemoglobin subunit beta [Homo sapiens]",
            "NP_000509.1",
            "ref",
            "hemoglobin subunit beta",
            "Homo sapiens",
        ),
        (
            "gi|671626|emb|CAA85685.1| rubisco large subunit [Rosmarinus officinalis]",
            "CAA85685.1",
            "emb",
            "rubisco large subunit",
            "Rosmarinus officinalis",
        ),
        ("gi|2781234|pdb|1JLY|B Chain B, Bacterial Sialidase", "1JLY", "pdb", "Chain B, Bacterial Sialidase", None),
        ("gi|12345 something", "12345", "gi", "something", None),
        ("lcl|myseq1 my own protein", "myseq1", "lcl", "my own protein", None),
        ("ref|NP_000509.1| hemoglobin subunit beta", "NP_000509.1", "ref", "hemoglobin subunit beta", None),
        (
            "NP_000509.1 hemoglobin subunit beta [Homo sapiens]",
            "NP_000509.1",
            None,
            "hemoglobin subunit beta",
            "Homo sapiens",
        ),
    ],
)
def test_ncbi(title: str, accession: str, db: str | None, name: str, organism: str | None) -> None:
    info = parse_header(title)
    assert info.id == title.split()[0]
    assert (info.accession, info.db, info.name, info.organism) == (accession, db, name, organism)


# Real nr deflines as DIAMOND writes them (joined by " >").
NR_SINORHIZOBIUM = (
    "WP_010875413.1 TraH family protein [Sinorhizobium fredii] "
    ">P55415.1 RecName: Full=Uncharacterized protein y4dP [Sinorhizobium fredii NGR234] "
    ">pir|T02779| y4dP protein - Rhizobium sp. plasmid pNGR234a [Rhizobium sp.] "
    ">AAB91645.1 conjugal transfer protein TraH [Sinorhizobium fredii NGR234]"
)
NR_MYCOBACTERIUM = (
    "WP_066841281.1 MULTISPECIES: methionine adenosyltransferase [Mycobacterium] "
    ">OBF96983.1 methionine adenosyltransferase [Mycobacterium sp. 852002-51152_SCH6134967] "
    ">VEG42356.1 S-adenosylmethionine synthetase [Mycolicibacterium flavescens]"
)
NR_CLOSTRIDIUM = (
    "MBO1682517.1 Pro-sigmaK processing inhibitor BofA [[Clostridium] scindens] "
    ">MBS5694965.1 pro-sigmaK processing inhibitor BofA family protein [Lachnospiraceae bacterium]"
)


@pytest.mark.parametrize("joiner", [" >", "\x01"])
def test_nr_deflines(joiner: str) -> None:
    info = parse_header(NR_SINORHIZOBIUM.replace(" >", joiner))
    assert (info.id, info.accession) == ("WP_010875413.1", "WP_010875413.1")
    assert (info.name, info.organism) == ("TraH family protein", "Sinorhizobium fredii")
    assert info.description == "TraH family protein [Sinorhizobium fredii]"
    assert info.aliases == ["P55415.1", "pir|T02779|", "AAB91645.1"]


@pytest.mark.parametrize("joiner", [" >", "\x01"])
def test_nr_multispecies(joiner: str) -> None:
    info = parse_header(NR_MYCOBACTERIUM.replace(" >", joiner))
    assert (info.name, info.organism) == ("methionine adenosyltransferase", "Mycobacterium")
    assert info.aliases == ["OBF96983.1", "VEG42356.1"]


def test_bracketed_genus_in_organism() -> None:
    """NCBI writes reclassified genera in brackets: ``[Clostridium] scindens``."""
    info = parse_header(NR_CLOSTRIDIUM)
    assert (info.name, info.organism) == ("Pro-sigmaK processing inhibitor BofA", "[Clostridium] scindens")
    assert info.aliases == ["MBS5694965.1"]


def test_every_nr_header_of_diamond_test_data(shared_file: Callable[[str], Path]) -> None:
    with open(shared_file("proteins/unlabeled/diamond_nr_300.faa")) as handle:
        titles = [title for title, _ in SimpleFastaParser(handle)]
    assert len(titles) == 300
    for title in titles:
        info = parse_header(title)
        assert info.id == info.accession == title.split()[0]
        assert info.aliases == re.findall(r" >(\S+)", title)
        assert info.organism, title
        assert not info.name.endswith("]"), title
        assert " >" not in info.description


def test_a_greater_than_sign_in_a_description_is_not_a_defline() -> None:
    info = parse_header("seq1 binds when score >5 hits")
    assert (info.id, info.name, info.aliases) == ("seq1", "binds when score >5 hits", [])


# --------------------------------------------------------------------------
# NCBI submission tags and plain headers


def test_bracket_tags() -> None:
    info = parse_header("seq1 [organism=Homo sapiens] [gene=HBB] [tax_id=9606] beta globin")
    assert (info.id, info.accession) == ("seq1", "seq1")
    assert (info.organism, info.gene, info.taxid, info.name) == ("Homo sapiens", "HBB", 9606, "beta globin")


def test_bracket_tag_after_the_name() -> None:
    info = parse_header("contig_7 putative kinase [organism=Mus musculus]")
    assert (info.name, info.organism, info.taxid) == ("putative kinase", "Mus musculus", None)


def test_trailing_brackets_pick_the_last_group() -> None:
    info = parse_header("x1 protein [fragment] [Homo sapiens]")
    assert (info.name, info.organism) == ("protein [fragment]", "Homo sapiens")


@pytest.mark.parametrize(
    ("title", "ident", "description"),
    [
        ("seq1 some description", "seq1", "some description"),
        ("seq1", "seq1", ""),
        ("seq2\tdesc\twith\ttabs", "seq2", "desc\twith\ttabs"),
        ("  padded   two words  ", "padded", "two words"),
        ("AK1H_ECOLI/1-378", "AK1H_ECOLI/1-378", ""),
    ],
)
def test_plain_headers(title: str, ident: str, description: str) -> None:
    info = parse_header(title)
    assert (info.id, info.accession, info.description, info.name) == (ident, ident, description, description)
    assert (info.db, info.organism, info.taxid, info.gene) == (None, None, None, None)
    assert info.aliases == []


@pytest.mark.parametrize("title", ["", "   ", "\t"])
def test_no_identifier(title: str) -> None:
    assert parse_header(title) == HeaderInfo(id="")


# --------------------------------------------------------------------------
# The column-wise parser the importer uses must give parse_header's values.

_TRICKY = [
    "sp|P69905|HBA_HUMAN Hemoglobin subunit alpha OS=Homo sapiens OX=9606 GN=HBA1 PE=1 SV=2",
    "tr|A0A000001|X1_ORG Some protein OS=Escherichia coli (strain K12) OX=83333 GN=g1 PE=4 SV=1",
    "sp|P69905|HBA_HUMAN Hemoglobin OS=Homo sapiens OX=9606 PE=1 SV=2",  # no GN
    "sp|P69905|HBA_HUMAN Hemoglobin OS=Homo sapiens OX=9606 GN= PE=1 SV=2",  # empty GN
    "sp|P69905|HBA_HUMAN Hemoglobin OS=Homo sapiens OX=9606 GN=a b PE=1 SV=2",  # GN with a space
    "sp|P69905|HBA_HUMAN Hemoglobin OS=Homo sapiens OX=9606 PE=1 GN=x SV=2",  # tags out of order
    "sp|P69905|HBA_HUMAN  Hemoglobin  OS=Homo sapiens  OX=9606 PE=1 SV=2",  # double spaces
    "sp|P69905|HBA_HUMAN Hemo=globin OS=Homo sapiens OX=9606 PE=1 SV=2",  # '=' in the name
    "sp|P69905|HBA_HUMAN Hemoglobin\xa0 OS=Homo sapiens OX=9606 PE=1 SV=2",  # non-ASCII space
    "sp|P69905|HBA_HUMAN Hémoglobine OS=Homo sapiens OX=9606 PE=1 SV=2",  # non-ASCII letter
    "sp|P69905|HBA_HUMAN Hemoglobin OS=Homo sapiens OX=9606 PE=1 SV=2 Split=0",  # trailing tag
    "sp|P69905|HBA_HUMAN Hemoglobin OS=Homo sapiens OX=96x06 PE=1 SV=2",  # taxid not a number
    "sp|P69905|HBA_HUMAN Hemoglobin OS= OX=9606 PE=1 SV=2",  # empty organism
    "sp|P69905|HBA_HUMAN OS=Homo sapiens OX=9606 PE=1 SV=2",  # no name
    "sp|P69905| Hemoglobin OS=Homo sapiens OX=9606 PE=1 SV=2",  # no entry name
    "sp||HBA_HUMAN Hemoglobin OS=Homo sapiens OX=9606 PE=1 SV=2",  # no accession
    "sp|P69905|HBA_HUMAN|x Hemoglobin OS=Homo sapiens OX=9606 PE=1 SV=2",  # four pipe fields
    "sp|P69905|HBA_HUMAN\tHemoglobin OS=Homo sapiens OX=9606 PE=1 SV=2",  # tab after the identifier
    "sp|P69905|HBA_HUMAN Hemoglobin >x OS=Homo sapiens OX=9606 PE=1 SV=2",  # ' >' in the name
    "sp|P69905|HBA_HUMAN A OS=B OX=1 PE=1 SV=2\x01sp|P1|X_Y A OS=B OX=1 PE=1 SV=2",  # nr join
    "sp|P69905|HBA_HUMAN A OS=B OX=1 PE=1 SV=2 >sp|P1|X_Y A OS=B OX=1 PE=1 SV=2",  # DIAMOND join
    "tr|A|B x OS=y OX=1 PE=0012 SV=3",
    "UniRef90_P69905 Hemoglobin subunit alpha n=2 Tax=Homo sapiens TaxID=9606 RepID=HBA_HUMAN",
    "gi|4504349|ref|NP_000509.1| hemoglobin subunit beta [Homo sapiens]",
    "seq1 [organism=Homo sapiens] [gene=HBB] [tax_id=9606]",
    "plain",
    "",
    "   ",
]


def _headers_of(path: Path) -> list[str]:
    with open(path) as handle:
        return [title for title, _ in SimpleFastaParser(handle)]


def test_column_parser_gives_parse_header_values(data_dir: Path, shared_file: Callable[[str], Path]) -> None:
    from bench.data import header
    from genocat_desktop.engine.ingest.headers import HEADER_FIELDS, parse_headers_arrow

    titles = list(_TRICKY)
    titles += _headers_of(data_dir / "mmseqs2_QUERY.fasta")
    titles += _headers_of(data_dir / "families_small.faa")
    titles += _headers_of(shared_file("proteins/unlabeled/diamond_nr_300.faa"))
    titles += [header(n)[1:] for n in range(1, 200)]
    columns = parse_headers_arrow(titles)
    assert set(columns) == set(HEADER_FIELDS)
    got = [{name: columns[name][i].as_py() for name in HEADER_FIELDS} for i in range(len(titles))]
    for title, row in zip(titles, got, strict=True):
        info = parse_header(title)
        assert row == {name: getattr(info, name) for name in HEADER_FIELDS}, title
    # The synthetic (canonical UniProt) headers and HBA_HUMAN take the column-wise path.
    import pyarrow as pa
    import pyarrow.compute as pc

    from genocat_desktop.engine.ingest.headers import _UNIPROT_RE2

    canonical = pa.array([_TRICKY[0], _TRICKY[1], *titles[-199:]])
    assert all(pc.match_substring_regex(canonical, _UNIPROT_RE2).to_pylist())


# --------------------------------------------------------------------------
# NCBI feature headers (cds_from_genomic, translated_cds), Prodigal and ENA headers

NCBI_CDS = (
    "lcl|NC_000913.3_cds_NP_414542.1_1 [gene=thrL] [locus_tag=b0001] "
    "[db_xref=UniProtKB/Swiss-Prot:P0AD86,GeneID:944742] [protein=thr operon leader peptide] "
    "[protein_id=NP_414542.1] [location=190..255] [gbkey=CDS]"
)


def test_ncbi_cds_from_genomic_header() -> None:
    info = parse_header(NCBI_CDS)
    assert info.id == "lcl|NC_000913.3_cds_NP_414542.1_1"
    assert (info.accession, info.name, info.gene, info.aliases) == (
        "NP_414542.1", "thr operon leader peptide", "thrL", ["b0001"])
    assert info.description == ("thr operon leader peptide; locus_tag=b0001; "
                                "db_xref=UniProtKB/Swiss-Prot:P0AD86,GeneID:944742; location=190..255")
    assert (info.cds_contig, info.cds_start, info.cds_end, info.cds_strand) == ("NC_000913.3", 190, 255, "+")


def test_ncbi_translated_cds_header_and_complex_locations() -> None:
    info = parse_header("lcl|NZ_CP040672.1_prot_WP_1.1_7 [protein=kinase] [protein_id=WP_1.1] "
                        "[location=complement(join(<100..200,300..>420))] [gbkey=CDS]")
    assert (info.accession, info.name, info.description) == ("WP_1.1", "kinase", "kinase; location="
                                                              "complement(join(<100..200,300..>420))")
    assert (info.cds_contig, info.cds_start, info.cds_end, info.cds_strand) == ("NZ_CP040672.1", 100, 420, "-")


def test_ncbi_pseudogene_without_protein_id() -> None:
    info = parse_header("lcl|NZ_CP040672.1_cds_71 [gene=essA] [locus_tag=FGE23_RS00370] "
                        "[protein=type VII secretion protein EssA] [pseudo=true] [partial=5'] "
                        "[location=complement(66556..>66699)] [gbkey=CDS]")
    assert info.accession == "NZ_CP040672.1_cds_71" and info.aliases == ["FGE23_RS00370"]
    assert "pseudo=true" in info.description and "[" not in info.description
    assert (info.cds_contig, info.cds_start, info.cds_end, info.cds_strand) == ("NZ_CP040672.1", 66556, 66699, "-")


def test_every_cds_header_of_the_shared_genes_file(shared_file: Callable[[str], Path]) -> None:
    titles = _headers_of(shared_file("dna/CP040672.1.genes_100.fna"))
    assert len(titles) == 100
    for title in titles:
        info = parse_header(title)
        assert "[" not in info.description and info.name and info.cds_contig == "NZ_CP040672.1", title
        assert info.cds_strand in ("+", "-") and 0 < info.cds_start <= info.cds_end, title  # type: ignore[operator]
        assert info.aliases and info.aliases[0].startswith("FGE23_RS"), title


def test_prodigal_header() -> None:
    info = parse_header("562.SAMN05730656.MIIJ01000039_1 # 205 # 945 # -1 # ID=1_1;partial=00;start_type=ATG;"
                        "rbs_motif=GGAGG;rbs_spacer=3-4bp;gc_cont=0.472")
    assert (info.id, info.accession, info.name) == ("562.SAMN05730656.MIIJ01000039_1",) * 2 + ("predicted protein",)
    assert (info.cds_contig, info.cds_start, info.cds_end, info.cds_strand) == (
        "562.SAMN05730656.MIIJ01000039", 205, 945, "-")
    assert info.description == ("predicted CDS 205..945 (-) of 562.SAMN05730656.MIIJ01000039; partial=00; "
                                "start_type=ATG; rbs_motif=GGAGG; rbs_spacer=3-4bp; gc_cont=0.472")
    # Not Prodigal: a '#' in an ordinary description stays text.
    plain = parse_header("seq_1 # my note")
    assert (plain.description, plain.cds_contig) == ("# my note", None)


def test_ena_header() -> None:
    info = parse_header("ENA|CDG29762|CDG29762.1 Bacillus velezensis UCMB5033 Malonyl CoA-acyl carrier protein")
    assert (info.db, info.accession) == ("ENA", "CDG29762.1")


def test_column_parser_on_feature_headers(shared_file: Callable[[str], Path]) -> None:
    from genocat_desktop.engine.ingest.headers import HEADER_FIELDS, parse_headers_arrow

    titles = [NCBI_CDS, *_headers_of(shared_file("dna/CP040672.1.genes_100.fna")), _TRICKY[0],
              "c_3 # 1 # 90 # 1 # ID=1_3;partial=10;start_type=Edge"]
    columns = parse_headers_arrow(titles)
    assert columns["cds_start"].type == "int64" and columns["cds_start"][len(titles) - 2].as_py() is None
    for i, title in enumerate(titles):
        info = parse_header(title)
        assert {name: columns[name][i].as_py() for name in HEADER_FIELDS} == {
            name: getattr(info, name) for name in HEADER_FIELDS}, title
