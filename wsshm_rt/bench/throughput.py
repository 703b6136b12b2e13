"""Throughput benchmark: the paper's speed table (METHOD.md) reproduced on this machine.

``run_bench(BenchConfig(...))`` times every (model, engine, variant, batch) after a warm-up and returns a
JSON-ready report: median/min/max latency and FPS, model-only and end-to-end (JPEG decode -> preprocess ->
infer -> restore), params and GFLOPs per part, the paper's figures and the fixed MODNet reference beside ours.
Models are architecture names (exported untrained to a temporary ONNX: speed does not depend on the weights)
or ONNX paths. A variant that cannot run here (no GPU, no TensorRT) becomes a row in ``skipped`` with the reason.
"""

from __future__ import annotations

import os
import platform
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import WsshmError
from . import reference
from .timing import summarise, time_runs

DEFAULT_MODELS = ("r101", "r18", "r18-0.5")
ENGINES = ("onnxruntime", "tensorrt", "torch")
TORCH_FLAGS = ("eager", "channels_last", "compile", "cuda_graphs", "fp16", "bf16")
GPU_ONLY = frozenset({"cuda_graphs", "fp16"})
DEFAULT_TORCH_VARIANTS = {"cpu": ("eager", "channels_last", "bf16+channels_last"),
                          "cuda": ("eager", "channels_last", "compile", "fp16", "bf16", "fp16+channels_last+cuda_graphs")}


@dataclass
class BenchConfig:
    models: list[str] = field(default_factory=lambda: list(DEFAULT_MODELS))
    device: str = "cpu"                      # "cpu" | "cuda"
    engines: tuple[str, ...] = ("onnxruntime",)
    batches: tuple[int, ...] = (1,)
    size: tuple[int, int] = (512, 512)       # (H, W) of the network input
    threads: int = 2                         # CPU intra-op threads (the paper's Xeon figure is per process)
    runs: int = 20
    warmup: int = 3
    end_to_end: bool = True                  # also time decode+preprocess+infer+restore (batch 1, first variant)
    torch_variants: tuple[str, ...] | None = None  # None: DEFAULT_TORCH_VARIANTS[device]
    trt_cache: Path | None = None            # TensorRT engine cache folder (None: the default cache)
    costs: bool = True                       # count params/GFLOPs (needs torch)


class Skip(Exception):
    """This variant cannot run here; the message says why."""


@dataclass
class ModelSpec:
    label: str
    onnx: Path
    arch: str | None      # registered architecture, when known (for torch and the FLOP count)
    metadata: dict


def run_bench(cfg: BenchConfig, log: Callable[[str], None] = print) -> dict:
    """Run the benchmark described by ``cfg``; returns the report (see module docstring)."""
    _check(cfg)
    results, skipped = [], []
    with tempfile.TemporaryDirectory() as tmp:
        specs = _unique_labels([resolve_model(m, Path(tmp)) for m in cfg.models])
        for spec in specs:
            for engine in cfg.engines:
                for variant, factory in _variants(engine, spec, cfg, Path(tmp)):
                    _bench_variant(spec, engine, variant, factory, cfg, results, skipped, log)
    return {"machine": machine_info(cfg), "config": _config_json(cfg), "models": _model_info(specs, cfg),
            "reference": {"modnet_ms": reference.MODNET_REFERENCE_MS, "label": reference.MODNET_REFERENCE_LABEL},
            "results": results, "skipped": skipped}


def _check(cfg: BenchConfig) -> None:
    if cfg.device not in ("cpu", "cuda"):
        raise WsshmError(f"device must be cpu or cuda, not {cfg.device!r}")
    bad = [e for e in cfg.engines if e not in ENGINES]
    if bad:
        raise WsshmError(f"unknown engine {bad[0]!r}; choose from {', '.join(ENGINES)}")
    if cfg.runs < 1 or cfg.warmup < 0 or min(cfg.batches) < 1 or cfg.threads < 1:
        raise WsshmError("runs, batch sizes and threads must be at least 1, warm-up at least 0")
    if min(cfg.size) < 32:
        raise WsshmError(f"the input size must be at least 32x32, not {cfg.size[0]}x{cfg.size[1]}")


