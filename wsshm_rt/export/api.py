"""One entry point for every export format, used by ``wsshm-rt export``."""

from __future__ import annotations

import tempfile
from pathlib import Path

from ..errors import WsshmError, WsshmValueError, check_choice, check_int, require
from ..files import ensure_writable
from ..weights import check_short_side

SUFFIXES = {"onnx": (".onnx",), "tensorrt": (".engine", ".plan")}  # the output file's suffixes for each format
FORMAT_NAMES = {"onnx": "an ONNX file", "tensorrt": "a TensorRT engine"}


def export_model(out, weights=None, model: str | None = None, fmt: str = "onnx", opset: int = 17,
                 fp16: bool = False, quantize: str | None = None, calibration=None,
                 short_side: int | None = None, skipped: dict | None = None) -> Path:
    """Export ``weights`` (or an untrained ``model`` architecture) to ONNX, int8 ONNX or a TensorRT engine.

    ``short_side``: the inference size to recommend in the file's metadata (what ``Matter`` uses by default);
    None keeps the weights' own recommendation, if they carry one. ``out`` must end in .onnx (.engine for
    TensorRT). An unreadable calibration image is reported and skipped; ``skipped``, if given, receives each
    (path -> reason).
    """
    out = Path(out)
    check_choice("--format", fmt, SUFFIXES)
    check_opset(opset)
    if short_side is not None:
        check_short_side(short_side, "--short-side")
    if weights is None and model is None:
        raise WsshmError("give --weights (a trained .safetensors) or --model (an architecture name)")
    if quantize not in (None, "int8"):
        raise WsshmError(f"--quantize takes 'int8', not {quantize!r}")
    if quantize and fmt != "onnx":
        raise WsshmError("--quantize int8 produces an ONNX file; it cannot be combined with --format tensorrt")
    # Calibration is checked before the export, which takes a while: a wrong flag fails at once.
    if quantize and calibration is None:
        raise WsshmError("--quantize int8 needs --calibration, a folder of representative images")
    if quantize and not Path(calibration).is_dir():
        raise WsshmError(f"--calibration {calibration} is not a folder of images")
    # The output too: the exporters would otherwise fail with a traceback after the model is built.
    suffix = SUFFIXES[fmt][0]
    if out.is_dir():
        raise WsshmError(f"{out} is a folder; give the output file name, e.g. {out / ('model' + suffix)}")
    if out.suffix.lower() not in SUFFIXES[fmt]:
        what = "--quantize int8" if quantize else "--format tensorrt" if fmt == "tensorrt" else "the export"
        example = out.with_suffix(suffix) if out.suffix else out.with_name(out.name + suffix)
        raise WsshmValueError(f"-o {out} must end in {suffix} ({what} writes {FORMAT_NAMES[fmt]}), e.g. {example}")
    ensure_writable(out.parent)
    if fmt == "onnx" and not quantize:
        return export_onnx_file(out, weights, model, opset, short_side)
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = export_onnx_file(Path(tmp) / "fp32.onnx", weights, model, opset, short_side)
        if quantize:
            from .quantize import quantize_int8

            return quantize_int8(fp32, out, calibration, skipped=skipped)
        from .tensorrt import build_engine

        return build_engine(fp32, out, fp16=fp16)


def export_onnx_file(out: Path, weights=None, model: str | None = None, opset: int = 17,
                     short_side: int | None = None) -> Path:
    require("torch", "train")
    from ..models import create_model
    from ..models.loading import load_model
    from ..preprocess import IMAGENET_MEAN, IMAGENET_STD
    from ..weights import make_metadata
    from .onnx import export_onnx

    if weights is not None:
        net, meta = load_model(weights)
        if model and model != meta.get("architecture"):
            raise WsshmError(f"--model {model} does not match the weights, which are {meta.get('architecture')}")
    else:
        import torch

        torch.manual_seed(0)
        net = create_model(model)
        meta = make_metadata(model, IMAGENET_MEAN, IMAGENET_STD, trained="false")
    if short_side is not None:
        meta = dict(meta, short_side=str(short_side))
    return export_onnx(net, out, meta, opset)


MIN_OPSET = 17


def check_opset(opset) -> int:
    """An ONNX opset the exporter writes (17 up to torch's TorchScript exporter's newest), else one sentence."""
    torch = require("torch", "train")
    newest = getattr(torch.onnx._constants, "ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET", 20)
    value = check_int("--opset", opset, 0)
    if not MIN_OPSET <= value <= newest:
        raise WsshmValueError(f"--opset {value} is not supported; the exporter writes opsets {MIN_OPSET} to {newest}")
    return value
