"""Weight averaging of models of one architecture and one lineage (a "model soup", Wortsman et al., ICML 2022;
WiSE-FT when a fine-tuned model is averaged back with its start): how the bundled model was made.

    wsshm-rt average runs/r6/student/last runs/r7/student/last -o runs/soup/r67.safetensors
    wsshm-rt average B.onnx runs/r16/student/last --weights 3,1 -o soup.onnx

Float tensors (weights and BatchNorm statistics) are averaged in fp32 and stored in the last model's dtype; integer
ones (BatchNorm step counters) and the metadata are the last model's.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..errors import WsshmError
from ..weights import load_weights, save_weights


def average_states(states: list[dict], weights: list[float] | None = None) -> dict:
    """The weighted mean of state dicts of one architecture; ``weights`` are relative (normalised to sum 1)."""
    weights = check_weights(weights, len(states))
    last = states[-1]
    for s in states:
        if s.keys() != last.keys() or any(s[k].shape != last[k].shape for k in last):
            raise WsshmError("these models do not share one architecture: their tensors differ in names or shapes")
    total = sum(weights)
    return {k: sum(w / total * s[k].float() for w, s in zip(weights, states)).to(last[k].dtype)
            if last[k].is_floating_point() else last[k].clone() for k in last}


def check_weights(weights: list[float] | None, n: int) -> list[float]:
    if n < 2:
        raise WsshmError("give two or more models to average")
    weights = [1.0] * n if weights is None else [float(w) for w in weights]
    if len(weights) != n or any(w < 0 for w in weights) or sum(weights) <= 0:
        raise WsshmError(f"--weights takes {n} non-negative numbers, one a model, not {weights}")
    return weights


def parse_weights(text: str | None) -> list[float] | None:
    """'3,1' -> [3.0, 1.0]; None or '' -> None (equal weights)."""
    if not text:
        return None
    try:
        return [float(x) for x in text.split(",")]
    except ValueError:
        raise WsshmError(f"--weights takes comma-separated numbers (e.g. 3,1), not {text!r}") from None


def average_weights(models: list, out, weights: list[float] | None = None) -> Path:
    """Average the weights files ``models`` (.safetensors, run folders' last/best, or bundle .onnx files) into
    ``out``: a .safetensors file, or an .onnx with BatchNorm kept and weights in fp16, as the bundle is written."""
    out = Path(out)
    if out.suffix.lower() not in (".safetensors", ".onnx"):
        raise WsshmError(f"-o {out}: give a .safetensors or .onnx file name")
    check_weights(weights, len(models))
    loaded = [load_weights(m) for m in models]
    archs = {meta.get("architecture") for _, meta in loaded}
    if len(archs) != 1:
        raise WsshmError(f"these models are of different architectures ({', '.join(sorted(map(str, archs)))}) "
                         "and cannot be averaged")
    state = average_states([s for s, _ in loaded], weights)
    meta = dict(loaded[-1][1], note="weights averaged from " + ", ".join(
        f"{m} ({w:g})" for m, w in zip(models, weights or [1] * len(models))))
    if out.suffix.lower() == ".safetensors":
        return save_weights(state, out, meta)
    from ..export.onnx import export_onnx
    from ..models import create_model

    model = create_model(meta["architecture"])
    model.load_state_dict({k: v.half() if v.is_floating_point() else v for k, v in state.items()})
    return export_onnx(model, out, meta, fp16_weights=True, keep_bn=True)