def _bench_variant(spec, engine, variant, factory, cfg, results, skipped, log) -> None:
    row0 = {"model": spec.label, "arch": spec.arch, "engine": engine, "variant": variant, "device": cfg.device}
    try:
        runner = factory()
        for i, batch in enumerate(cfg.batches):
            fn, sync = runner.model_only(batch)
            stats = summarise(time_runs(fn, cfg.runs, cfg.warmup, sync), batch)
            results.append(_row(row0, "model_only", batch, stats, cfg.size))
            log(format_row(results[-1]))
        if cfg.end_to_end and runner.first:
            stats = end_to_end(runner.run_numpy, cfg.size, spec.metadata, cfg.runs, cfg.warmup)
            results.append(_row(row0, "end_to_end", 1, stats, cfg.size))
            log(format_row(results[-1]))
    except Skip as why:
        skipped.append({**row0, "reason": str(why)})
        log(f"skip  {spec.label:<10} {engine}/{variant}: {why}")


def _row(row0: dict, mode: str, batch: int, stats: dict, size) -> dict:
    per_image = stats["median_ms"] / batch
    return {**row0, "mode": mode, "batch": batch, "size": list(size), **stats, "ms_per_image": per_image,
            "speedup_vs_modnet_ref": reference.speedup_vs_modnet(per_image)}


# ---------------------------------------------------------------- models


def resolve_model(name_or_path: str, tmp: Path) -> ModelSpec:
    """An architecture name -> an untrained ONNX exported into ``tmp``; an ONNX path -> itself."""
    path = Path(name_or_path)
    if path.suffix.lower() == ".onnx":
        if not path.is_file():
            raise WsshmError(f"{path} does not exist")
        meta = _onnx_metadata(path)
        return ModelSpec(path.stem, path, meta.get("architecture"), meta)
    from ..export.api import export_onnx_file
    from ..models import model_config

    model_config(name_or_path)  # raises the one-line "unknown model" error before any export work
    onnx = export_onnx_file(tmp / f"{name_or_path}.onnx", model=name_or_path)
    return ModelSpec(name_or_path, onnx, name_or_path, _onnx_metadata(onnx))


def _unique_labels(specs: list[ModelSpec]) -> list[ModelSpec]:
    """'r18-0.5' given twice (a name and a file called r18-0.5.onnx) -> 'r18-0.5', 'r18-0.5#2'."""
    seen: dict[str, int] = {}
    for spec in specs:
        seen[spec.label] = seen.get(spec.label, 0) + 1
        if seen[spec.label] > 1:
            spec.label = f"{spec.label}#{seen[spec.label]}"
    return specs


def _onnx_metadata(path: Path) -> dict:
    import onnxruntime as ort

    try:
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception:
        raise WsshmError(f"{path} is not a loadable ONNX model") from None
    return dict(sess.get_modelmeta().custom_metadata_map)


def _model_info(specs: list[ModelSpec], cfg: BenchConfig) -> dict:
    info = {}
    for spec in specs:
        entry = {"onnx": str(spec.onnx) if spec.label != spec.arch else None, "arch": spec.arch,
                 "quantization": spec.metadata.get("quantization"), "paper_fps": reference.paper_fps(spec.arch)}
        if cfg.costs and spec.arch:
            from .flops import model_costs

            entry.update(model_costs(spec.arch, cfg.size))
        info[spec.label] = entry
    return info


# ---------------------------------------------------------------- engines and their variants


