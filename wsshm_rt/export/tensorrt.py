"""TensorRT engines from our ONNX files, with the TensorRT 10 Python API (needs the `tensorrt` extra and a GPU).

- ONNX parser -> network; fp16 and/or int8 (IInt8EntropyCalibrator2 over a folder of images);
- one optimisation profile for the dynamic input: min/opt/max of (batch, 3, height, width);
- an engine cache keyed by the ONNX file's hash, the GPU name, the TensorRT version, precision and profile:
  an engine only runs on the GPU model and TensorRT version that built it, so the key must name both;
- a sidecar ``<engine>.json`` carries the ONNX metadata (architecture, mean, std) that ``.engine`` files lack;
- ``check_parity``: the engine against ONNX Runtime on the same input.

Unverified on a GPU in this repository's CI (no GPU there); the pure parts (cache key, shapes) are tested.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import WsshmError, require
from ..files import file_sha256

Shape = tuple[int, int, int, int]


@dataclass(frozen=True)
class ShapeProfile:
    """The (N, 3, H, W) range the engine accepts; TensorRT tunes its kernels for ``opt``."""

    min: Shape = (1, 3, 64, 64)
    opt: Shape = (1, 3, 512, 512)
    max: Shape = (8, 3, 1024, 1024)

    def __post_init__(self):
        for name in ("min", "opt", "max"):
            s = getattr(self, name)
            if len(s) != 4 or s[1] != 3 or min(s) < 1:
                raise WsshmError(f"profile {name} shape must be (N, 3, H, W), not {s}")
        if not all(a <= b <= c for a, b, c in zip(self.min, self.opt, self.max)):
            raise WsshmError(f"profile shapes must satisfy min <= opt <= max, got {self.min} {self.opt} {self.max}")

    def describe(self) -> str:
        return "_".join("x".join(map(str, s)) for s in (self.min, self.opt, self.max))


def parse_shape(text: str) -> Shape:
    """'1x3x512x512' -> (1, 3, 512, 512)."""
    try:
        shape = tuple(int(v) for v in text.lower().split("x"))
    except ValueError:
        shape = ()
    if len(shape) != 4:
        raise WsshmError(f"a shape is written NxCxHxW, e.g. 1x3x512x512, not {text!r}")
    return shape  # type: ignore[return-value]


def engine_cache_key(onnx_sha256: str, gpu_name: str, trt_version: str, fp16: bool = False, int8: bool = False,
                     profile: ShapeProfile | None = None) -> str:
    """A file-name-safe key: '<onnx hash>-<gpu>-trt<version>-<precision>-<profile hash>'."""
    gpu = "".join(c if c.isalnum() else "-" for c in gpu_name).strip("-").lower() or "gpu"
    precision = "int8" if int8 else "fp16" if fp16 else "fp32"
    if int8 and fp16:
        precision = "int8-fp16"
    prof = hashlib.sha256((profile or ShapeProfile()).describe().encode()).hexdigest()[:8]
    return f"{onnx_sha256[:16]}-{gpu}-trt{trt_version}-{precision}-{prof}"


def default_cache_dir() -> Path:
    base = os.environ.get("WSSHM_RT_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "wsshm-rt")
    return Path(base) / "tensorrt"


def build_engine(onnx_path: Path, out: Path, fp16: bool = False, int8: bool = False, calibration=None,
                 profile: ShapeProfile | None = None, cache_dir: Path | None = None, use_cache: bool = True,
                 workspace_gib: float = 4.0) -> Path:
    """Build (or fetch from the cache) a serialized TensorRT engine for ``onnx_path``; write it to ``out``."""
    trt = require("tensorrt", "tensorrt")
    onnx_path, out = Path(onnx_path), Path(out)
    if not onnx_path.is_file():
        raise WsshmError(f"{onnx_path} does not exist")
    if int8 and calibration is None:
        raise WsshmError("an int8 TensorRT engine needs --calibration, a folder of representative images")
    profile = profile or ShapeProfile()
    key = engine_cache_key(file_sha256(onnx_path), gpu_name(), trt.__version__, fp16, int8, profile)
    cached = (cache_dir or default_cache_dir()) / f"{key}.engine"
    if not (use_cache and cached.is_file()):
        data = _build(trt, onnx_path, fp16, int8, calibration, profile, workspace_gib, cached)
        if use_cache:
            _write_atomic(cached, data)
            _write_sidecar(cached, onnx_path, key, fp16, int8, profile)
    else:
        data = cached.read_bytes()
    _write_atomic(out, data)
    _write_sidecar(out, onnx_path, key, fp16, int8, profile)
    return out


def gpu_name() -> str:
    """The CUDA device's name (the cache key needs it); torch is the simplest way to ask."""
    torch = require("torch", "train")
    if not torch.cuda.is_available():
        raise WsshmError("TensorRT needs an NVIDIA GPU, and torch sees no CUDA device")
    return torch.cuda.get_device_name()


