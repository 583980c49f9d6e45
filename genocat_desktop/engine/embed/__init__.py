"""Embedders: turning sequences into vectors, with no knowledge of catalogs.

* :mod:`.embedders`: the :class:`~.embedders.base.Embedder` protocol and registry, the k-mer
  embedder and the ESM-2 ONNX embedder (with its tokenizer and runtime options).
* :mod:`.models`: the registry of installed ONNX models; :mod:`.esm_export`: exporting ESM-2 to ONNX.

A catalog's vector columns (add, resume, remove, choose the default) belong to the catalog:
:mod:`genocat_desktop.engine.catalog.embeddings`.
"""
