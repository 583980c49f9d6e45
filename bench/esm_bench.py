"""ESM-2 embedding throughput: ONNX Runtime (fp32, int8; bucketed, naive) against PyTorch eager.

``python -m bench.esm_bench [--quick] [--shapes t6_8M,t12_35M] [--model REAL.onnx ...]``

For each ESM-2 shape a model with random weights is built locally (no
download; the real architecture, so the cost is the real cost), exported with
``genocat_desktop.engine.embed.esm_export`` (fp32 and int8), and the same proteins
are embedded, each configuration in its own child process (so each has its own
peak RSS), by:

* ``torch`` — PyTorch eager (``transformers.EsmModel``, its default SDPA
  attention), mean-pooled like the app, with naive batches (8 proteins in file
  order) and with the app's length-sorted token-budget batches;
* ``onnx fp32`` / ``onnx int8`` — the app's :class:`EsmOnnxEmbedder`, naive and bucketed.

Proteins: a fixed sample of the MMseqs2 example queries (real UniProt
lengths, at most 1,022 residues so no protein needs windows and PyTorch sees
the same input). Accuracy is checked on the same run: max |ONNX − PyTorch| of
the pooled vectors, and the cosine of int8 to fp32.

``--model FILE.onnx`` (a real exported ESM-2) adds its throughput and its
retrieval quality on the labelled families (precision@1 and @10 of
same-family hits, families capped at 100), next to the k-mer embedder's.

Results: Markdown on stdout, raw JSON in ``bench/out/esm-<time>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from .data import OUT, families_cap100, mmseqs_queries, read_fasta
from .util import machine, ratio, run_child, table

NAIVE_BATCH = 8
TOKEN_BUDGET = 4096


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------- child
def _batches(lengths: np.ndarray, bucketed: bool) -> list[np.ndarray]:
    from genocat_desktop.engine.embed.embedders.esm_onnx import get_runtime_options, make_batches

    if bucketed:  # exactly the app's batches (PyTorch gets the same ones)
        return make_batches(lengths, TOKEN_BUDGET, 128, get_runtime_options().attention_cells)
    return [np.arange(i, min(i + NAIVE_BATCH, lengths.size)) for i in range(0, lengths.size, NAIVE_BATCH)]


def _child(spec: dict[str, Any]) -> dict[str, Any]:
    """Embed the proteins ``repeats`` times with one configuration; print timings as JSON."""
    seqs = [s.encode() for s in json.loads(Path(spec["data"]).read_text())]
    lengths = np.array([len(s) for s in seqs])
    batches = _batches(lengths, spec["bucketed"])
    real = int((lengths + 2).sum())
    padded = int(sum(len(b) * (lengths[b].max() + 2) for b in batches))
    threads = int(spec["threads"])
    if spec["engine"] == "torch":
        import torch
        import transformers
        from transformers import EsmModel

        from genocat_desktop.engine.embed.embedders.esm_tokens import encode_batch
        from genocat_desktop.engine.embed.esm_export import pooled

        transformers.logging.set_verbosity_error()
        transformers.logging.disable_progress_bar()
        torch.set_num_threads(threads)
        model = EsmModel.from_pretrained(spec["checkpoint"], local_files_only=True, add_pooling_layer=False).eval()

        def run() -> np.ndarray:
            out = np.zeros((len(seqs), model.config.hidden_size))
            with torch.inference_mode():
                for b in batches:
                    ids, mask = encode_batch([seqs[i] for i in b])
                    h = model(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask)).last_hidden_state
                    out[b] = pooled(h.numpy(), mask)
            return out
    else:
        from genocat_desktop.engine.embed.embedders.esm_onnx import EsmOnnxEmbedder, set_runtime_options

        if spec["bucketed"]:
            set_runtime_options(threads=threads, token_budget=TOKEN_BUDGET, max_batch=128, use_gpu=False)
        else:
            # Naive: 8 proteins per call in file order (no token budget, no attention cap).
            set_runtime_options(threads=threads, token_budget=10**9, max_batch=NAIVE_BATCH, attention_cells=0,
                                use_gpu=False)
        emb = EsmOnnxEmbedder(path=spec["onnx"])

        def run() -> np.ndarray:
            if spec["bucketed"]:
                return emb.embed_residues(seqs)
            return np.concatenate([emb.embed_residues([seqs[i] for i in b]) for b in batches])

    t = time.perf_counter()
    vectors = run()
    seconds = time.perf_counter() - t
    np.save(spec["vectors"], vectors.astype(np.float64))
    return {"seconds": seconds, "padding": 1 - real / padded, "batches": len(batches), "load": os.getloadavg()[0]}


def _prepare(spec: dict[str, Any]) -> dict[str, Any]:
    """Build a random-weight model of one shape and export it, fp32 and int8 (in a child: torch stays out
    of the parent, whose memory every later child would otherwise inherit in its peak RSS)."""
    from genocat_desktop.engine.embed.esm_export import build_random_model, export_esm

    hidden, layers, heads = SHAPES[spec["shape"]]
    folder = Path(spec["folder"])
    build_random_model(folder, hidden=hidden, layers=layers, heads=heads)
    fp32 = export_esm(folder, folder.with_suffix(".onnx"), name=spec["shape"])
    int8 = export_esm(folder, folder.with_name(folder.name + "-int8.onnx"), quantize="int8")
    return {"fp32": str(fp32.path), "int8": str(int8.path), "max_abs_at_export": fp32.max_abs_diff_pooled,
            "int8_cosine_at_export": int8.cosine_to_fp32, "export_seconds": fp32.seconds}


# ---------------------------------------------------------------------------- parent
SHAPES = {"t6_8M": (320, 6, 20), "t12_35M": (480, 12, 20)}


def _proteins(n: int, seed: int = 7) -> list[str]:
    alphabet = set("ACDEFGHIKLMNPQRSTVWYXBZUO")
    seqs = [s for _, s in read_fasta(mmseqs_queries()) if 0 < len(s) <= 1022 and set(s) <= alphabet]
    rng = np.random.default_rng(seed)
    return [seqs[i] for i in rng.choice(len(seqs), size=min(n, len(seqs)), replace=False)]


def _precision(vectors: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -np.inf)
    top = np.argsort(-sims, axis=1)[:, :10]
    same = labels[top] == labels[:, None]
    return float(same[:, 0].mean()), float(same.mean())


def _quality(models: list[Path]) -> list[dict[str, Any]]:
    from genocat_desktop.engine.embed.embedders.base import create
    from genocat_desktop.engine.embed.embedders.esm_onnx import EsmOnnxEmbedder, set_runtime_options

    records = read_fasta(families_cap100())
    labels = np.array([t.split("|")[0] for t, _ in records])
    seqs = [s for _, s in records]
    out = []
    t = time.perf_counter()
    p1, p10 = _precision(create("kmer").embed(seqs), labels)
    out.append({"embedder": "k-mer (default)", "p1": p1, "p10": p10, "seconds": time.perf_counter() - t})
    set_runtime_options(token_budget=TOKEN_BUDGET, max_batch=128)
    for path in models:
        log(f"  quality: {path.name} on {len(seqs)} proteins")
        t = time.perf_counter()
        p1, p10 = _precision(EsmOnnxEmbedder(path=path).embed(seqs), labels)
        out.append({"embedder": path.name, "p1": p1, "p10": p10, "seconds": time.perf_counter() - t})
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.esm_bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="fewer proteins, one pass each")
    p.add_argument("--shapes", default="t6_8M,t12_35M", help="random-weight model shapes (t6_8M,t12_35M)")
    p.add_argument("--sequences", type=int, help="proteins per configuration (default 12; quick 6)")
    p.add_argument("--repeats", type=int, help="runs per configuration, interleaved (default 2; quick 1)")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--model", action="append", type=Path, default=[], help="a real ESM-2 ONNX file (repeatable)")
    p.add_argument("--no-torch", action="store_true", help="skip the PyTorch baseline")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--prepare", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(_child(json.loads(args.child))))
        return 0
    if args.prepare:
        print(json.dumps(_prepare(json.loads(args.prepare))))
        return 0

    n = args.sequences or (6 if args.quick else 12)
    repeats = args.repeats or (1 if args.quick else 2)
    OUT.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="esm-bench-", dir=OUT))
    proteins = _proteins(n)
    data = work / "proteins.json"
    data.write_text(json.dumps(proteins))
    residues = sum(map(len, proteins))
    log(f"esm bench: {len(proteins)} proteins, {residues:,} residues (mean {residues / len(proteins):.0f}), "
        f"{args.threads} thread(s), {repeats} pass(es) per configuration")
    results: dict[str, Any] = {"machine": machine(), "proteins": len(proteins), "residues": residues,
                               "threads": args.threads, "repeats": repeats, "shapes": {}, "models": {}}

    def child(spec: dict[str, Any], tag: str) -> dict[str, Any]:
        spec = {**spec, "data": str(data), "threads": args.threads, "vectors": str(work / f"{tag}.npy")}
        return run_child([sys.executable, "-m", "bench.esm_bench", "--child", json.dumps(spec)])

    def measure(configs: dict[str, dict[str, Any]], prefix: str) -> dict[str, dict[str, Any]]:
        """Run every configuration ``repeats`` times, rotating the order, each run in a fresh child."""
        runs: dict[str, dict[str, Any]] = {name: {"samples": [], "peak_rss_mb": 0.0, "load": []} for name in configs}
        names = list(configs)
        for r in range(repeats):
            for name in names[r % len(names):] + names[: r % len(names)]:
                tag = f"{prefix}-{name.replace(' ', '_')}"
                res = child(configs[name], tag)
                run = runs[name]
                if "error" in res:
                    run["error"] = res["error"]
                    log(f"  {tag}: FAILED {res['error']}")
                    continue
                run["samples"].append(res["seconds"])
                run["load"].append(res["load"])
                run["peak_rss_mb"] = max(run["peak_rss_mb"], res["peak_rss_mb"])
                run["padding"] = res["padding"]
                log(f"  {tag}: {len(proteins) / res['seconds']:.1f} seq/s, padding {res['padding']:.0%}, "
                    f"peak RSS {res['peak_rss_mb']:.0f} MB, load {res['load']:.1f}")
        for run in runs.values():
            if run["samples"]:
                best = min(run["samples"])
                run.update(best=best, seq_per_s=len(proteins) / best, res_per_s=residues / best)
        return runs

    for shape in [s for s in args.shapes.split(",") if s]:
        t = time.perf_counter()
        prep = run_child([sys.executable, "-m", "bench.esm_bench", "--prepare",
                          json.dumps({"shape": shape, "folder": str(work / shape)})])
        if "error" in prep:
            log(f"{shape}: export FAILED {prep['error']}")
            continue
        log(f"{shape}: built and exported in {time.perf_counter() - t:.0f} s (export check: max |ONNX-PyTorch| "
            f"{prep['max_abs_at_export']:.1e}, int8 cosine {prep['int8_cosine_at_export']:.4f})")
        configs: dict[str, dict[str, Any]] = {}
        for bucketed in (False, True):
            kind = "bucketed" if bucketed else "naive"
            if not args.no_torch:
                configs[f"torch {kind}"] = {"engine": "torch", "checkpoint": str(work / shape), "bucketed": bucketed}
            configs[f"onnx fp32 {kind}"] = {"engine": "onnx", "onnx": prep["fp32"], "bucketed": bucketed}
            configs[f"onnx int8 {kind}"] = {"engine": "onnx", "onnx": prep["int8"], "bucketed": bucketed}
        runs = measure(configs, shape)
        vec = {name: np.load(work / f"{shape}-{name.replace(' ', '_')}.npy")
               for name in runs if runs[name]["samples"]}
        acc: dict[str, float] = {}
        fp, q, pt = vec.get("onnx fp32 bucketed"), vec.get("onnx int8 bucketed"), vec.get("torch bucketed")
        if fp is not None and pt is not None:
            acc["max_abs_onnx_fp32_vs_torch"] = float(np.abs(fp - pt).max())
        if fp is not None and q is not None:
            acc["min_cosine_int8_vs_fp32"] = float(np.min(np.sum(q * fp, axis=1)))
        results["shapes"][shape] = {"runs": runs, "accuracy": acc, "prepare": prep}

    for path in args.model:
        spec = {"engine": "onnx", "onnx": str(path.resolve()), "bucketed": True}
        results["models"][path.name] = measure({"bucketed": spec}, path.stem)
    results["quality"] = _quality(args.model)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    (OUT / f"esm-{stamp}.json").write_text(json.dumps(results, indent=2, default=str))
    print(report(results))
    return 0


def report(res: dict[str, Any]) -> str:
    """The results as Markdown."""
    parts = []
    for shape, r in res["shapes"].items():
        runs = r["runs"]
        base = runs.get("torch naive", {}).get("seq_per_s")
        base_b = runs.get("torch bucketed", {}).get("seq_per_s")
        rows = []
        for name, x in runs.items():
            if not x.get("samples"):
                rows.append([name, "failed", "", "", "", "", ""])
                continue
            rows.append([name, x["seq_per_s"], x["res_per_s"], f"{x['padding']:.0%}", x["peak_rss_mb"],
                         ratio(x["seq_per_s"], base), ratio(x["seq_per_s"], base_b)])
        acc = r["accuracy"]
        parts.append(f"**{shape}** (random weights, real architecture)\n\n" + table(
            ["configuration", "seq/s", "residues/s", "padding", "peak RSS MB", "vs torch naive", "vs torch bucketed"],
            rows) + "\n\n" + ", ".join(f"{k}: {v:.2e}" if "abs" in k else f"{k}: {v:.5f}" for k, v in acc.items()))
    for name, r in res["models"].items():
        x = r["bucketed"]
        if not x.get("samples"):
            parts.append(f"**{name}**: failed ({x.get('error')})")
            continue
        parts.append(f"**{name}**: {x.get('seq_per_s', 0):.1f} seq/s, {x.get('res_per_s', 0):,.0f} residues/s, "
                     f"peak RSS {x.get('peak_rss_mb', 0):.0f} MB")
    q = res.get("quality", [])
    if q:
        parts.append("Retrieval quality, families_cap100 (579 proteins, self excluded):\n\n" + table(
            ["embedder", "P@1", "P@10", "seconds"], [[x["embedder"], x["p1"], x["p10"], x["seconds"]] for x in q]))
    parts.append(f"{res['proteins']} proteins ({res['residues']:,} residues) from the MMseqs2 example queries, "
                 f"{res['threads']} thread(s), best of {res['repeats']} interleaved run(s), each in a fresh "
                 f"process; load average at start {res['machine']['load_average'][0]:.1f}.")
    return "\n\n".join(parts)


if __name__ == "__main__":
    sys.exit(main())
