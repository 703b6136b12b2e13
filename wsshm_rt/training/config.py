"""One flat, typed training config with the paper's defaults; YAML and CLI flags only override it.

Precedence, lowest first: dataclass defaults -> stage defaults -> ``--preset`` -> ``--config x.yaml`` -> CLI flags.
No torch here: the CLI builds its flags from these fields at import time.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from pathlib import Path

from ..errors import WsshmError, check_choice
from ..weights import check_short_side

STAGES = ("pretrain", "teacher", "student")


def _f(default, help: str):
    return field(default=default, metadata={"help": help})


def _list_f(help: str):
    """A field given once per value on the command line (``--seg A --seg B``) or as a YAML list."""
    return field(default_factory=list, metadata={"help": help})


def field_kind(f) -> type:
    """The Python type of a config field's values: list for the repeatable ones."""
    return list if f.default_factory is list else type(f.default)


@dataclass
class TrainConfig:
    # what and where
    stage: str = _f("pretrain", "pretrain | teacher | student.")
    model: str = _f("", "Architecture (r101, r18, r18-0.5); empty: pretrain r101, else that of --init/--teacher.")
    seg: list = _list_f("Segmentation folder (images/+masks/ or blurred_image/+mask/); repeat for several sources.")
    seg_weights: str = _f("", "Sampling weights of the --seg then --pseudo sources, comma-separated (e.g. 1,2); "
                              "empty: in proportion to their sizes.")
    pseudo: list = _list_f("Pseudo-labelled folder from `wsshm-rt pseudo-label` (repeatable): a segmentation source "
                           "whose grey (unsure) mask pixels are left out of the loss; never used for validation.")
    matte: str = _f("", "Matte folder (fg/+alpha/, image/+alpha/ or image/+matte/).")
    backgrounds: str = _f("", "Folder of person-free backgrounds for compositing mattes.")
    init: str = _f("", "Weights to start from (e.g. runs/pre/last).")
    teacher: str = _f("", "Student stage: the frozen teacher's weights (e.g. runs/teacher/last).")
    out: str = _f("runs/train", "Run folder: weights, state, config, records.")
    # optimisation (the paper: Adam, cosine decay, batch 16)
    iters: int = _f(200_000, "Optimiser steps (paper: pretrain 200K, teacher 10K, student 20K).")
    batch_size: int = _f(16, "Global batch size (split over DDP ranks).")
    lr: float = _f(1e-4, "Adam learning rate (paper: pretrain 1e-4, teacher/student 5e-5).")
    min_lr: float = _f(0.0, "Cosine decay floor.")
    weight_decay: float = _f(0.0, "Adam weight decay.")
    grad_clip: float = _f(0.0, "Clip the gradient norm to this (0: off).")
    freeze_bn: bool = _f(False, "Keep every BatchNorm in eval mode: it normalises with the running statistics of the "
                                "model it starts from and leaves them as they are; its weight and bias still train. "
                                "For fine-tuning with small batches.")
    amp: str = _f("bf16", "Autocast dtype: bf16 | fp16 | off. On a CPU only bf16, and only where the CPU has native "
                          "bf16 (AVX512-BF16 or AMX), else off.")
    channels_last: bool = _f(True, "NHWC memory layout for the network (faster convolutions on CPU and GPU).")
    # data and augmentation
    seg_limit: int = _f(0, "Use a seeded subset of this many segmentation pairs (0: all).")
    matte_limit: int = _f(0, "Use a seeded subset of this many matte pairs (0: all).")
    val_fraction: float = _f(0.1, "Fraction of each folder held out for validation (by seeded name hash).")
    crop_min: int = _f(320, "Smallest square crop side; the side is drawn per batch (multi-scale).")
    crop_max: int = _f(640, "Largest square crop side.")
    crop_step: int = _f(32, "Crop sides are multiples of this.")
    scale_max: float = _f(1.5, "Random zoom: the crop covers 1/scale_max .. 1/scale_min of the short side.")
    scale_min: float = _f(1.0, "Random zoom: < 1 also zooms out, the photo smaller than the crop (reflect-padded).")
    paste_p: float = _f(0.0, "Share of segmentation samples that are copy-paste scenes: 1..--paste-max people cut "
                             "from the labelled photos (and --matte), pasted onto backgrounds or other photos.")
    paste_max: int = _f(4, "Copy-paste scenes: at most this many people per scene.")
    paste_height: str = _f("0.1,1.3", "Copy-paste scenes: a pasted person's height as a share of the frame's, "
                                      "min,max (drawn log-uniformly).")
    flip: bool = _f(True, "Random horizontal flip.")
    jitter: float = _f(0.3, "Strong view: brightness/contrast/saturation jitter strength (hue: jitter/3).")
    blur_p: float = _f(0.2, "Strong view: probability of a Gaussian blur.")
    gray_p: float = _f(0.1, "Strong view: probability of grayscale.")
    jpeg_p: float = _f(0.2, "Strong view: probability of JPEG re-compression.")
    workers: int = _f(4, "DataLoader worker processes per rank (0: load in the main process).")
    # loss and MLB
    bnd_weight: float = _f(0.01, "lambda of the boundary BCE (paper: 0.01).")
    lap_levels: int = _f(5, "Levels of the Laplacian-pyramid L1.")
    band_px: int = _f(0, "MLB: keep teacher boundary only within this many px of the mask edge (0: off, paper).")
    bnd_threshold: float = _f(0.0, "MLB: binarise teacher boundary b_t > this (0: off, paper: soft b_t).")
    matte_mix: float = _f(0.0, "Student: share of samples that are composites of --matte with their true alpha "
                               "instead of natural photos with blended labels (0: the paper, natural photos only).")
    ema: bool = _f(True, "Student: EMA-update the teacher from the student when they share an architecture.")
    ema_momentum: float = _f(0.999, "EMA momentum m: teacher = m*teacher + (1-m)*student.")
    # validation, checkpoints, records
    val_every: int = _f(1000, "Validate every N steps (0: only at the end), and at step 0 when the run starts "
                              "from trained weights (--init, or a student from its teacher).")
    val_limit: int = _f(200, "Validate on at most this many held-out images (0: all).")
    val_short_side: int = _f(0, "Validation images are resized to this shorter side (as at test time); the trained "
                                "weights recommend it as their inference size (Matter's default). 0: the size the "
                                "model it starts from recommends (--init, or the teacher a student starts from), "
                                "else 512.")
    save_every: int = _f(1000, "Write last.safetensors and the resume state every N steps.")
    keep: int = _f(3, "Keep the last K step checkpoints in ckpt/.")
    log_every: int = _f(10, "Record training losses every N steps.")
    seed: int = _f(0, "Seed of sampling, augmentation and init; also of the data split unless --split-seed is set.")
    split_seed: int = _f(-1, "Seed of the train/val split, the --seg-limit/--matte-limit subsets and the validation "
                             "composites (-1: --seed). Fix it and vary --seed to repeat a run on the same data.")
    device: str = _f("auto", "auto | cpu | cuda.")
    deterministic: bool = _f(False, "Deterministic kernels (bitwise-reproducible resume on CPU).")
    sync_bn: bool = _f(True, "SyncBatchNorm under multi-GPU DDP (CUDA only).")
    resume: bool = _f(True, "Resume when OUT holds a state file (pass --no-resume to start over).")
    progress: bool = _f(True, "Show a tqdm progress bar (rank 0).")


