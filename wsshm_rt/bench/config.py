"""What a throughput benchmark run measures: its typed settings, the models it times, and their checks."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import WsshmError

DEFAULT_MODELS = ("r101", "r18", "r18-0.5")
ENGINES = ("onnxruntime", "openvino", "tensorrt", "torch")
OPENVINO_VARIANTS = ("fp32", "bf16")
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
    size: tuple[int, int] = (512, 512)       # (H, W) of the network input (a fixed-shape ONNX is timed at its own)
    threads: int = 2                         # CPU intra-op threads (the paper's Xeon figure is per process)
    runs: int = 20
    warmup: int = 3
    end_to_end: bool = True                  # also time decode+preprocess+infer+restore (batch 1, first variant)
    torch_variants: tuple[str, ...] | None = None  # None: DEFAULT_TORCH_VARIANTS[device]
    trt_cache: Path | None = None            # TensorRT engine cache folder (None: the default cache)
    costs: bool = True                       # count params/GFLOPs (needs torch; onnx for other models)
    reference: str | None = None             # a model (name or .onnx) every row's speed is divided into


class Skip(Exception):
    """This variant cannot run here; the message says why."""


@dataclass
class ModelSpec:
    label: str
    onnx: Path
    arch: str | None      # registered architecture, when known (for torch and the FLOP count)
    metadata: dict
    given: str = ""       # as named on the command line (to find the reference)
    input_shape: tuple = ()  # the ONNX input's dims: an int where fixed, None where dynamic

    @property
    def fixed(self) -> bool:
        """True for a model whose input height and width are fixed (timed at its own shape)."""
        return len(self.input_shape) == 4 and all(isinstance(d, int) for d in self.input_shape[2:])

    @property
    def matting(self) -> bool:
        """A wsshm-rt model (its metadata names an architecture): end-to-end and torch rows apply to it."""
        return self.arch is not None

    def shape(self, batch: int, size: tuple[int, int]) -> tuple[int, int, int, int]:
        """The input shape it is timed at; Skip where a fixed dimension differs from ``batch``."""
        n, c, h, w = self.input_shape if len(self.input_shape) == 4 else (None,) * 4
        if isinstance(n, int) and n != batch:
            raise Skip(f"its input has a fixed batch of {n}")
        return (batch, c if isinstance(c, int) else 3, *((h, w) if self.fixed else size))


def check_config(cfg: BenchConfig) -> None:
    if cfg.device not in ("cpu", "cuda"):
        raise WsshmError(f"device must be cpu or cuda, not {cfg.device!r}")
    if not cfg.engines:
        raise WsshmError(f"no engine given; choose from {', '.join(ENGINES)}")
    bad = [e for e in cfg.engines if e not in ENGINES]
    if bad:
        raise WsshmError(f"unknown engine {bad[0]!r}; choose from {', '.join(ENGINES)}")
    if cfg.runs < 1 or cfg.warmup < 0 or min(cfg.batches) < 1 or cfg.threads < 1:
        raise WsshmError("runs, batch sizes and threads must be at least 1, warm-up at least 0")
    if min(cfg.size) < 32:
        raise WsshmError(f"the input size must be at least 32x32, not {cfg.size[0]}x{cfg.size[1]}")


def parse_torch_variant(variant: str) -> frozenset[str]:
    """'fp16+channels_last' -> {'fp16', 'channels_last'}; 'eager' -> {} (plain fp32 eager)."""
    flags = frozenset(variant.split("+")) - {"eager"}
    bad = [f for f in flags if f not in TORCH_FLAGS]
    if bad or not variant:
        raise WsshmError(f"unknown torch variant {variant!r}; combine {', '.join(TORCH_FLAGS)} with '+'")
    if {"fp16", "bf16"} <= flags:
        raise WsshmError(f"torch variant {variant!r} asks for both fp16 and bf16")
    return flags
