"""Model weights read back from an ONNX file's initializers, so one bundled file serves inference and fine-tuning.

An ONNX file written with BatchNorm kept (``export_onnx(..., keep_bn=True)``, as ``export.bundle`` writes the
bundled model) holds every tensor of the torch state dict as an initializer named after it: ``name``, or
``name.fp16`` where it is stored in fp16 and cast back to fp32 in the graph. An inference export with BatchNorm folded
into the convolutions (``wsshm-rt export``) has lost the separate BatchNorm tensors, and is refused here.
Read with ``onnx.load`` (protobuf), never a pickle, and never with external data (no file but the one named is read).
"""

from __future__ import annotations

import re
from pathlib import Path

from .errors import WsshmError, require

FP16_SUFFIX = ".fp16"
_STATE_KEY = re.compile(r"^[A-Za-z_][\w.]*$")  # torch parameter names; the exporter's own are "onnx::Conv_12"


def load_onnx_proto(path):
    """The ModelProto of ``path``; WsshmError for a file that is not ONNX or keeps its tensors in other files."""
    onnx = require("onnx", "train")
    path = Path(path)
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf's DecodeError and friends: a wrong file, not a bug
        raise WsshmError(f"{path} is not a readable ONNX file ({exc.__class__.__name__})") from None
    if any(t.data_location == onnx.TensorProto.EXTERNAL for t in proto.graph.initializer):
        raise WsshmError(f"{path} keeps its weights in external data files; wsshm-rt reads one-file ONNX models")
    return proto


def onnx_metadata(proto, path) -> dict[str, str]:
    """The wsshm-rt metadata stored in the file's ``metadata_props``."""
    from .weights import FORMAT_KEY, check_model_metadata

    meta = {p.key: p.value for p in proto.metadata_props}
    if meta.get(FORMAT_KEY) is None:
        raise WsshmError(f"{path} is an ONNX file but not a wsshm-rt model (no '{FORMAT_KEY}' metadata)")
    check_model_metadata(meta, path)  # values the trainer and Matter use (short_side, mean, std, split)
    return meta


def onnx_state_dict(proto, path) -> dict:
    """The torch state dict (CPU tensors, fp16 where stored in fp16) held in the initializers of ``proto``."""
    torch = require("torch", "train")
    from onnx import numpy_helper

    state = {}
    for init in proto.graph.initializer:
        name = init.name.removesuffix(FP16_SUFFIX)
        if _STATE_KEY.match(name):
            state[name] = torch.from_numpy(numpy_helper.to_array(init).copy())
    for node in proto.graph.node:  # the exporter writes a tensor equal to another once, then an Identity of it
        if node.op_type == "Identity" and node.input[0] in state and _STATE_KEY.match(node.output[0]):
            state[node.output[0]] = state[node.input[0]].clone()
    if not any(k.endswith("running_var") for k in state):
        raise WsshmError(f"{path} is an inference export with BatchNorm folded into its convolutions, so its "
                         "training weights cannot be read back; pass the .safetensors it was exported from, or "
                         "an ONNX file written by `python -m wsshm_rt.export.bundle`")
    for key in [k for k in state if k.endswith(".running_mean")]:
        # Not in the graph (inference does not use it); torch reads it only for BatchNorm(momentum=None).
        state[key.removesuffix("running_mean") + "num_batches_tracked"] = torch.tensor(0)
    return state


def load_onnx_weights(path) -> tuple[dict, dict[str, str]]:
    """Return (state_dict, metadata) of a wsshm-rt ONNX file written with BatchNorm kept."""
    proto = load_onnx_proto(path)
    meta = onnx_metadata(proto, path)
    return onnx_state_dict(proto, path), meta


def read_onnx_metadata(path) -> dict[str, str]:
    return onnx_metadata(load_onnx_proto(path), path)
