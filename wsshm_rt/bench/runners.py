"""One loaded engine variant per Runner: ONNX Runtime, OpenVINO, TensorRT or PyTorch, for our models and peers.

A Runner gives ``model_only(batch) -> (fn, sync)``, the call to time, and ``run_numpy``, the Engine-style call the
end-to-end timing uses. A variant that cannot run here raises Skip with the reason.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import WsshmError
from .config import DEFAULT_TORCH_VARIANTS, GPU_ONLY, OPENVINO_VARIANTS, BenchConfig, ModelSpec, Skip, \
    parse_torch_variant


class Runner:
    first = False  # the first variant of its engine: the one timed end to end

    def model_only(self, batch: int):
        raise NotImplementedError

    def run_numpy(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError


def variants(engine: str, spec: ModelSpec, cfg: BenchConfig, tmp: Path):
    """(variant name, factory) pairs; a factory raises Skip when the variant cannot run here."""
    if engine == "onnxruntime":
        names = ["cpu"] if cfg.device == "cpu" else ["cuda-ep", "tensorrt-ep"]
        pairs = [(n, lambda n=n: OrtRunner(spec, n, cfg)) for n in names]
    elif engine == "openvino":
        pairs = [(n, lambda n=n: OpenVinoRunner(spec, n, cfg)) for n in OPENVINO_VARIANTS]
    elif engine == "tensorrt":
        pairs = [(n, lambda n=n: TrtRunner(spec, n, cfg, tmp)) for n in ("fp32", "fp16")]
    else:
        names = cfg.torch_variants or DEFAULT_TORCH_VARIANTS[cfg.device]
        pairs = [(n, lambda n=n: TorchRunner(spec, n, cfg)) for n in names]
    return [(n, _mark_first(f, i == 0)) for i, (n, f) in enumerate(pairs)]


def _mark_first(factory, first: bool):
    def make():
        runner = factory()
        runner.first = first
        return runner
    return make


def random_input(shape, dtype=np.float32) -> np.ndarray:
    return np.random.default_rng(0).standard_normal(shape).astype(dtype)


class OrtRunner(Runner):
    """Our models through OrtEngine (as Matter runs them); any other ONNX through a session with its options."""

    def __init__(self, spec: ModelSpec, variant: str, cfg: BenchConfig):
        import onnxruntime as ort

        want = {"cpu": "CPUExecutionProvider", "cuda-ep": "CUDAExecutionProvider",
                "tensorrt-ep": "TensorrtExecutionProvider"}[variant]
        if want not in ort.get_available_providers():
            raise Skip(f"this onnxruntime has no {want} (pip install 'wsshm-rt[gpu]' on a CUDA machine)")
        self.spec, self.size = spec, cfg.size
        if spec.matting and not spec.fixed:
            from ..engines.onnxruntime import OrtEngine

            try:
                self.engine = OrtEngine(spec.onnx, cfg.device, cfg.threads, tensorrt_ep=variant == "tensorrt-ep")
            except WsshmError as exc:
                raise Skip(str(exc)) from None
            session, self.run_numpy = self.engine.session, self.engine.run
        else:
            session = self.session = peer_session(ort, spec.onnx, want, cfg.threads)
        if session.get_providers()[0] != want:
            raise Skip(f"{want} did not load (ONNX Runtime fell back to {session.get_providers()[0]})")
        self.input_name = session.get_inputs()[0].name

    def model_only(self, batch: int):
        # Includes ONNX Runtime's own host<->device copies on GPU: numpy in, numpy out is its interface.
        x = random_input(self.spec.shape(batch, self.size))
        if hasattr(self, "engine"):
            return (lambda: self.engine.run(x)), None
        return (lambda: self.session.run(None, {self.input_name: x})), None


def peer_session(ort, path: Path, provider: str, threads: int):
    """A session with OrtEngine's options (engines.onnxruntime.session_options)."""
    from ..engines.onnxruntime import session_options

    return ort.InferenceSession(str(path), session_options(ort, threads),
                                providers=list(dict.fromkeys([provider, "CPUExecutionProvider"])))