STAGE_DEFAULTS = {
    "pretrain": dict(iters=200_000, lr=1e-4),
    "teacher": dict(iters=10_000, lr=5e-5),
    "student": dict(iters=20_000, lr=5e-5),
}

# Finishes in minutes on 2 CPU cores: for smoke tests and for reading the code with a debugger.
PRESETS = {
    "paper": {},
    "small": dict(iters=300, batch_size=4, crop_min=128, crop_max=192, val_every=100, save_every=100,
                  val_limit=20, workers=2, log_every=5),
}


def field_names() -> list[str]:
    return [f.name for f in fields(TrainConfig)]


def load_yaml(path, what: str = "config file") -> dict:
    import yaml

    p = Path(path)
    if not p.is_file():
        raise WsshmError(f"{what} {p} does not exist")
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise WsshmError(f"{what} {p} is not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise WsshmError(f"{what} {p} must hold a mapping of option: value")
    return data


def resolve_config(stage: str, preset: str | None = None, yaml_path=None, overrides: dict | None = None) -> TrainConfig:
    """Build the config for ``stage``: defaults < stage defaults < preset < YAML < explicit overrides."""
    if stage not in STAGES:
        raise WsshmError(f"unknown stage {stage!r}; choose one of {', '.join(STAGES)}")
    if preset and preset not in PRESETS:
        raise WsshmError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    values = dict(STAGE_DEFAULTS[stage])
    values.update(PRESETS.get(preset or "paper", {}))
    if yaml_path:
        values.update(load_yaml(yaml_path))
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    values["stage"] = stage
    return make_config(values)


def make_config(values: dict) -> TrainConfig:
    unknown = sorted(set(values) - set(field_names()))
    if unknown:
        raise WsshmError(f"unknown config option(s): {', '.join(unknown)}")
    cfg = TrainConfig()
    for f in fields(TrainConfig):
        if f.name in values:
            setattr(cfg, f.name, _coerce(f, values[f.name]))
    validate(cfg)
    return cfg


def _coerce(f, value):
    kind = field_kind(f)
    if kind is list:
        values = [value] if isinstance(value, str) else value
        if not isinstance(values, (list, tuple)) or not all(isinstance(v, str) for v in values):
            raise WsshmError(f"option {f.name} must be a path or a list of paths, not {value!r}")
        return [v for v in values if v]
    if kind is bool and not isinstance(value, bool):
        raise WsshmError(f"option {f.name} must be true or false, not {value!r}")
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise WsshmError(f"option {f.name} must be a {kind.__name__}, not {value!r}") from None


def validate(cfg: TrainConfig) -> None:
    if cfg.crop_min < 32 or cfg.crop_max < cfg.crop_min:
        raise WsshmError(f"crop sides must satisfy 32 <= crop_min <= crop_max (got {cfg.crop_min}..{cfg.crop_max})")
    if cfg.iters < 1 or cfg.batch_size < 1 or cfg.save_every < 1:
        raise WsshmError("iters, batch_size and save_every must be positive")
    if not 0.0 <= cfg.val_fraction < 1.0:
        raise WsshmError(f"val_fraction must be in [0, 1), not {cfg.val_fraction}")
    if not 0.0 <= cfg.matte_mix <= 1.0:
        raise WsshmError(f"matte_mix must be in [0, 1], not {cfg.matte_mix}")
    check_choice("amp", cfg.amp, ("bf16", "fp16", "off"))
    if not 0.1 <= cfg.scale_min <= cfg.scale_max:
        raise WsshmError(f"scale_min must be in [0.1, scale_max], not {cfg.scale_min}")
    if not 0.0 <= cfg.paste_p <= 1.0 or cfg.paste_max < 1:
        raise WsshmError(f"paste_p must be in [0, 1] and paste_max >= 1 (got {cfg.paste_p}, {cfg.paste_max})")
    paste_heights(cfg), seg_weights(cfg)
    if cfg.val_short_side:
        check_short_side(cfg.val_short_side, "val_short_side")
    if cfg.split_seed < -1:
        raise WsshmError(f"split_seed must be -1 (the same as seed) or a seed >= 0, not {cfg.split_seed}")


def _floats(text: str, name: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",")] if text.strip() else []
    except ValueError:
        raise WsshmError(f"{name} must be comma-separated numbers, not {text!r}") from None


