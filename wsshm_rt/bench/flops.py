"""Parameters and FLOPs of a model, split by part (encoder / ASPP / decoder), counted with forward hooks; and the
FLOPs of any ONNX file, counted from its graph.

FLOPs = 2 x multiply-accumulates of every Conv2d and Linear (bias adds, BatchNorm, ReLU, resize and
concatenation are left out: they are a few percent at most and no paper counts them the same way).
"""

from __future__ import annotations

# MattingNet's top-level children -> the part they are reported under (refine and head count as decoder).
PARTS = {"encoder": "encoder", "aspp": "aspp", "decoder": "decoder", "refine": "decoder", "head": "decoder"}


def conv_flops(module, out) -> int:
    """2 x MACs of one Conv2d or Linear call that produced ``out``."""
    from torch import nn

    if isinstance(module, nn.Conv2d):
        k = module.in_channels // module.groups * module.kernel_size[0] * module.kernel_size[1]
        return 2 * out.numel() * k
    return 2 * out.numel() * module.in_features  # nn.Linear


def count_flops(model, x, parts: dict[str, str] | None = None) -> dict[str, int]:
    """FLOPs of ``model(x)`` per part; ``parts`` maps top-level child names to part names (default: each
    child is its own part). Returns {part: flops, ..., "total": flops}."""
    import torch
    from torch import nn

    counts: dict[str, int] = {}
    handles = []
    for child_name, child in model.named_children():
        part = (parts or {}).get(child_name, child_name)
        counts.setdefault(part, 0)
        for m in child.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                handles.append(m.register_forward_hook(_adder(counts, part)))
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    counts["total"] = sum(counts.values())
    return counts


def _adder(counts: dict, part: str):
    def hook(module, _inputs, out):
        counts[part] += conv_flops(module, out)
    return hook


def count_params(model, parts: dict[str, str] | None = None) -> dict[str, int]:
    """Parameters per part (same grouping as count_flops), plus "total"."""
    counts: dict[str, int] = {}
    for child_name, child in model.named_children():
        part = (parts or {}).get(child_name, child_name)
        counts[part] = counts.get(part, 0) + sum(p.numel() for p in child.parameters())
    counts["total"] = sum(counts.values())
    return counts


def model_costs(arch: str, size: tuple[int, int] = (512, 512)) -> dict:
    """Params (millions) and GFLOPs at 1x3xHxW of a registered architecture, split encoder/ASPP/decoder."""
    import torch

    from ..models import create_model

    model = create_model(arch).eval()
    flops = count_flops(model, torch.zeros(1, 3, *size), PARTS)
    params = count_params(model, PARTS)
    return {"size": list(size), "params_m": {k: v / 1e6 for k, v in params.items()},
            "gflops": {k: v / 1e9 for k, v in flops.items()}}


# ONNX convolution ops -> the index of their weight input (QLinearConv: x, x_scale, x_zero_point, w, ...).
_ONNX_CONV_WEIGHT = {"Conv": 1, "ConvInteger": 1, "QLinearConv": 3}


def onnx_flops(path, input_shape) -> int:
    """2 x MACs of every convolution and matrix product of an ONNX model run at ``input_shape`` (counted from the
    graph with ONNX shape inference: for files without a torch model, such as a peer network)."""
    import numpy as np
    import onnx

    model = onnx.load(str(path))
    for dim, value in zip(model.graph.input[0].type.tensor_type.shape.dim, input_shape):
        dim.Clear()
        dim.dim_value = int(value)
    model = onnx.shape_inference.infer_shapes(model)
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in (*model.graph.value_info, *model.graph.output, *model.graph.input)}
    shapes.update({t.name: list(t.dims) for t in model.graph.initializer})
    total = 0
    for node in model.graph.node:
        out = shapes.get(node.output[0])
        if not out or not all(out):
            continue
        if node.op_type in _ONNX_CONV_WEIGHT:
            weight = shapes.get(node.input[_ONNX_CONV_WEIGHT[node.op_type]])
            if weight:  # Shape(Cout, Cin / groups, kh, kw): each output sums over the last three
                total += 2 * int(np.prod(out)) * int(np.prod(weight[1:]))
        elif node.op_type in ("MatMul", "Gemm", "MatMulInteger"):
            a = shapes.get(node.input[0])
            transposed = node.op_type == "Gemm" and any(at.name == "transA" and at.i for at in node.attribute)
            if a:
                total += 2 * int(np.prod(out)) * (a[-2] if transposed else a[-1])
    return total
