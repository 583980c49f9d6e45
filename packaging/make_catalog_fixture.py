"""Write tests/data/catalog-v1/: a small catalog as this release writes it, for tests/test_upgrade.py.

    .venv/bin/python packaging/make_catalog_fixture.py [OUT]      (default: tests/data/catalog-v1)

Run it once per catalog format, then commit the folder and never regenerate it: the point of the
fixture is that it was written by an OLD release, and every later release must open, search and
write it (tests/test_upgrade.py copies it to a temporary folder first). When the format changes, keep
this folder, add a ``catalog-v<N>`` fixture written by the new release beside it, and point the new
one's test at it too.

What the catalog holds (kept to a few hundred KB):

* ``catalog/``: a GenoCat catalog (``sequences.lance``) with 40 proteins of
  tests/data/families_small.faa (their family from families_small.tsv as the description),
  imported as two files (two import versions), a user field
  ``assay`` (category ``low``/``high``) with values set on some rows, a scalar and a full-text
  index (a vector index needs far more rows than a fixture should hold), and a second embedding
  column made by a tiny random-weight ESM-2 (``vec_esm``) beside the default ``vec_kmer``;
* ``model/``: that ESM-2 ONNX model and its manifest, so a test can install it and embed queries
  exactly like the rows;
* ``fixture.json``: what the writer recorded (format, GenoCat, Lance and pyarrow versions, rows,
  versions, fields, indexes), which the tests compare against what they read.

It needs the ``[dev]`` extra (torch and transformers build the random model); it downloads nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "tests" / "data" / "families_small.faa"
#: Records of families_small.faa in each of the two imported files.
FIRST, SECOND = (0, 24), (24, 40)
FIELD, VALUES = "assay", ("low", "high")
MODEL = "tiny-v1"


def _records(start: int, stop: int, out: Path) -> Path:
    """Records ``start:stop``, each header given a description (its family, from the .tsv) to index."""
    families = {}
    for line in SOURCE.with_suffix(".tsv").read_text().splitlines()[1:]:
        ident, family, accession = line.split("\t")[:3]
        families[ident] = f"{family.replace('_', ' ')} family {accession}"
    records = SOURCE.read_text().split(">")[1:]
    text = []
    for record in records[start:stop]:
        header, _, residues = record.partition("\n")
        text.append(f">{header} {families[header]}\n{residues}")
    out.write_text("".join(text))
    return out


def _tiny_model(work: Path, out: Path) -> Path:
    """A 1-layer, 32-d random ESM-2 exported to ONNX (a few tens of KB), written to ``out``."""
    from genocat_desktop.engine.embed.esm_checkpoint import build_random_model
    from genocat_desktop.engine.embed.esm_export import export_esm

    build_random_model(work / "hf", hidden=32, layers=1, heads=2, seed=21)
    report = export_esm(work / "hf", work / f"{MODEL}.onnx", name=MODEL)
    out.mkdir(parents=True)
    shutil.copy2(report.path, out / f"{MODEL}.onnx")
    shutil.copy2(str(report.path) + ".json", out / f"{MODEL}.onnx.json")
    return out / f"{MODEL}.onnx"


def build(out: Path) -> dict[str, object]:
    """Write the fixture into ``out`` (replaced); return what ``fixture.json`` records."""
    import lance
    import pyarrow as pa

    from genocat_desktop import __version__
    from genocat_desktop.engine import (
        Catalog,
        add_embedding,
        add_field,
        add_model,
        build_indexes,
        configure_process,
        import_files,
        index_status,
        parse_condition,
        set_values,
    )
    from genocat_desktop.engine.catalog.table import FORMAT

    configure_process()
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    with tempfile.TemporaryDirectory(prefix="genocat-fixture-") as tmp:
        work = Path(tmp)
        model = _tiny_model(work / "esm", out / "model")
        # The registry of this run only: the user's own models are neither read nor changed.
        os.environ["GENOCAT_MODELS"] = str(work / "models")
        add_model(model)

        cat = Catalog.open(out / "catalog")
        import_files(cat, [_records(*FIRST, work / "first.faa")])
        add_field(cat, FIELD, "category", allowed=list(VALUES), description="assay outcome")
        set_values(cat, FIELD, VALUES[1], conditions=[parse_condition("length > 60")])
        set_values(cat, FIELD, VALUES[0], conditions=[parse_condition("length <= 60")])
        import_files(cat, [_records(*SECOND, work / "second.faa")])
        add_embedding(cat, "esm", {"model": MODEL}, column="vec_esm")
        build_indexes(cat, vector=False, scalar=True, text=True)

        cat.refresh()
        facts: dict[str, object] = {
            "format": FORMAT,
            "genocat": __version__,
            "lance": lance.__version__,
            "pyarrow": pa.__version__,
            "rows": cat.count(),
            "version": cat.version,
            "versions": [v.version for v in cat.versions()],
            "fields": [f.name for f in cat.fields()],
            "vector_columns": sorted(cat.vector_columns()),
            "default_vector": cat.meta["default_vector"],
            "indexes": sorted(f"{i.column}:{i.kind}" for i in index_status(cat).indexes),
            "model": f"model/{MODEL}.onnx",
            "user_field": {"name": FIELD, "values": list(VALUES)},
        }
    (out / "fixture.json").write_text(json.dumps(facts, indent=2) + "\n")
    # Git keeps no empty folder (the catalog's work folder): the tests must see what a clone has.
    for folder in sorted((p for p in out.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        if not any(folder.iterdir()):
            folder.rmdir()
    return facts


def main(argv: list[str] | None = None) -> int:
    """Command line: write the fixture and print what it holds."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", type=Path, default=ROOT / "tests" / "data" / "catalog-v1")
    args = parser.parse_args(argv)
    facts = build(args.out)
    size = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    print(json.dumps(facts, indent=2))
    print(f"make_catalog_fixture: wrote {args.out} ({size / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