def paste_heights(cfg: TrainConfig) -> tuple[float, float]:
    lo_hi = _floats(cfg.paste_height, "paste_height")
    if len(lo_hi) != 2 or not 0.02 <= lo_hi[0] <= lo_hi[1] <= 4:
        raise WsshmError(f"paste_height must be min,max with 0.02 <= min <= max <= 4, not {cfg.paste_height!r}")
    return lo_hi[0], lo_hi[1]


def seg_weights(cfg: TrainConfig) -> list[float] | None:
    """One weight per --seg then --pseudo source, or None (sample in proportion to their sizes)."""
    w = _floats(cfg.seg_weights, "seg_weights")
    if not w:
        return None
    n = len(cfg.seg) + len(cfg.pseudo)
    if len(w) != n or min(w) < 0 or sum(w) <= 0:
        raise WsshmError(f"seg_weights needs {n} non-negative weight(s), one per --seg/--pseudo source, at least "
                         f"one of them above 0, not {cfg.seg_weights!r}")
    return w


def data_seed(cfg: TrainConfig) -> int:
    """The seed of what data a run trains and validates on: --split-seed, or --seed when it is -1."""
    return cfg.split_seed if cfg.split_seed >= 0 else cfg.seed


def to_dict(cfg: TrainConfig) -> dict:
    return dataclasses.asdict(cfg)


def save_config(cfg: TrainConfig, path) -> None:
    import yaml

    from ..files import write_atomic

    write_atomic(Path(path), yaml.safe_dump(to_dict(cfg), sort_keys=False).encode())
