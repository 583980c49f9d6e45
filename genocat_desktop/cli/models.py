"""``genocat model ...`` and ``genocat embed``: protein language models and extra embeddings.

The catalog's embeddings and model installs run the application layer's jobs
(:mod:`genocat_desktop.app.models`), as the window does; :mod:`genocat_desktop.cli.main`
registers the commands.

::

    genocat model export --checkpoint esm2_t6_8M_UR50D.pt --out esm2_t6.onnx [--quantize int8] [--add]
    genocat model add esm2_t6.onnx [--name NAME]
    genocat model list [--json]
    genocat model remove NAME
    genocat embed --model esm2_t6_8M_UR50D [--default]     add an embedding to the catalog (resumable)
    genocat embed --embedder sketch [--param scaled=100]    MinHash sketches of the DNA records (vec_sketch)
    genocat embed --remove vec_esm2_t6_8m_ur50d | --set-default COLUMN
    genocat embed --discard COLUMN                          throw away an interrupted run's saved vectors
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genocat_desktop.cli.common import EXIT_CANCELLED, EXIT_OK, Command, Reporter, cancel_on_sigint, open_session

if TYPE_CHECKING:
    from genocat_desktop.engine import CancelToken, Catalog, EmbedReport

__all__ = ["COMMANDS", "add_parsers"]


def add_parsers(sub: Any) -> None:
    """Add the ``model`` and ``embed`` sub-commands to the ``genocat`` sub-parsers (handlers: :data:`COMMANDS`)."""
    mo = sub.add_parser("model", help="protein language models (ESM-2 as ONNX): export, add, list",
                        description="Install and list the models GenoCat embeds with. Nothing is downloaded: "
                        "convert a checkpoint you have with `model export`, then `model add` the ONNX file.")
    msub = mo.add_subparsers(dest="model_command", metavar="ACTION", required=True)
    ex = msub.add_parser("export", help="convert an ESM-2 checkpoint to ONNX (needs the [export] extra)",
                         description="Convert a local ESM-2 checkpoint (a fair-esm .pt file or a Hugging Face "
                         "model folder) to ONNX, check it against PyTorch, and write FILE.onnx and FILE.onnx.json.")
    ex.add_argument("--checkpoint", required=True, type=Path, metavar="PATH", help=".pt file or model folder")
    ex.add_argument("--out", required=True, type=Path, metavar="FILE.onnx")
    ex.add_argument("--quantize", choices=["int8"], help="dynamic int8 quantisation (smaller, faster)")
    ex.add_argument("--name", help="model name (default: the checkpoint's name)")
    ex.add_argument("--tolerance", type=float, default=1e-4,
                    help="largest allowed difference of the embeddings, ONNX vs PyTorch (default 1e-4)")
    ex.add_argument("--add", action="store_true", help="also install the model (as `model add` does)")
    ex.add_argument("--json", action="store_true")
    ad = msub.add_parser("add", help="install an ONNX model")
    ad.add_argument("file", type=Path, metavar="FILE.onnx")
    ad.add_argument("--name", help="name to install it under (default: from its manifest)")
    ad.add_argument("--replace", action="store_true", help="replace an installed model of the same name")
    ls = msub.add_parser("list", help="installed models")
    ls.add_argument("--json", action="store_true")
    rm = msub.add_parser("remove", help="uninstall a model")
    rm.add_argument("name")

    em = sub.add_parser("embed", help="add an embedding (vector column) to the catalog",
                        description="Embed every sequence of the catalog with another embedder, in a new vector "
                        "column. Resumable: after Ctrl-C or a crash, run the same command again. Search it with "
                        "`genocat search --embedding COLUMN_OR_MODEL`.")
    what = em.add_mutually_exclusive_group(required=True)
    what.add_argument("--model", help="an installed model (`genocat model list`)")
    what.add_argument("--embedder", help="a built-in embedder by name: kmer, or sketch (MinHash sketches of DNA: "
                      "containment of inserts and genome ANI; --param scaled=N, ksize=K)")
    what.add_argument("--remove", metavar="COLUMN", help="drop an embedding column")
    what.add_argument("--set-default", metavar="COLUMN", help="make a column the one searched by default")
    what.add_argument("--discard", metavar="COLUMN",
                      help="delete the vectors saved by an interrupted run (column or model name; "
                      "`genocat info` lists unfinished runs), so that adding it again starts afresh")
    em.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                    help="embedder parameter, e.g. k=5 (repeatable)")
    em.add_argument("--column", help="name of the new column (default vec_<model>)")
    em.add_argument("--default", action="store_true", help="make the new column the default for searches")
    em.add_argument("--json", action="store_true")


def _print_models() -> None:
    from genocat_desktop.engine import list_models, models_dir

    installed = list_models()
    if not installed:
        print(f"No models installed in {models_dir()}. Convert a checkpoint with "
              "`genocat model export`, then `genocat model add FILE.onnx`.")
    for m in installed:
        layers = f"{m.layers} layers, " if m.layers else ""
        print(f"{m.name}\t{layers}{m.dim} dimensions, {m.quantization}, {m.size_bytes / 1e6:,.1f} MB, "
              f"sha256 {m.sha256[:12]}")


def _export(args: argparse.Namespace, token: CancelToken) -> int:
    """``model export``: convert a checkpoint to ONNX, check it, and install it with ``--add``."""
    from genocat_desktop.engine import add_model
    from genocat_desktop.engine.embed.esm_export import export_esm

    try:
        with Reporter(args.quiet) as rep:
            report = export_esm(args.checkpoint, args.out, quantize=args.quantize, name=args.name,
                                tolerance=args.tolerance, progress=rep, cancel=token)
    except ImportError as exc:
        from genocat_desktop.engine import EmbedderError

        raise EmbedderError(f"exporting needs torch and transformers ({exc.name} is missing): "
                            "pip install 'genocat-desktop[export]'") from None
    manifest = report.manifest
    if args.json:
        print(json.dumps({"path": str(report.path), **manifest, "seconds": report.seconds}, indent=2))
    else:
        print(f"wrote {report.path} ({manifest['layers']} layers, {manifest['dim']} dimensions, "
              f"{manifest['quantization']})")
        print(f"max abs difference vs PyTorch: hidden states {report.max_abs_diff:.2e}, "
              f"embeddings {report.max_abs_diff_pooled:.2e}")
        if report.cosine_to_fp32 is not None:
            print(f"int8 vs fp32 embeddings: cosine >= {report.cosine_to_fp32:.5f}")
    if args.add:
        added = add_model(report.path, cancel=token)
        print(f"installed {added.name}", file=sys.stderr)
    return EXIT_OK


def _cmd_model(args: argparse.Namespace) -> int:
    from genocat_desktop.app.models import add_model_job
    from genocat_desktop.engine import list_models, remove_model

    if args.model_command == "list":
        if args.json:
            print(json.dumps([m.to_dict() for m in list_models()], indent=2, default=str))
        else:
            _print_models()
        return EXIT_OK
    if args.model_command == "remove":
        remove_model(args.name)
        print(f"removed {args.name}")
        return EXIT_OK
    with cancel_on_sigint() as token:
        if args.model_command != "add":
            return _export(args, token)
        with Reporter(args.quiet) as rep:
            added = add_model_job(args.file, name=args.name, replace=args.replace)(rep, token)
    print(f"installed {added.name} ({added.dim} dimensions, sha256 {added.sha256[:12]}) in {added.path.parent}")
    return EXIT_OK


def _parse_param(text: str) -> tuple[str, Any]:
    from genocat_desktop.engine import InputError

    key, sep, value = text.partition("=")
    if not sep or not key:
        raise InputError(f"--param {text!r}: write KEY=VALUE")
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value


def _discard(catalog: Catalog, name: str) -> int:
    """``genocat embed --discard``: delete an interrupted run's checkpoint, named by column or model."""
    from genocat_desktop.engine import CatalogError, discard_pending_embedding, pending_embeddings

    pending = pending_embeddings(catalog)
    found = [p for p in pending if name in (p.column, p.record.get("params", {}).get("model"))]
    if not found:
        have = ", ".join(p.column for p in pending) or "none"
        raise CatalogError(f"there is no interrupted embedding {name!r} in this catalog (interrupted: {have})")
    for p in found:
        discard_pending_embedding(catalog, p.column)
        print(f"discarded the interrupted run of {p.column} ({p.done:,} sequence(s) had been embedded)")
    return EXIT_OK