class Runner:
    """One loaded engine variant. model_only(batch) -> (fn, sync); run_numpy is the Engine-style call."""

    first = False

    def model_only(self, batch: int):
        raise NotImplementedError

    def run_numpy(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError


def _variants(engine: str, spec: ModelSpec, cfg: BenchConfig, tmp: Path):
    """(variant name, factory) pairs; a factory raises Skip when the variant cannot run here."""
    if engine == "onnxruntime":
        names = ["cpu"] if cfg.device == "cpu" else ["cuda-ep", "tensorrt-ep"]
        pairs = [(n, lambda n=n: OrtRunner(spec, n, cfg)) for n in names]
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


class OrtRunner(Runner):
    def __init__(self, spec: ModelSpec, variant: str, cfg: BenchConfig):
        import onnxruntime as ort

        from ..engines.onnxruntime import OrtEngine

        want = {"cpu": "CPUExecutionProvider", "cuda-ep": "CUDAExecutionProvider",
                "tensorrt-ep": "TensorrtExecutionProvider"}[variant]
        if want not in ort.get_available_providers():
            raise Skip(f"this onnxruntime has no {want} (pip install 'wsshm-rt[gpu]' on a CUDA machine)")
        try:
            self.engine = OrtEngine(spec.onnx, cfg.device, cfg.threads, tensorrt_ep=variant == "tensorrt-ep")
        except WsshmError as exc:
            raise Skip(str(exc)) from None
        if self.engine.provider != want:
            raise Skip(f"{want} did not load (ONNX Runtime fell back to {self.engine.provider})")
        self.size = cfg.size

    def model_only(self, batch: int):
        # Includes ONNX Runtime's own host<->device copies on GPU: numpy in, numpy out is its interface.
        x = np.random.default_rng(0).standard_normal((batch, 3, *self.size)).astype(np.float32)
        return (lambda: self.engine.run(x)), None

    def run_numpy(self, x):
        return self.engine.run(x)


class TrtRunner(Runner):
    def __init__(self, spec: ModelSpec, variant: str, cfg: BenchConfig, tmp: Path):
        if cfg.device != "cuda":
            raise Skip("native TensorRT needs an NVIDIA GPU (run with --device cuda)")
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
            self.dtype = torch_dtype(torch, _dtype_flag(self.flags) or "fp32", cfg.device)
        except WsshmError as e:
            raise Skip(str(e)) from None
        if cfg.device == "cpu":
            torch.set_num_threads(cfg.threads)
        self.fmt = torch.channels_last if "channels_last" in self.flags else torch.contiguous_format
        model = create_model(spec.arch).eval().to(cfg.device, self.dtype, memory_format=self.fmt)
        self.model = torch.compile(model) if "compile" in self.flags else model
        self.device, self.size = cfg.device, cfg.size
        self.sync = torch.cuda.synchronize if cfg.device == "cuda" else None

    def _input(self, batch: int):
        x = self.torch.randn(batch, 3, *self.size, device=self.device)
        return x.to(self.dtype).contiguous(memory_format=self.fmt)

    def _forward(self, x):
        with self.torch.inference_mode():
            return self.model(x)[0]

    def model_only(self, batch: int):
        x = self._input(batch)
        if "cuda_graphs" in self.flags:
            return cuda_graph(self.torch, self._forward, x), self.sync
        return (lambda: self._forward(x)), self.sync

    def run_numpy(self, x):
        t = self.torch.from_numpy(x).to(self.device, self.dtype).contiguous(memory_format=self.fmt)
        return self._forward(t).float().cpu().numpy()


def parse_torch_variant(variant: str) -> frozenset[str]:
    """'fp16+channels_last' -> {'fp16', 'channels_last'}; 'eager' -> {} (plain fp32 eager)."""
    flags = frozenset(variant.split("+")) - {"eager"}
    bad = [f for f in flags if f not in TORCH_FLAGS]
    if bad or not variant:
        raise WsshmError(f"unknown torch variant {variant!r}; combine {', '.join(TORCH_FLAGS)} with '+'")
    if {"fp16", "bf16"} <= flags:
        raise WsshmError(f"torch variant {variant!r} asks for both fp16 and bf16")
    return flags


def _dtype_flag(flags) -> str | None:
    return next((f for f in ("fp16", "bf16") if f in flags), None)


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


# ---------------------------------------------------------------- end to end


def sample_jpeg(size: tuple[int, int]) -> bytes:
    """The bundled portrait as a JPEG twice the network size: a realistic decode and downscale."""
    import cv2

    from ..matter import ASSETS

    bgr = cv2.imread(str(ASSETS / "astronaut.jpg"))
    bgr = cv2.resize(bgr, (2 * size[1], 2 * size[0]), interpolation=cv2.INTER_LINEAR)
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 90])
    return buf.tobytes()


def end_to_end(run: Callable[[np.ndarray], np.ndarray], size: tuple[int, int], metadata: dict,
               runs: int = 20, warmup: int = 3) -> dict:
    """Median latency of decode -> prepare -> run -> restore on one JPEG, with each stage's median."""
    import statistics
    import time

    import cv2

    from ..preprocess import prepare, restore
    from ..weights import normalisation

    data, (mean, std) = np.frombuffer(sample_jpeg(size), np.uint8), normalisation(metadata)
    stages: dict[str, list[float]] = {"decode": [], "preprocess": [], "infer": [], "postprocess": []}

    def once():
        t = [time.perf_counter()]
        rgb = cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        t.append(time.perf_counter())
        x, geom = prepare(rgb, min(size), 32, mean, std)
        t.append(time.perf_counter())
        alpha = run(x[None])
        t.append(time.perf_counter())
        restore(alpha[0, 0], geom)
        t.append(time.perf_counter())
        for k, a, b in zip(stages, t, t[1:]):
            stages[k].append((b - a) * 1e3)

    stats = summarise(time_runs(once, runs, warmup))
    stats["stages_ms"] = {k: statistics.median(v[warmup:]) for k, v in stages.items()}
    return stats


# ---------------------------------------------------------------- reporting


