"""ONNX export: dynamic batch/height/width, opset >= 17, BatchNorm folded (or kept: the bundle), one file,
outputs named.

The metadata (architecture, normalisation, version) travels inside the ONNX file, so the runtime needs
nothing but the file.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

from ..errors import WsshmError, require
from ..files import make_folder, write_atomic

INPUT_NAME = "image"
OUTPUT_NAMES = ("alpha", "boundary")
DEFAULT_OPSET = 17


def export_onnx(model, path, metadata: dict[str, str] | None = None, opset: int = DEFAULT_OPSET,
                sample_hw: tuple[int, int] = (512, 512), fp16_weights: bool = False, keep_bn: bool = False) -> Path:
    """Export a MattingNet to ``path`` (written atomically) and return the path.

    fp16_weights: store the weights in fp16 (half the file; see ``store_weights_fp16``); it still computes in fp32.
    keep_bn: keep BatchNorm as its own nodes, every initializer named after its state-dict tensor, so the file's
    weights can be read back for fine-tuning (``onnx_weights``; the bundled model). ONNX Runtime folds the
    BatchNorms into the convolutions when it loads the file: same speed.
    """
    torch = require("torch", "train")
    onnx = require("onnx", "train")
    if opset < 17:
        raise WsshmError(f"opset {opset} is too old; use 17 or newer")
    path = Path(path)
    was_training = model.training
    model.eval()  # eval mode: the exporter folds every BatchNorm into the preceding Conv (unless PRESERVE)
    dyn = {0: "batch", 2: "height", 3: "width"}
    buf = io.BytesIO()  # built in memory: the only file write is the atomic one at the end
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(model, (torch.zeros(1, 3, *sample_hw),), buf, input_names=[INPUT_NAME],
                              output_names=list(OUTPUT_NAMES), opset_version=opset, do_constant_folding=True,
                              dynamic_axes={n: dyn for n in (INPUT_NAME, *OUTPUT_NAMES)}, dynamo=False,
                              training=torch.onnx.TrainingMode.PRESERVE if keep_bn else torch.onnx.TrainingMode.EVAL)
    finally:
        model.train(was_training)
    proto = onnx.load_from_string(buf.getvalue())
    if not keep_bn:
        _check_folded(proto)
    if fp16_weights:
        store_weights_fp16(proto)
    for k, v in (metadata or {}).items():
        proto.metadata_props.add(key=k, value=str(v))
    write_atomic(make_folder(path.parent) / path.name, proto.SerializeToString())
    return path


def store_weights_fp16(proto, min_elements: int = 64) -> None:
    """Store every fp32 initializer of ``min_elements`` or more in fp16, followed by a Cast back to fp32.

    The file halves; ONNX Runtime and TensorRT fold the casts into constants when they load the model, so inference
    still runs in fp32 at fp32 speed, on weights rounded to fp16 (as in the bundled safetensors).
    """
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    initializers, casts = [], []
    for init in proto.graph.initializer:
        if init.data_type == TensorProto.FLOAT and int(np.prod(init.dims)) >= min_elements:
            half = numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float16), f"{init.name}.fp16")
            initializers.append(half)
            casts.append(helper.make_node("Cast", [half.name], [init.name], name=f"{init.name}.cast",
                                          to=TensorProto.FLOAT))
        else:
            initializers.append(init)
    nodes = casts + list(proto.graph.node)
    del proto.graph.initializer[:], proto.graph.node[:]
    proto.graph.initializer.extend(initializers)
    proto.graph.node.extend(nodes)


def _check_folded(proto) -> None:
    left = [n.name for n in proto.graph.node if n.op_type == "BatchNormalization"]
    if left:
        raise RuntimeError(f"BatchNorm was not folded into convolutions: {left[:3]}")


def export_weights(weights, path, opset: int = DEFAULT_OPSET) -> Path:
    """Export a wsshm-rt weights file (.safetensors, or an ONNX with BatchNorm kept) to ONNX, carrying its
    metadata over."""
    from ..models import create_model
    from ..weights import load_weights

    state, meta = load_weights(weights)
    model = create_model(meta["architecture"])
    model.load_state_dict(state)
    return export_onnx(model, path, meta, opset)
