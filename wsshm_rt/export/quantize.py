"""CPU int8: ONNX Runtime static quantisation of an exported fp32 model, calibrated on a folder of images.

Defaults (chosen by `python -m wsshm_rt.bench.quant_report` on a 2-core AVX-512-VNNI CPU, see the report):
QDQ format, per-channel int8 weights, uint8 activations, MinMax calibration, and the full-resolution
``refine``/``head`` convolutions left in fp32 — they see the raw image and decide the fine alpha edge, and at
full resolution with 8/3 channels they gain little from int8 anyway.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import WsshmError, require
from ..images import write_atomic

# Nodes kept in fp32 when QuantOptions.exclude_head is set: the exporter names them after the module path.
HEAD_PREFIXES = ("/refine/", "/head/")


@dataclass(frozen=True)
class QuantOptions:
    size: int | None = None         # calibration images: short side -> size, then centre crop size x size;
                                    # None: the model's recommended inference size (metadata), else 512
    max_images: int = 32            # calibration images read from the folder (the first N, sorted)
    quant_format: str = "qdq"       # "qdq" | "qoperator"
    per_channel: bool = True        # one weight scale per output channel
    reduce_range: bool = False      # 7-bit weights: only helps on CPUs without VNNI
    activations: str = "uint8"      # "uint8" | "int8"
    exclude_head: bool = True       # keep refine/head convolutions in fp32
    calibrate_method: str = "minmax"  # "minmax" | "entropy" | "percentile"
    pre_process: bool = True        # onnxruntime's quant_pre_process (shape inference + graph fusion) first


def quantize_int8(fp32_onnx: Path, out: Path, calibration_dir, options: QuantOptions | None = None) -> Path:
    """Quantise ``fp32_onnx`` to int8 into ``out`` (written atomically); metadata_props are carried over."""
    require("onnx", "train")
    from onnxruntime import quantization as q

    opts = options or QuantOptions()
    fp32_onnx, out = Path(fp32_onnx), Path(out)
    reader = ImageCalibrationReader(calibration_dir, fp32_onnx, opts.size, opts.max_images)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        src = _pre_process(fp32_onnx, Path(tmp) / "pre.onnx") if opts.pre_process else fp32_onnx
        tmp_out = Path(tmp) / "int8.onnx"
        q.quantize_static(str(src), str(tmp_out), reader, **_quant_kwargs(q, src, opts))
        _finish(fp32_onnx, tmp_out, out, opts)
    return out


def _quant_kwargs(q, model_path: Path, opts: QuantOptions) -> dict:
    fmt = {"qdq": q.QuantFormat.QDQ, "qoperator": q.QuantFormat.QOperator}
    act = {"uint8": q.QuantType.QUInt8, "int8": q.QuantType.QInt8}
    cal = {"minmax": q.CalibrationMethod.MinMax, "entropy": q.CalibrationMethod.Entropy,
           "percentile": q.CalibrationMethod.Percentile}
    for name, table, value in (("quant_format", fmt, opts.quant_format), ("activations", act, opts.activations),
                               ("calibrate_method", cal, opts.calibrate_method)):
        if value not in table:
            raise WsshmError(f"{name} must be one of {', '.join(table)}, not {value!r}")
    return dict(quant_format=fmt[opts.quant_format], per_channel=opts.per_channel,
                reduce_range=opts.reduce_range, activation_type=act[opts.activations],
                weight_type=q.QuantType.QInt8, calibrate_method=cal[opts.calibrate_method],
                nodes_to_exclude=head_nodes(model_path) if opts.exclude_head else None,
                # Symmetric int8 activations let MLAS take its s8s8 kernels; harmless for uint8.
                extra_options={"ActivationSymmetric": opts.activations == "int8"})


def head_nodes(model_path: Path) -> list[str]:
    """Names of the refine/head nodes (and everything after them) that stay in fp32."""
    import onnx

    graph = onnx.load(str(model_path), load_external_data=False).graph
    names = [n.name for n in graph.node]
    first = next((i for i, n in enumerate(names) if n.startswith(HEAD_PREFIXES)), len(names))
    return names[first:]


def _pre_process(src: Path, dst: Path) -> Path:
    """Shape inference + ORT graph optimisation before quantising; falls back to ``src`` if it fails."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    try:
        quant_pre_process(str(src), str(dst), skip_symbolic_shape=False)
        return dst
    except Exception:  # dynamic shapes can defeat symbolic inference; quantising the raw graph still works
        return src


def _finish(fp32_onnx: Path, tmp_out: Path, out: Path, opts: QuantOptions) -> None:
    """Copy the fp32 model's metadata_props into the int8 file, note how it was quantised, move it to ``out``."""
    import onnx

    meta = {p.key: p.value for p in onnx.load(str(fp32_onnx), load_external_data=False).metadata_props}
    meta["quantization"] = (f"int8 {opts.quant_format} per_channel={opts.per_channel} "
                            f"activations={opts.activations} exclude_head={opts.exclude_head}")
    proto = onnx.load(str(tmp_out))
    del proto.metadata_props[:]
    for k, v in meta.items():
        proto.metadata_props.add(key=k, value=v)
    write_atomic(out, proto.SerializeToString())


def calibration_batch(rgb: np.ndarray, size: int, mean, std) -> np.ndarray:
    """uint8 RGB Shape(H, W, 3) -> Shape(1, 3, size, size): ``preprocess.prepare`` then a centre crop."""
    from ..preprocess import prepare

    x, _ = prepare(rgb, short_side=size, multiple=32, mean=mean, std=std, max_long_side=None)
    h, w = x.shape[1:]
    top, left = (h - size) // 2, (w - size) // 2
    return np.ascontiguousarray(x[None, :, top:top + size, left:left + size])


class ImageCalibrationReader:
    """onnxruntime CalibrationDataReader over a folder of images, normalised with the model's own mean/std."""

    def __init__(self, folder, model_path: Path, size: int | None = None, max_images: int = 32):
        from ..images import list_images, load_image

        folder = Path(folder)
        if not folder.is_dir():
            raise WsshmError(f"--calibration {folder} is not a folder of images")
        self.files = list_images(folder)[:max_images]
        self.input_name, (self.mean, self.std), recommended = _model_input(model_path)
        self.size, self._load, self._it = size or recommended, load_image, None

    def get_next(self) -> dict | None:
        if self._it is None:
            self._it = iter(self.files)
        path = next(self._it, None)
        if path is None:
            return None
        return {self.input_name: calibration_batch(self._load(path), self.size, self.mean, self.std)}

    def rewind(self) -> None:
        self._it = None


def _model_input(model_path: Path):
    import onnx

    from ..weights import normalisation, recommended_short_side

    proto = onnx.load(str(model_path), load_external_data=False)
    meta = {p.key: p.value for p in proto.metadata_props}
    return proto.graph.input[0].name, normalisation(meta), recommended_short_side(meta)
