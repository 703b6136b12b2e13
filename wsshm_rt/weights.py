"""The weights format: safetensors with metadata (architecture, normalisation, version). Never pickle.

The header is parsed here in plain Python, so a wrong file is refused before torch is even imported.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

from .errors import WsshmError

FORMAT_KEY = "wsshm_rt.format"
FORMAT_VERSION = "1"
WEIGHTS_SUFFIX = ".safetensors"


def resolve_weights_path(path) -> Path:
    """Accept ``x.safetensors``, ``x`` (suffix implied), or a run folder holding ``model.safetensors``."""
    p = Path(path)
    candidates = [p, p.with_name(p.name + WEIGHTS_SUFFIX), p / f"model{WEIGHTS_SUFFIX}", p / f"last{WEIGHTS_SUFFIX}"]
    for c in candidates:
        if c.is_file():
            return c
    raise WsshmError(f"{p} does not exist (looked for {', '.join(str(c) for c in candidates)})")


def sniff_pickle(head: bytes) -> bool:
    """True for torch.save zip archives and raw pickles, which we refuse to load."""
    return head.startswith(b"PK\x03\x04") or head[:1] == b"\x80"


def read_metadata(path) -> dict[str, str]:
    """Return the ``__metadata__`` of a wsshm-rt safetensors file, validating the file on the way."""
    path = Path(path)
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise WsshmError(f"{path} is not a safetensors weights file (too short)")
        if sniff_pickle(head):
            raise WsshmError(
                f"{path} is a pickle (torch.save) file; wsshm-rt never unpickles weights, re-save them as safetensors")
        (n,) = struct.unpack("<Q", head)
        if n > 100_000_000 or n > path.stat().st_size:
            raise WsshmError(f"{path} is not a safetensors weights file")
        try:
            header = json.loads(f.read(n))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise WsshmError(f"{path} is not a safetensors weights file") from None
    meta = header.get("__metadata__") or {}
    if meta.get(FORMAT_KEY) is None:
        raise WsshmError(f"{path} is a safetensors file but not a wsshm-rt model (no '{FORMAT_KEY}' metadata)")
    return meta


def make_metadata(architecture: str, mean, std, **extra) -> dict[str, str]:
    from . import __version__

    meta = {FORMAT_KEY: FORMAT_VERSION, "architecture": architecture, "mean": json.dumps(list(mean)),
            "std": json.dumps(list(std)), "wsshm_rt_version": __version__}
    meta.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in extra.items()})
    return meta


def normalisation(meta: dict[str, str]) -> tuple[tuple[float, ...], tuple[float, ...]]:
    from .preprocess import IMAGENET_MEAN, IMAGENET_STD

    mean = tuple(json.loads(meta["mean"])) if "mean" in meta else IMAGENET_MEAN
    std = tuple(json.loads(meta["std"])) if "std" in meta else IMAGENET_STD
    return mean, std


DEFAULT_SHORT_SIDE = 512  # the paper's test-time shorter side, for a model whose metadata recommends none
MIN_SHORT_SIDE = 32  # the network's total stride


def recommended_short_side(meta: dict[str, str]) -> int:
    """The inference shorter side a model's metadata recommends (``short_side``), else the paper's 512."""
    return int(meta.get("short_side", DEFAULT_SHORT_SIDE))


def check_short_side(value: int, name: str = "short_side") -> int:
    if value < MIN_SHORT_SIDE:
        raise WsshmError(f"{name} must be at least {MIN_SHORT_SIDE}, not {value}")
    return value


def save_weights(state_dict, path, metadata: dict[str, str]) -> Path:
    """Write a torch state dict as safetensors, atomically (temporary file + rename)."""
    from .images import make_folder, write_atomic

    st = _safetensors_torch()
    path = Path(path)
    make_folder(path.parent)
    tensors = {k: v.detach().contiguous().cpu() for k, v in state_dict.items()}
    write_atomic(path, st.save(tensors, metadata=metadata))  # serialised in memory: a failed write is an OSError
    return path


def load_weights(path):
    """Return (state_dict, metadata) of a wsshm-rt safetensors file (torch tensors on CPU)."""
    path = resolve_weights_path(path)
    meta = read_metadata(path)
    st = _safetensors_torch()
    return st.load_file(str(path), device="cpu"), meta


def _safetensors_torch():
    from .errors import require

    require("torch", "train")
    return require("safetensors.torch", "train", "safetensors")
