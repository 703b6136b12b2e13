"""Weight averaging of models of one architecture and one lineage (a "model soup", Wortsman et al., ICML 2022;
WiSE-FT when a fine-tuned model is averaged back with its start): how the bundled model was made.

    wsshm-rt average runs/r6/student/last runs/r7/student/last -o runs/soup/r67.safetensors
    wsshm-rt average B.onnx runs/r16/student/last --weights 3,1 -o soup.onnx
    wsshm-rt average B.onnx S --weights 0.2,0.8 --module decoder=0.5,0.5 --module head=0.5,0.5 -o mix.onnx

``--module NAME=W,...`` gives the tensors under one module (a dotted prefix of their names: ``encoder``,
``encoder.layer4``, ``aspp``, ``decoder``, ``refine``, ``head``) weights of their own; the longest matching prefix
wins, the rest take ``--weights``. A model's encoder decides where the person is and its decoder draws the edges,
so a per-module mix can keep one model's "who is a person" and more of another's edges.

Float tensors (weights and BatchNorm statistics) are averaged in fp32 and stored in the last model's dtype; integer
ones (BatchNorm step counters) and the metadata are the last model's.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..errors import WsshmError
from ..weights import load_weights, resolve_weights_path, save_weights


def average_states(states: list[dict], weights: list[float] | None = None,
                   modules: dict[str, list[float]] | None = None) -> dict:
    """The weighted mean of state dicts of one architecture; ``weights`` are relative (normalised to sum 1).
    ``modules`` maps a module (a dotted prefix of tensor names) to weights of its own; the longest prefix wins."""
    weights = check_weights(weights, len(states))
    modules = {name: check_weights(w, len(states), f"--module {name}") for name, w in (modules or {}).items()}
    last = states[-1]
    for s in states:
        if s.keys() != last.keys() or any(s[k].shape != last[k].shape for k in last):
            raise WsshmError("these models do not share one architecture: their tensors differ in names or shapes")
    for name in modules:
        if not any(_under(k, name) for k in last):
            tops = sorted({k.split(".")[0] for k in last})
            raise WsshmError(f"--module {name}: no tensor of these models is under {name!r} (the top-level modules "
                             f"are {', '.join(tops)})")

    def mean(k):
        own = max((m for m in modules if _under(k, m)), key=len, default=None)
        ws = modules[own] if own is not None else weights
        total = sum(ws)
        return sum(w / total * s[k].float() for w, s in zip(ws, states)).to(last[k].dtype)

    return {k: mean(k) if last[k].is_floating_point() else last[k].clone() for k in last}


def _under(key: str, module: str) -> bool:
    return key == module or key.startswith(module + ".")


def check_weights(weights: list[float] | None, n: int, flag: str = "--weights") -> list[float]:
    if n < 2:
        raise WsshmError("give two or more models to average")
    weights = [1.0] * n if weights is None else [float(w) for w in weights]
    if len(weights) != n or any(w < 0 for w in weights) or sum(weights) <= 0:
        raise WsshmError(f"{flag} takes {n} non-negative numbers, one a model, not {weights}")
    return weights


def parse_modules(items: list[str] | None) -> dict[str, list[float]] | None:
    """['decoder=1,1', 'head=3,1'] -> {'decoder': [1.0, 1.0], 'head': [3.0, 1.0]}; None or [] -> None."""
    if not items:
        return None
    out = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name.strip():
            raise WsshmError(f"--module takes NAME=W,W (e.g. decoder=1,1), not {item!r}")
        try:
            out[name.strip()] = [float(x) for x in text.split(",")]
        except ValueError:
            raise WsshmError(f"--module {name.strip()}: give comma-separated numbers after '=', not {text!r}") from None
    return out


def parse_weights(text: str | None) -> list[float] | None:
    """'3,1' -> [3.0, 1.0]; None or '' -> None (equal weights)."""
    if not text:
        return None
    try:
        return [float(x) for x in text.split(",")]
    except ValueError:
        raise WsshmError(f"--weights takes comma-separated numbers (e.g. 3,1), not {text!r}") from None


def average_weights(models: list, out, weights: list[float] | None = None,
                    modules: dict[str, list[float]] | None = None) -> Path:
    """Average the weights files ``models`` (.safetensors, run folders' last/best, or bundle .onnx files) into
    ``out``: a .safetensors file, or an .onnx with BatchNorm kept and weights in fp16, as the bundle is written.
    ``modules``: weights of their own for some modules (see the module docstring)."""
    out = Path(out)
    if out.suffix.lower() not in (".safetensors", ".onnx"):
        raise WsshmError(f"-o {out}: give a .safetensors or .onnx file name")
    check_weights(weights, len(models))
    for m in models:  # writing over an input would lose it: the mean is a new file
        if out.exists() and resolve_weights_path(m).resolve() == out.resolve():
            raise WsshmError(f"-o {out} is one of the models to average; write the mean to a new file")
    for name, ws in (modules or {}).items():
        check_weights(ws, len(models), f"--module {name}")
    loaded = [load_weights(m) for m in models]
    archs = {meta.get("architecture") for _, meta in loaded}
    if len(archs) != 1:
        raise WsshmError(f"these models are of different architectures ({', '.join(sorted(map(str, archs)))}) "
                         "and cannot be averaged")
    state = average_states([s for s, _ in loaded], weights, modules)
    meta = dict(loaded[-1][1], note="weights averaged from " + ", ".join(
        f"{m} ({w:g})" for m, w in zip(models, weights or [1] * len(models))) + "".join(
        f"; {name}: {','.join(f'{w:g}' for w in ws)}" for name, ws in (modules or {}).items()))
    if out.suffix.lower() == ".safetensors":
        return save_weights(state, out, meta)
    from ..export.onnx import export_onnx
    from ..models import create_model

    model = create_model(meta["architecture"])
    model.load_state_dict({k: v.half() if v.is_floating_point() else v for k, v in state.items()})
    return export_onnx(model, out, meta, fp16_weights=True, keep_bn=True)
