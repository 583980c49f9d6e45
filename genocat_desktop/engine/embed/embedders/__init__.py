"""Embedders: functions from sequences to unit-length ``float32`` vectors.

* :mod:`.base`: the :class:`~.base.Embedder` protocol and the registry (``create``, ``register``).
* :mod:`.kmer`: k-mer count profiles (the compiled loop is ``_kmer_count.pyx``).
* :mod:`.esm_onnx`: ESM-2 with ONNX Runtime and its :class:`~.esm_onnx.RuntimeOptions`;
  :mod:`.esm_tokens`: the tokenizer, windows and ORF translation it uses.
"""