def _print_embedded(args: argparse.Namespace, report: EmbedReport) -> None:
    if args.json:
        print(json.dumps({"column": report.column, "rows": report.rows, "embedded": report.embedded,
                          "reused": report.reused, "version": report.version,
                          "seconds": round(report.seconds, 3)}, indent=2))
    elif report.version is None:
        print(f"{report.column} is already in the catalog")
    else:
        reused = f" ({report.reused:,} from an interrupted run)" if report.reused else ""
        print(f"added {report.column}: {report.rows:,} sequences{reused} in {report.seconds:,.1f} s, "
              f"version {report.version}")


def _cmd_embed(args: argparse.Namespace) -> int:
    from genocat_desktop.app import models as models_ops
    from genocat_desktop.app.jobs import run_job
    from genocat_desktop.engine import Cancelled, resolve_column

    session = open_session(args, create=False)
    catalog = session.catalog
    if args.remove:
        change = run_job(models_ops.remove_embedding_job(session, resolve_column(catalog, args.remove)))
        print(f"removed {args.remove} (version {change.version})")
        return EXIT_OK
    if args.set_default:
        column = resolve_column(catalog, args.set_default)
        run_job(models_ops.set_default_embedding_job(session, column))
        print(f"searches now use {column} by default")
        return EXIT_OK
    if args.discard:
        return _discard(catalog, args.discard)
    params = dict(_parse_param(p) for p in args.param)
    if args.model:
        params["model"] = args.model
    job = models_ops.add_embedding_job(session, args.embedder or "esm", params, column=args.column,
                                       make_default=args.default)
    try:
        with cancel_on_sigint() as token, Reporter(args.quiet) as rep:
            outcome = job(rep, token)
    except Cancelled:
        print("genocat: cancelled; the catalog is unchanged. Run the same command again to resume "
              "(finished sequences are kept).", file=sys.stderr)
        return EXIT_CANCELLED
    _print_embedded(args, outcome.report)
    return EXIT_OK


#: Handlers by command name (``cli.main`` merges them into its table).
COMMANDS: dict[str, Command] = {"model": _cmd_model, "embed": _cmd_embed}
