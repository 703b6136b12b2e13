"""ONNX Runtime engine. device="auto" takes TensorRT EP > CUDA EP > CPU, whichever is installed and works."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import WsshmError

_GPU_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")


class OrtEngine:
    name = "onnxruntime"

    def __init__(self, path: Path, device: str = "auto", threads: int | None = None, tensorrt_ep: bool = True):
        import onnxruntime as ort

        opts = session_options(ort, threads)
        providers = _providers(ort.get_available_providers(), device, tensorrt_ep)
        try:
            self.session = ort.InferenceSession(str(path), opts, providers=providers)
        except Exception as exc:
            raise WsshmError(f"{path} is not a loadable ONNX model ({_first_line(exc)})") from None
        self.provider = self.session.get_providers()[0]
        if device == "cuda" and self.provider == "CPUExecutionProvider":
            raise WsshmError("device='cuda' was asked for but ONNX Runtime has no working GPU provider; "
                             "install it with: pip install 'wsshm-rt[gpu]'")
        self.device = "cpu" if self.provider == "CPUExecutionProvider" else "cuda"
        self.detail = self.provider
        self.metadata = dict(self.session.get_modelmeta().custom_metadata_map)
        self.input_name, self.output_index = _check_io(self.session, path)
        self.one_at_a_time = self.session.get_inputs()[0].shape[0] == 1  # exported with batch size fixed at 1
        self.path = path

    def run(self, batch: np.ndarray) -> np.ndarray:
        # InferenceSession.run is thread-safe: one session serves every caller.
        if self.one_at_a_time and len(batch) > 1:
            return np.concatenate([self.run(batch[i:i + 1]) for i in range(len(batch))])
        alpha = self.session.run(None, {self.input_name: batch})[self.output_index]
        # Checked on every call: a model whose output is smaller than its input would otherwise be
        # cropped and stretched into a wrong matte without a word.
        if alpha.shape != (batch.shape[0], 1, *batch.shape[2:]):
            raise WsshmError(f"{self.path} is not a wsshm-rt matting model: for an input of "
                             f"Shape{tuple(batch.shape)} it returns Shape{tuple(alpha.shape)}, not "
                             f"Shape({batch.shape[0]}, 1, {batch.shape[2]}, {batch.shape[3]})")
        return alpha


def session_options(ort, threads: int | None = None):
    """Every graph optimisation; ``threads`` intra-op threads (None: ONNX Runtime's default, one per core).

    The intra-op threads do not spin-wait between operators: spinning kept both cores of a 2-core CPU busy after each
    operator, so whatever ran beside (video decode and encode, compositing, another session, another program) lost
    them; without it the bundled model ran 1.3x faster in fp32 and 1.7x in int8 at 512x512 on this project's shared
    2-core CPU (docs/model-card.md, Speed)."""
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if threads:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    return opts


def _providers(available: list[str], device: str, tensorrt_ep: bool) -> list[str]:
    if device == "cpu":
        return ["CPUExecutionProvider"]
    gpu = [p for p in _GPU_PROVIDERS if p in available and (tensorrt_ep or p != "TensorrtExecutionProvider")]
    if device == "cuda" and not gpu:
        raise WsshmError("device='cuda' was asked for but this onnxruntime has no GPU provider; "
                         "install it with: pip install 'wsshm-rt[gpu]'")
    return gpu + ["CPUExecutionProvider"]


def onnx_io(path: Path) -> tuple[str, int, dict]:
    """(input name, alpha output index, metadata) of a wsshm-rt ONNX model, checked as OrtEngine checks it; for
    engines that read the file themselves (OpenVINO). Loaded without graph optimisation: nothing is run."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    try:
        session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise WsshmError(f"{path} is not a loadable ONNX model ({_first_line(exc)})") from None
    return (*_check_io(session, path), dict(session.get_modelmeta().custom_metadata_map))


def _check_io(session, path: Path) -> tuple[str, int]:
    """Refuse, at load time, a model that cannot take our float Shape(N, 3, H, W) of any size."""
    inputs, outputs = session.get_inputs(), session.get_outputs()
    shape = inputs[0].shape if len(inputs) == 1 else None
    if shape is None or len(shape) != 4 or shape[1] not in (3, "3") or inputs[0].type != "tensor(float)":
        got = ", ".join(f"{i.name}{i.shape} {i.type}" for i in inputs)
        raise WsshmError(f"{path} is not a wsshm-rt matting model: it must take one float image input "
                         f"Shape(N, 3, H, W), but takes {got}")
    batch, height, width = (d if isinstance(d, int) else None for d in (shape[0], shape[2], shape[3]))
    if height or width or batch not in (None, 1):
        # Images are resized by their shorter side and padded to /32, so the height and width vary.
        raise WsshmError(f"{path} takes a fixed input Shape{tuple(shape)}; wsshm-rt needs a model with dynamic "
                         "height and width (and batch), as written by `wsshm-rt export`")
    names = [o.name for o in outputs]
    index = names.index("alpha") if "alpha" in names else 0
    out_shape = outputs[index].shape
    if len(out_shape) != 4 or isinstance(out_shape[1], int) and out_shape[1] != 1:
        raise WsshmError(f"{path} is not a wsshm-rt matting model: it has no 'alpha' output Shape(N, 1, H, W)")
    return inputs[0].name, index


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else exc.__class__.__name__
