"""Header metadata: UniProt, UniRef, NCBI and plain FASTA headers to typed fields.

Recognised forms (the ``>`` is already removed)::

    sp|P69905|HBA_HUMAN Hemoglobin subunit alpha OS=Homo sapiens OX=9606 GN=HBA1 PE=1 SV=2
    UniRef90_P69905 Hemoglobin subunit alpha n=2 Tax=Homo sapiens TaxID=9606 RepID=HBA_HUMAN
    gi|4504349|ref|NP_000509.1| hemoglobin subunit beta [Homo sapiens]
    NP_000509.1 hemoglobin subunit beta [Homo sapiens]
    WP_1.1 protein X [Org A]\\x01WP_2.1 protein X [Org B]     (nr: deflines joined by Ctrl-A)
    WP_1.1 protein X [Org A] >WP_2.1 protein X [Org B]        (the same, as DIAMOND writes it)
    seq1 [organism=Homo sapiens] [gene=HBB] [tax_id=9606]     (NCBI submission tags)
    anything else: the first word is the identifier, the rest the description

The identifier (``id``) is always the first word of the header, kept verbatim
so that a FASTA export reproduces the original header; ``accession`` is the
accession parsed out of it (UniProt accession, NCBI accession.version).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

__all__ = ["HeaderInfo", "parse_header"]

_UNIPROT_DBS: Final = frozenset({"sp", "tr"})
# Databases of NCBI-style identifiers, where the token after the db is the accession.
_NCBI_DBS: Final = frozenset(
    {"ref", "gb", "emb", "dbj", "pir", "prf", "pdb", "tpg", "tpe", "tpd", "sp", "tr", "lcl", "gnl", "pat", "bbs"}
)
_UNIPROT_TAG = re.compile(r"\s(OS|OX|GN|PE|SV)=")
_UNIREF_TAG = re.compile(r"\s(n|Tax|TaxID|RepID)=")
_BRACKET_TAG = re.compile(r"\[([A-Za-z_ ]+)=([^\]]*)\]")
# NCBI organism names may hold one level of brackets: "[Clostridium] scindens".
_TRAILING_ORGANISM = re.compile(r"\s*\[((?:[^\[\]]|\[[^\[\]]*\])+)\]\s*$")
# DIAMOND joins nr deflines with " >" instead of Ctrl-A; only split where an
# accession-like token follows, so a '>' inside a description survives.
_NR_JOIN = re.compile(r"\s>(?=[A-Za-z0-9_]+[.|][^\s]*\s)")


@dataclass(slots=True)
class HeaderInfo:
    """Typed fields parsed from one FASTA header."""

    id: str
    description: str = ""
    accession: str = ""
    name: str = ""
    db: str | None = None
    entry_name: str | None = None
    organism: str | None = None
    taxid: int | None = None
    gene: str | None = None
    protein_existence: int | None = None
    sequence_version: int | None = None
    aliases: list[str] = field(default_factory=list)


def _int(value: str | None) -> int | None:
    if not value:
        return None
    token = value.split(None, 1)[0] if value.strip() else ""
    return int(token) if token.isdigit() else None


def _tags(text: str, pattern: re.Pattern[str]) -> tuple[str, dict[str, str]]:
    """Split ``name TAG=value TAG=value`` into the name and a tag dictionary."""
    matches = list(pattern.finditer(text))
    if not matches:
        return text.strip(), {}
    name = text[: matches[0].start()].strip()
    tags: dict[str, str] = {}
    for m, nxt in zip(matches, [*matches[1:], None], strict=True):
        end = nxt.start() if nxt is not None else len(text)
        tags.setdefault(m.group(1), text[m.end() : end].strip())
    return name, tags


def _ncbi_accession(ident: str) -> tuple[str, str | None]:
    """Return (accession, db) from an NCBI-style pipe identifier."""
    parts = [p for p in ident.split("|")]
    if parts and parts[0] == "gi" and len(parts) >= 4 and parts[2] in _NCBI_DBS:
        return parts[3] or parts[1], parts[2]
    if parts and parts[0] in _NCBI_DBS and len(parts) >= 2 and parts[1]:
        return parts[1], parts[0]
    if parts and parts[0] == "gi" and len(parts) >= 2:
        return parts[1], "gi"
    return ident, None


def parse_header(title: str) -> HeaderInfo:
    """Parse one FASTA header line (without the leading ``>``).

    Parameters
    ----------
    title
        The header text. It may hold several nr deflines joined by Ctrl-A
        (or by ``" >"`` as DIAMOND writes them); the first one describes the
        record and the identifiers of the others become aliases.

    Returns
    -------
    HeaderInfo
        The parsed fields. ``id`` is empty when the header has no identifier.

    Examples
    --------
    >>> h = parse_header("sp|P69905|HBA_HUMAN Hemoglobin subunit alpha OS=Homo sapiens OX=9606 GN=HBA1 PE=1 SV=2")
    >>> h.accession, h.name, h.organism, h.taxid, h.gene, h.protein_existence, h.sequence_version
    ('P69905', 'Hemoglobin subunit alpha', 'Homo sapiens', 9606, 'HBA1', 1, 2)
    >>> parse_header("NP_000509.1 hemoglobin subunit beta [Homo sapiens]").organism
    'Homo sapiens'
    """
    aliases: list[str] = []
    if "\x01" in title or " >" in title:
        deflines = [d for part in title.split("\x01") for d in _NR_JOIN.split(part)]
        title = deflines[0]
        for extra in deflines[1:]:
            token = extra.strip().split(None, 1)
            if token:
                aliases.append(token[0])
    parts = title.strip().split(None, 1)
    if not parts:
        return HeaderInfo(id="", aliases=aliases)
    ident = parts[0]
    description = parts[1].strip() if len(parts) > 1 else ""
    info = HeaderInfo(id=ident, description=description, accession=ident, name=description, aliases=aliases)

    pipe = ident.split("|")
    if len(pipe) >= 3 and pipe[0] in _UNIPROT_DBS:
        info.db, info.accession, info.entry_name = pipe[0], pipe[1], pipe[2] or None
        info.name, tags = _tags(description, _UNIPROT_TAG)
        info.organism = tags.get("OS") or None
        info.taxid = _int(tags.get("OX"))
        gene = tags.get("GN")
        info.gene = gene.split(None, 1)[0] if gene else None
        info.protein_existence = _int(tags.get("PE"))
        info.sequence_version = _int(tags.get("SV"))
        return info
    if ident.startswith("UniRef") and "_" in ident:
        info.db = ident.split("_", 1)[0]
        info.accession = ident.split("_", 1)[1]
        info.name, tags = _tags(description, _UNIREF_TAG)
        info.organism = tags.get("Tax") or None
        info.taxid = _int(tags.get("TaxID"))
        info.entry_name = tags.get("RepID") or None
        return info
    if "|" in ident:
        info.accession, info.db = _ncbi_accession(ident)

    text = description
    bracket_tags = {k.strip().lower(): v.strip() for k, v in _BRACKET_TAG.findall(text)}
    if bracket_tags:
        text = _BRACKET_TAG.sub("", text).strip()
        info.organism = bracket_tags.get("organism") or None
        info.gene = bracket_tags.get("gene") or None
        info.taxid = _int(bracket_tags.get("tax_id") or bracket_tags.get("taxid") or bracket_tags.get("taxon"))
    m = _TRAILING_ORGANISM.search(text)
    if m and info.organism is None:
        info.organism = m.group(1).strip()
        text = text[: m.start()].strip()
    info.name = text.removeprefix("MULTISPECIES: ")
    return info
