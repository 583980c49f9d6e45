"""``genocat model ...`` and ``genocat embed``: protein language models and extra embeddings.

Kept apart from :mod:`genocat_desktop.cli.main` so the model commands can grow
without touching the core commands; :mod:`cli` registers them.

::

    genocat model export --checkpoint esm2_t6_8M_UR50D.pt --out esm2_t6.onnx [--quantize int8] [--add]
    genocat model add esm2_t6.onnx [--name NAME]
    genocat model list [--json]
    genocat model remove NAME
    genocat embed --model esm2_t6_8M_UR50D [--default]     add an embedding to the catalog (resumable)
    genocat embed --remove vec_esm2_t6_8m_ur50d | --set-default COLUMN
    genocat embed --discard COLUMN                          throw away an interrupted run's saved vectors
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

Command = Callable[[argparse.Namespace], int]


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
    what.add_argument("--embedder", help="a built-in embedder by name (e.g. kmer)")
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


def _reporter(args: argparse.Namespace) -> Any:
    from genocat_desktop.cli.main import _Reporter

    return _Reporter(args.quiet)


def _cancel_on_sigint() -> tuple[Any, Any]:
    from genocat_desktop.cli.main import _install_cancel
    from genocat_desktop.engine import CancelToken

    token = CancelToken()
    return token, _install_cancel(token)


def _cmd_model(args: argparse.Namespace) -> int:
    from genocat_desktop.engine.embed import models

    if args.model_command == "list":
        installed = models.list_models()
        if args.json:
            print(json.dumps([m.to_dict() for m in installed], indent=2, default=str))
        elif not installed:
            print(f"No models installed in {models.models_dir()}. Convert a checkpoint with "
                  "`genocat model export`, then `genocat model add FILE.onnx`.")
        else:
            for m in installed:
                layers = f"{m.layers} layers, " if m.layers else ""
                print(f"{m.name}\t{layers}{m.dim} dimensions, {m.quantization}, {m.size_bytes / 1e6:,.1f} MB, "
                      f"sha256 {m.sha256[:12]}")
        return 0
    if args.model_command == "remove":
        models.remove_model(args.name)
        print(f"removed {args.name}")
        return 0
    token, previous = _cancel_on_sigint()
    try:
        if args.model_command == "add":
            with _reporter(args) as rep:
                added = models.add_model(args.file, name=args.name, replace=args.replace, progress=rep, cancel=token)
            print(f"installed {added.name} ({added.dim} dimensions, sha256 {added.sha256[:12]}) "
                  f"in {added.path.parent}")
            return 0
        from genocat_desktop.engine.embed.esm_export import export_esm

        try:
            with _reporter(args) as rep:
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
            added = models.add_model(report.path, cancel=token)
            print(f"installed {added.name}", file=sys.stderr)
        return 0
    finally:
        signal.signal(signal.SIGINT, previous)


def _parse_param(text: str) -> tuple[str, Any]:
    from genocat_desktop.engine import InputError

    key, sep, value = text.partition("=")
    if not sep or not key:
        raise InputError(f"--param {text!r}: write KEY=VALUE")
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value


def _discard(catalog: Any, name: str) -> int:
    """``genocat embed --discard``: delete an interrupted run's checkpoint, named by column or model."""
    from genocat_desktop.engine import CatalogError
    from genocat_desktop.engine.embed import columns as embed_job

    pending = embed_job.pending_embeddings(catalog)
    found = [p for p in pending if name in (p.column, p.record.get("params", {}).get("model"))]
    if not found:
        have = ", ".join(p.column for p in pending) or "none"
        raise CatalogError(f"there is no interrupted embedding {name!r} in this catalog (interrupted: {have})")
    for p in found:
        embed_job.discard_pending_embedding(catalog, p.column)
        print(f"discarded the interrupted run of {p.column} ({p.done:,} sequence(s) had been embedded)")
    return 0


def _cmd_embed(args: argparse.Namespace) -> int:
    from genocat_desktop.cli.main import _open_catalog
    from genocat_desktop.engine import Cancelled
    from genocat_desktop.engine.embed import columns as embed_job

    catalog = _open_catalog(args, create=False)
    if args.remove:
        version = embed_job.remove_embedding(catalog, embed_job.resolve_column(catalog, args.remove))
        print(f"removed {args.remove} (version {version})")
        return 0
    if args.set_default:
        column = embed_job.resolve_column(catalog, args.set_default)
        embed_job.set_default_embedding(catalog, column)
        print(f"searches now use {column} by default")
        return 0
    if args.discard:
        return _discard(catalog, args.discard)
    params = dict(_parse_param(p) for p in args.param)
    name = args.embedder or "esm"
    if args.model:
        params["model"] = args.model
    token, previous = _cancel_on_sigint()
    try:
        with _reporter(args) as rep:
            report = embed_job.add_embedding(catalog, name, params, column=args.column, make_default=args.default,
                                             progress=rep, cancel=token)
    except Cancelled:
        print("genocat: cancelled; the catalog is unchanged. Run the same command again to resume "
              "(finished sequences are kept).", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGINT, previous)
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
    return 0


#: Handlers by command name (``cli`` merges them into its table).
COMMANDS: dict[str, Command] = {"model": _cmd_model, "embed": _cmd_embed}
