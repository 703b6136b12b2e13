"""CPU int8: ONNX Runtime static quantisation of an exported fp32 model, calibrated on a folder of images.

Defaults (chosen on this project's 2-core Sapphire Rapids CPU with the bundled model, alpha MSE against fp32 on 24
held-out photos; docs/model-card.md, Speed): QDQ format (ONNX Runtime fuses it to QLinearConv, OpenVINO runs it in
int8 too), per-channel int8 weights, uint8 activations, ranges from the 99.999th percentile of each activation's
histogram over calibration crops at the model's inference size and at 1.6x it (MinMax ranges, stretched by rare
outliers, gave 1.5e-3 where these give 0.8e-3), and every layer in int8, the full-resolution ``refine`` and ``head``
convolutions too: keeping them in fp32 (``exclude_head``) changed the MSE by less than 1e-5 and ran 1.1x slower.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import WsshmError, require
from ..files import write_atomic

# Nodes kept in fp32 when QuantOptions.exclude_head is set: the exporter names them after the module path.
HEAD_PREFIXES = ("/refine/", "/head/")


@dataclass(frozen=True)
class QuantOptions:
    size: int | None = None         # calibration images: short side -> size, then centre crop size x size;
                                    # None: the model's recommended inference size (metadata), else 512
    larger: float | None = 1.6      # also calibrate at this times ``size`` (flip+scale TTA's larger pass, the
                                    # bench's 512 for a 320 model); None: at ``size`` only
    max_images: int = 32            # calibration images read from the folder (the first N, sorted), per size
    quant_format: str = "qdq"       # "qdq" | "qoperator"
    per_channel: bool = True        # one weight scale per output channel
    reduce_range: bool = False      # 7-bit weights: only helps on CPUs without VNNI
    activations: str = "uint8"      # "uint8" | "int8"
    exclude_head: bool = False      # keep the full-resolution tail (last resize, concat, refine, head) in fp32
    calibrate_method: str = "percentile"  # "minmax" | "entropy" | "percentile"
    pre_process: bool = True        # onnxruntime's quant_pre_process (shape inference + graph fusion) first


def quantize_int8(fp32_onnx: Path, out: Path, calibration_dir, options: QuantOptions | None = None,
                  skipped: dict | None = None) -> Path:
    """Quantise ``fp32_onnx`` to int8 into ``out`` (written atomically); metadata_props are carried over.

    A calibration image that cannot be read is reported and skipped; ``skipped``, if given, receives each
    (path -> reason).
    """
    require("onnx", "train")
    from onnxruntime import quantization as q

    opts = options or QuantOptions()
    fp32_onnx, out = Path(fp32_onnx), Path(out)
    reader = ImageCalibrationReader(calibration_dir, fp32_onnx, opts.size, opts.max_images, opts.larger)
    if skipped is not None:
        skipped.update(reader.skipped)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        src = _pre_process(fp32_onnx, Path(tmp) / "pre.onnx") if opts.pre_process else fp32_onnx
        tmp_out = Path(tmp) / "int8.onnx"
        q.quantize_static(str(src), str(tmp_out), reader, **_quant_kwargs(q, src, opts, reader.per_size))
        _finish(fp32_onnx, tmp_out, out, opts)
    return out


def _quant_kwargs(q, model_path: Path, opts: QuantOptions, per_size: int) -> dict:
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
                # Symmetric int8 activations let MLAS take its s8s8 kernels; harmless for uint8. Calibration runs
                # a few images of one size at a time: a histogram of every activation of 64 images at once would
                # need ~20 GB (the option's name notwithstanding, every calibration method takes it).
                extra_options={"ActivationSymmetric": opts.activations == "int8",
                               "CalibStridedMinMax": _stride(per_size)})


def _stride(n: int, most: int = 8) -> int:
    """The largest chunk of at most ``most`` images that divides ``n``: ONNX Runtime needs whole chunks, and a
    chunk must not mix sizes (``n`` is the number of images per size)."""
    return next(k for k in range(min(most, n), 0, -1) if n % k == 0)


def head_nodes(model_path: Path) -> list[str]:
    """Names of the nodes that stay in fp32: refine/head and everything after them, and the nodes that make the
    refine convolution's input (the concat with the image, the resize to full resolution before it)."""
    import onnx

    graph = onnx.load(str(model_path), load_external_data=False).graph
    names = [n.name for n in graph.node]
    first = next((i for i, n in enumerate(names) if n.startswith(HEAD_PREFIXES)), len(names))
    made_by = {out: n for n in graph.node for out in n.output}
    tail, feeds = [], list(graph.node[first].input) if first < len(names) else []
    for node in (made_by.get(name) for name in feeds):
        if node is not None and node.op_type in ("Concat", "Resize") and node.name not in tail:
            tail.append(node.name)
            feeds += list(node.input)
    return [n for n in names if n in tail] + names[first:]


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
    """onnxruntime CalibrationDataReader over a folder of images, normalised with the model's own mean/std: each image
    at ``size`` and, with ``larger``, at ``larger`` x ``size`` (rounded to 32). ``set_range`` and ``len`` let ONNX
    Runtime calibrate a chunk at a time.

    The first ``max_images`` readable images are used: one that cannot be read is reported (one line) and skipped,
    as ``predict`` does, and listed in ``skipped`` (path -> reason); none readable is one sentence."""

    def __init__(self, folder, model_path: Path, size: int | None = None, max_images: int = 32,
                 larger: float | None = None):
        from ..images import load_image

        folder = Path(folder)
        if not folder.is_dir():
            raise WsshmError(f"--calibration {folder} is not a folder of images")
        self.skipped: dict[str, str] = {}
        files = self._readable(folder, max_images)
        self.input_name, (self.mean, self.std), recommended = _model_input(model_path)
        self.size = size or recommended
        sizes = [self.size] + ([32 * round(self.size * larger / 32)] if larger else [])
        self.items = [(path, s) for s in dict.fromkeys(sizes) for path in files]
        self.per_size = len(files)
        self._load, self._pos, self._end = load_image, 0, len(self.items)

    def _readable(self, folder: Path, max_images: int) -> list[Path]:
        """The first ``max_images`` images of ``folder`` that decode (each is read again when its turn comes: holding
        them all would take a photo's memory 32 times over)."""
        from ..files import list_images
        from ..images import load_image
        from ..predict import report_skipped

        found, files = list_images(folder), []
        for path in found:
            if len(files) == max_images:
                break
            try:
                load_image(path)
            except Exception as exc:  # noqa: BLE001 - any reading failure is this file's: skip it, use the rest
                report_skipped(path, exc, self.skipped)
                continue
            files.append(path)
        if not files:
            raise WsshmError(f"none of the {len(found)} images in --calibration {folder} could be read")
        return files

    def __len__(self) -> int:
        return len(self.items)

    def get_next(self) -> dict | None:
        if self._pos >= self._end:
            return None
        path, size = self.items[self._pos]
        self._pos += 1
        return {self.input_name: calibration_batch(self._load(path), size, self.mean, self.std)}

    def set_range(self, start_index: int, end_index: int) -> None:
        self._pos, self._end = start_index, min(end_index, len(self.items))

    def rewind(self) -> None:
        self._pos, self._end = 0, len(self.items)


def _model_input(model_path: Path):
    import onnx

    from ..weights import normalisation, recommended_short_side

    proto = onnx.load(str(model_path), load_external_data=False)
    meta = {p.key: p.value for p in proto.metadata_props}
    return proto.graph.input[0].name, normalisation(meta), recommended_short_side(meta)
