"""Checks of a model file before it is used: the safetensors layout and the metadata's values.

Each broken or foreign file is one sentence naming the file and what is wrong, not a SafetensorError,
JSONDecodeError or ``invalid literal for int()`` from three layers down. No torch here: these run on the header.
"""

from __future__ import annotations

import json
import math
import os
import stat
from pathlib import Path

from .errors import ModelError, WsshmError

MIN_SHORT_SIDE = 32  # the network's total stride
MAX_SHORT_SIDE = 4096  # far past any useful size; bounds the memory an inference can take
_ITEMSIZE = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1,
             "U16": 2, "U32": 4, "U64": 8, "F8_E4M3": 1, "F8_E5M2": 1}


def check_model_path(path: Path, what: str = "model") -> None:
    """A model path must be a regular file: a FIFO or a device would block or never end when read."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise WsshmError(f"{what} file {path} does not exist") from None
    except (OSError, ValueError) as exc:
        raise WsshmError(f"{what} file {path} cannot be read ({getattr(exc, 'strerror', None) or exc})") from None
    if stat.S_ISDIR(mode):
        raise WsshmError(f"{what} {path} is a folder; pass the .onnx or .safetensors file")
    if not stat.S_ISREG(mode):
        raise WsshmError(f"{what} {path} is not a regular file (a pipe or a device); pass the model file itself")
    if not os.access(path, os.R_OK):
        raise WsshmError(f"{what} file {path} cannot be read (permission denied)")


def check_safetensors_layout(header, path: Path, data_bytes: int) -> None:
    """Every tensor the header lists must lie inside the file: a truncated or header-only file is refused here."""
    if not isinstance(header, dict):
        raise WsshmError(f"{path} is not a safetensors weights file (its header is not a table)")
    end = 0
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        try:
            begin, stop = entry["data_offsets"]
            count = math.prod(int(d) for d in entry["shape"])
            size = _ITEMSIZE.get(entry["dtype"])  # a dtype not listed here: its byte count is not checked
            ok = 0 <= begin <= stop and (size is None or stop - begin == count * size)
        except (TypeError, KeyError, ValueError):
            ok = False
        if not ok:
            raise WsshmError(f"{path} is not a valid safetensors file (the entry of tensor {name!r} is malformed)")
        end = max(end, stop)
    if end > data_bytes:
        raise WsshmError(f"{path} is truncated: its header lists {end} bytes of tensors, the file holds "
                         f"{data_bytes}")


def parse_short_side(meta: dict, default: int) -> int:
    """The ``short_side`` a model's metadata recommends (``default`` if none); a bad value is a WsshmError."""
    text = meta.get("short_side")
    if text is None:
        return default
    try:
        value = int(str(text).strip())
    except ValueError:
        raise WsshmError(f"its metadata's short_side must be a whole number, not {text!r}") from None
    if not MIN_SHORT_SIDE <= value <= MAX_SHORT_SIDE:
        raise WsshmError(f"its metadata's short_side must be from {MIN_SHORT_SIDE} to {MAX_SHORT_SIDE}, not {value}")
    return value


def parse_triple(meta: dict, key: str, default: tuple, positive: bool = False) -> tuple[float, ...]:
    """The per-channel ``mean`` or ``std`` of a model's metadata: a JSON list of 3 finite numbers."""
    text = meta.get(key)
    if text is None:
        return tuple(default)
    try:
        values = json.loads(text)
        values = tuple(float(v) for v in values) if isinstance(values, list) and len(values) == 3 else None
    except (TypeError, ValueError):
        values = None
    if values is None or not all(math.isfinite(v) and (v > 0 or not positive) for v in values):
        need = "positive" if positive else "finite"
        raise WsshmError(f"its metadata's {key} must be a JSON list of 3 {need} numbers, not {str(text)[:80]!r}")
    return values


def check_metadata(meta: dict, path, default_short_side: int, defaults: tuple) -> None:
    """Refuse, naming ``path``, a model whose metadata holds values that cannot be used."""
    try:
        parse_short_side(meta, default_short_side)
        parse_triple(meta, "mean", defaults[0])
        parse_triple(meta, "std", defaults[1], positive=True)
        for key, kind in (("split_seed", int), ("val_fraction", float)):
            if key in meta:
                _parse(meta, key, kind)
    except WsshmError as exc:
        raise WsshmError(f"{path} is not a usable wsshm-rt model: {exc}") from None


def _parse(meta: dict, key: str, kind):
    try:
        return kind(meta[key])
    except (TypeError, ValueError):
        raise WsshmError(f"its metadata's {key} is not a {kind.__name__}: {str(meta[key])[:80]!r}") from None


ALPHA_SLACK = 0.01  # an alpha a little outside [0, 1] (fp16/int8 rounding) is clipped later; far outside is wrong


def check_alpha(alpha, source) -> None:
    """Refuse a network output that is no alpha matte: NaN or infinite values (broken weights), or values far
    outside [0, 1] (a model that is not a matting model): never a black or white matte written without a word."""
    import numpy as np

    lo, hi = float(np.min(alpha, initial=0.0)), float(np.max(alpha, initial=0.0))
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise ModelError(f"{source} gave NaN or infinite alpha values: the model file is broken (its weights may "
                         "hold NaN or infinity)")
    if lo < -ALPHA_SLACK or hi > 1 + ALPHA_SLACK:
        raise ModelError(f"{source} gave alpha values from {lo:g} to {hi:g}, not in [0, 1]: it is not a wsshm-rt "
                         "matting model")