class OpenVinoRunner(Runner):
    """OpenVINO on the CPU, fp32 or bf16 (an int8 QDQ file runs in int8 either way). Our models go through
    OpenVinoEngine (dynamic shapes, as Matter runs them); a fixed-shape peer is compiled at its shape."""

    def __init__(self, spec: ModelSpec, variant: str, cfg: BenchConfig):
        if cfg.device != "cpu":
            raise Skip("the openvino engine here runs on the CPU (run with --device cpu)")
        ov = _require_skip("openvino", "openvino")
        from ..engines.openvino import OpenVinoEngine, cpu_config

        self.spec, self.size = spec, cfg.size
        try:
            if spec.matting and not spec.fixed:
                self.engine = OpenVinoEngine(spec.onnx, "cpu", cfg.threads, variant)
                self.run_numpy = self.engine.run
            else:
                core = ov.Core()
                if variant == "bf16" and "BF16" not in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
                    raise Skip("this CPU has no native bf16")
                self.core, self.config = core, cpu_config(cfg.threads, variant)
        except WsshmError as exc:
            raise Skip(str(exc)) from None

    def model_only(self, batch: int):
        x = random_input(self.spec.shape(batch, self.size))
        if hasattr(self, "engine"):
            return (lambda: self.engine.run(x)), None
        model = self.core.read_model(str(self.spec.onnx))
        model.reshape({model.inputs[0].any_name: list(x.shape)})
        request = self.core.compile_model(model, "CPU", self.config).create_infer_request()
        return (lambda: request.infer({0: x})), None


class TrtRunner(Runner):
    def __init__(self, spec: ModelSpec, variant: str, cfg: BenchConfig, tmp: Path):
        if cfg.device != "cuda":
            raise Skip("native TensorRT needs an NVIDIA GPU (run with --device cuda)")
        if not spec.matting:
            raise Skip("the TensorRT rows are for wsshm-rt models (dynamic shapes and an alpha output)")
        torch = _require_skip("torch", "train")
        _require_skip("tensorrt", "tensorrt")
        from ..engines.tensorrt import TrtEngine
        from ..export.tensorrt import ShapeProfile, build_engine

        b, (h, w) = max(cfg.batches), cfg.size
        profile = ShapeProfile(min=(1, 3, h, w), opt=(1, 3, h, w), max=(b, 3, h, w))
        path = build_engine(spec.onnx, tmp / f"{spec.label}-{variant}.engine", fp16=variant == "fp16",
                            profile=profile, cache_dir=cfg.trt_cache)
        self.engine, self.size, self.torch = TrtEngine(path, "cuda"), cfg.size, torch

    def model_only(self, batch: int):
        # Device tensors in and out: the engine alone, no PCIe copies (those are in the end-to-end row).
        x = self.torch.randn(batch, 3, *self.size, device="cuda")
        return (lambda: self.engine.run_device(x)), self.torch.cuda.synchronize

    def run_numpy(self, x):
        return self.engine.run(x)


class TorchRunner(Runner):
    def __init__(self, spec: ModelSpec, variant: str, cfg: BenchConfig):
        self.flags = parse_torch_variant(variant)
        if spec.arch is None:
            raise Skip("the ONNX file names no architecture in its metadata, so there is no torch model")
        if cfg.device == "cpu" and self.flags & GPU_ONLY:
            raise Skip(f"{'+'.join(sorted(self.flags & GPU_ONLY))} is GPU-only (run with --device cuda)")
        torch = self.torch = _require_skip("torch", "train")
        if cfg.device == "cuda" and not torch.cuda.is_available():
            raise Skip("torch sees no CUDA GPU")
        from ..engines.torch import torch_dtype
        from ..models import create_model

        try:
            self.dtype = torch_dtype(torch, next((f for f in ("fp16", "bf16") if f in self.flags), "fp32"), cfg.device)
        except WsshmError as e:
            raise Skip(str(e)) from None
        if cfg.device == "cpu":
            torch.set_num_threads(cfg.threads)
        self.fmt = torch.channels_last if "channels_last" in self.flags else torch.contiguous_format
        model = create_model(spec.arch).eval().to(cfg.device, self.dtype, memory_format=self.fmt)
        self.model = torch.compile(model) if "compile" in self.flags else model
        self.device, self.size = cfg.device, cfg.size
        self.sync = torch.cuda.synchronize if cfg.device == "cuda" else None

    def _forward(self, x):
        with self.torch.inference_mode():
            return self.model(x)[0]

    def model_only(self, batch: int):
        x = self.torch.randn(batch, 3, *self.size, device=self.device).to(self.dtype).contiguous(memory_format=self.fmt)
        if "cuda_graphs" in self.flags:
            return cuda_graph(self.torch, self._forward, x), self.sync
        return (lambda: self._forward(x)), self.sync

    def run_numpy(self, x):
        t = self.torch.from_numpy(x).to(self.device, self.dtype).contiguous(memory_format=self.fmt)
        return self._forward(t).float().cpu().numpy()


def cuda_graph(torch, forward, x):
    """Capture ``forward(x)`` into a CUDA graph; returns its replay (x is the graph's static input)."""
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):  # warm up on a side stream, as capture requires
        for _ in range(3):
            forward(x)
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        forward(x)
    return graph.replay


def _require_skip(module: str, extra: str):
    from ..errors import MissingDependency, require

    try:
        return require(module, extra)
    except MissingDependency as exc:
        raise Skip(str(exc)) from None
