"""Catalogs built once per benchmark run (search and export share them)."""

from __future__ import annotations

import shutil
import time

import numpy as np

from genocat_desktop.engine import Catalog, import_files

from . import data

_BUILT: dict[int, Catalog] = {}


def catalog(rows: int, log) -> Catalog:
    """A fresh catalog of the first ``rows`` synthetic records (built once per process)."""
    if rows in _BUILT:
        return _BUILT[rows]
    path = data.synthetic(rows, log=log)
    where = data.OUT / "tmp" / f"catalog_{rows}"
    shutil.rmtree(where, ignore_errors=True)
    t = time.perf_counter()
    cat = Catalog.open(where)
    report = import_files(cat, [path])
    if report.failed or cat.count() != rows:
        raise RuntimeError(f"building the {rows:,}-row catalog failed: {[f.summary() for f in report.files]}")
    log(f"  built the {rows:,}-row catalog in {time.perf_counter() - t:.1f} s")
    _BUILT[rows] = cat
    return cat


def vectors(cat: Catalog) -> np.ndarray:
    """The default vector column as one contiguous float32 matrix (the references search this)."""
    column = cat.default_vector
    dim = int(cat.vector_columns()[column]["dim"])
    col = cat.dataset().to_table(columns=[column]).column(column).combine_chunks()
    return np.ascontiguousarray(col.flatten().to_numpy().reshape(-1, dim), dtype=np.float32)


def cleanup() -> None:
    _BUILT.clear()
    shutil.rmtree(data.OUT / "tmp", ignore_errors=True)
