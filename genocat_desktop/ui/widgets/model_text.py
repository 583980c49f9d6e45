"""Texts about installed models: how to get one, and where one came from."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["HELP_HTML", "model_source"]

#: Shown when no model is installed, and under the model table.
HELP_HTML = (
    "GenoCat never downloads a model. To add ESM-2: get a checkpoint once on any machine with internet "
    "access (Meta's <tt>esm2_t6_8M_UR50D.pt</tt> from fair-esm, 30 MB, or the Hugging Face folder "
    "<tt>facebook/esm2_t6_8M_UR50D</tt>), convert it with<br>"
    "<tt>&nbsp;&nbsp;genocat model export --checkpoint esm2_t6_8M_UR50D.pt --out esm2_t6.onnx --quantize int8</tt><br>"
    "(needs <tt>pip install 'genocat-desktop[export]'</tt>: torch and transformers), then <b>Add model…</b> "
    "the <tt>.onnx</tt> file. The README lists the checkpoint sizes."
)


def model_source(manifest: dict[str, Any]) -> tuple[str, str]:
    """The checkpoint a model was exported from (``"esm2_t6_8M_UR50D.pt (fair-esm)"``) and, as a tip, the file added."""
    added = str(manifest.get("added_from") or "")
    source = manifest.get("source")
    if isinstance(source, dict) and source.get("checkpoint"):
        kind = f" ({source['kind']})" if source.get("kind") else ""
        return f"{source['checkpoint']}{kind}", f"exported from {source['checkpoint']}; added from {added}"
    return (Path(added).name, f"added from {added}") if added else ("", "")
