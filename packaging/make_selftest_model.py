"""Write ``genocat_desktop/resources/selftest/tiny.onnx``: the self-test's ONNX model (a few hundred bytes).

The model is ``y = relu(x @ W + b)`` with ``x`` float32 [N, 4], ``W`` [4, 3] and
``b`` [3] fixed below; ``genocat --selftest`` runs it through onnxruntime and
compares the output with the same product computed by numpy. It proves that the
bundle's onnxruntime (its C++ library and providers) loads and runs a model,
without shipping a real network.

Needs the ``onnx`` package, which the app itself does not; run it once in any
Python environment (``pip install onnx`` in a throwaway venv) when the model
must change::

    python packaging/make_selftest_model.py

The weights are repeated in :mod:`genocat_desktop.selftest` (``TINY_W``, ``TINY_B``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

W = np.array([[1.0, -2.0, 0.5], [0.0, 1.0, -1.0], [2.0, 0.0, 0.25], [-1.0, 0.5, 1.0]], dtype=np.float32)
B = np.array([0.1, -0.2, 0.3], dtype=np.float32)
OUT = Path(__file__).resolve().parent.parent / "genocat_desktop" / "resources" / "selftest" / "tiny.onnx"


def build() -> onnx.ModelProto:
    """The model: MatMul, Add, Relu on a dynamic batch."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])
    nodes = [
        helper.make_node("MatMul", ["x", "W"], ["xw"]),
        helper.make_node("Add", ["xw", "b"], ["z"]),
        helper.make_node("Relu", ["z"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes, "genocat_selftest", [x], [y],
        initializer=[numpy_helper.from_array(W, "W"), numpy_helper.from_array(B, "b")],
    )
    # Opset 13 and IR version 7: old enough for any onnxruntime the app accepts (>= 1.18).
    model = helper.make_model(graph, producer_name="genocat-selftest", opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 7
    onnx.checker.check_model(model)
    return model


def main() -> None:
    OUT.parent.mkdir(parents=True, exist_ok=True)
    data = build().SerializeToString()
    OUT.write_bytes(data)
    print(f"wrote {OUT} ({len(data)} bytes)")


if __name__ == "__main__":
    main()