def machine_info(cfg: BenchConfig) -> dict:
    import onnxruntime as ort

    info = {"platform": platform.platform(), "cpu": _cpu_name(), "cpu_count": os.cpu_count(),
            "threads": cfg.threads, "python": platform.python_version(), "onnxruntime": ort.__version__}
    try:
        import torch

        info["torch"] = torch.__version__
        if cfg.device == "cuda" and torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name()
    except ImportError:
        pass
    return info


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _config_json(cfg: BenchConfig) -> dict:
    d = asdict(cfg)
    d["trt_cache"] = str(cfg.trt_cache) if cfg.trt_cache else None
    return d


def format_row(r: dict) -> str:
    extra = ""
    if r["mode"] == "end_to_end":
        extra = "  [" + ", ".join(f"{k} {v:.1f}" for k, v in r["stages_ms"].items()) + " ms]"
    return (f"{r['model']:<12} {r['engine'] + '/' + r['variant']:<28} {r['mode']:<10} b{r['batch']:<3} "
            f"median {r['median_ms']:8.1f} ms (min {r['min_ms']:.1f}, max {r['max_ms']:.1f})  "
            f"{r['ms_per_image']:7.1f} ms/img {r['fps']:7.1f} FPS  x{r['speedup_vs_modnet_ref']:.1f} vs MODNet ref"
            f"{extra}")


def format_report(report: dict) -> str:
    """The whole report as text: machine, per-model costs beside the paper, every row, skips, reference."""
    m = report["machine"]
    lines = [f"machine: {m['cpu']} ({m['cpu_count']} CPUs), {m.get('gpu', 'no GPU')}; threads {m['threads']}; "
             f"onnxruntime {m['onnxruntime']}, torch {m.get('torch', '-')}"]
    size = report["config"]["size"]
    lines.append(f"\nmodel costs at {size[0]}x{size[1]} (FLOPs = 2 x MACs of Conv/Linear) and the paper's ONNX Runtime FPS:")
    lines.append(f"{'model':<12} {'params M':>9} {'GFLOPs':>8} {'encoder':>8} {'ASPP':>7} {'decoder':>8}   "
                 f"{'paper V100':>10} {'paper Xeon':>10}")
    for name, info in report["models"].items():
        p, g, paper = info.get("params_m", {}), info.get("gflops", {}), info["paper_fps"]
        lines.append(f"{name:<12} {_f(p.get('total'), 9, 2)} {_f(g.get('total'), 8, 1)} {_f(g.get('encoder'), 8, 1)} "
                     f"{_f(g.get('aspp'), 7, 1)} {_f(g.get('decoder'), 8, 1)}   "
                     f"{_f(paper.get('v100'), 10, 1)} {_f(paper.get('xeon_gold_5120'), 10, 1)}")
    lines.append("\nmeasured (model_only: the network alone; end_to_end: JPEG decode + preprocess + infer + restore):")
    lines += [format_row(r) for r in report["results"]]
    lines += [f"skipped {s['model']} {s['engine']}/{s['variant']}: {s['reason']}" for s in report["skipped"]]
    lines.append(f"\nreference: {report['reference']['label']} (a fixed figure, not measured by this run)")
    return "\n".join(lines)


def _f(v, width: int, digits: int) -> str:
    return f"{v:{width}.{digits}f}" if v is not None else f"{'-':>{width}}"


def plot_report(report: dict, path: Path) -> Path:
    """Bar chart of FPS (model-only, batch 1) per model and engine variant, the paper's FPS in grey."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = list(report["models"])
    rows = [r for r in report["results"] if r["mode"] == "model_only" and r["batch"] == 1]
    series = sorted({f"{r['engine']}/{r['variant']}" for r in rows})
    fps = {(r["model"], f"{r['engine']}/{r['variant']}"): r["fps"] for r in rows}
    paper = [("paper Xeon 5120", "xeon_gold_5120", "0.75"), ("paper V100", "v100", "0.45")]
    width = 0.8 / max(1, len(series) + len(paper))
    fig, ax = plt.subplots(figsize=(max(6, 2.2 * len(models)), 4))
    xs = np.arange(len(models))
    for i, s in enumerate(series):
        ax.bar(xs + i * width, [fps.get((m, s), 0) for m in models], width, label=f"ours: {s}")
    for j, (label, key, grey) in enumerate(paper):
        vals = [report["models"][m]["paper_fps"].get(key, 0) for m in models]
        ax.bar(xs + (len(series) + j) * width, vals, width, label=label, color=grey)
    ax.axhline(1e3 / report["reference"]["modnet_ms"], ls="--", c="k", lw=1, label="MODNet reference (574 ms)")
    ax.set_xticks(xs + width * (len(series) + len(paper) - 1) / 2, models)
    ax.set_ylabel("images / s")
    ax.set_yscale("log")
    ax.set_title(f"wsshm-rt throughput, {report['config']['size'][0]}x{report['config']['size'][1]}")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