def _build(trt, onnx_path: Path, fp16: bool, int8: bool, calibration, profile: ShapeProfile,
           workspace_gib: float, cached: Path) -> bytes:
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # TensorRT 10: explicit batch is the only mode
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise WsshmError(f"TensorRT could not parse {onnx_path}: {errors[:300]}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gib * (1 << 30)))
    opt_profile = builder.create_optimization_profile()
    opt_profile.set_shape(network.get_input(0).name, profile.min, profile.opt, profile.max)
    config.add_optimization_profile(opt_profile)
    if fp16:
        config.set_flag(trt.BuilderFlag.FP16)
    if int8:
        config.set_flag(trt.BuilderFlag.INT8)
        side = profile.opt[2]  # calibrate on square crops at the optimised height, one image per batch
        cal_profile = builder.create_optimization_profile()
        cal_profile.set_shape(network.get_input(0).name, *[(1, 3, side, side)] * 3)
        config.set_calibration_profile(cal_profile)
        config.int8_calibrator = make_calibrator(trt, calibration, onnx_path, side, cached.with_suffix(".calib"))
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise WsshmError(f"TensorRT failed to build an engine from {onnx_path} (see the TensorRT log above)")
    return bytes(serialized)


def make_calibrator(trt, folder, onnx_path: Path, side: int, cache_file: Path):
    """An IInt8EntropyCalibrator2 feeding images prepared like ``preprocess.prepare``, cropped side x side."""
    torch = require("torch", "train")
    from .quantize import ImageCalibrationReader

    reader = ImageCalibrationReader(folder, onnx_path, size=side)

    class Calibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self):
            trt.IInt8EntropyCalibrator2.__init__(self)
            self.buf = torch.empty((1, 3, side, side), device="cuda")

        def get_batch_size(self):
            return 1

        def get_batch(self, names):
            item = reader.get_next()
            if item is None:
                return None
            self.buf.copy_(torch.from_numpy(next(iter(item.values()))))
            return [int(self.buf.data_ptr())]

        def read_calibration_cache(self):
            return cache_file.read_bytes() if cache_file.is_file() else None

        def write_calibration_cache(self, cache):
            _write_atomic(cache_file, bytes(cache))

    return Calibrator()


def _write_sidecar(engine_path: Path, onnx_path: Path, key: str, fp16: bool, int8: bool,
                   profile: ShapeProfile) -> None:
    import onnx

    proto = onnx.load(str(onnx_path), load_external_data=False)
    meta = {p.key: p.value for p in proto.metadata_props}
    meta.update(tensorrt_cache_key=key, tensorrt_precision="int8" if int8 else "fp16" if fp16 else "fp32",
                tensorrt_profile=profile.describe())
    _write_atomic(sidecar_path(engine_path), json.dumps(meta, indent=2).encode())


def sidecar_path(engine_path: Path) -> Path:
    return Path(engine_path).with_name(Path(engine_path).name + ".json")


def _write_atomic(path: Path, data: bytes) -> None:
    from ..files import make_folder, write_atomic

    write_atomic(make_folder(path.parent) / path.name, data)


def check_parity(engine_path: Path, onnx_path: Path, shape: Shape = (1, 3, 512, 512), seed: int = 0) -> dict:
    """Max and mean absolute alpha difference between the TensorRT engine and ONNX Runtime (CPU)."""
    import numpy as np

    from ..engines.onnxruntime import OrtEngine
    from ..engines.tensorrt import TrtEngine

    x = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    ref = OrtEngine(Path(onnx_path), "cpu").run(x)
    got = TrtEngine(Path(engine_path), "cuda").run(x)
    diff = np.abs(got - ref)
    return {"shape": list(shape), "max_abs": float(diff.max()), "mean_abs": float(diff.mean())}

