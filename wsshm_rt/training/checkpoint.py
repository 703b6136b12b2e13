"""Checkpoints, written atomically (temporary file + os.replace).

Run folder layout:
  last.safetensors, best.safetensors   model weights in the wsshm-rt format (for --init/--teacher, export, runtime)
  ckpt/step_0001000.safetensors        the last ``keep`` step weights
  state.pt                             resume state: model, optimiser, scheduler, EMA teacher, step, RNG, best,
                                       as tensors and plain containers only, so torch.load(weights_only=True) works
  config.yaml                          the resolved config
"""

from __future__ import annotations

import io
from pathlib import Path

import torch

from ..errors import WsshmError
from ..files import write_atomic
from ..preprocess import IMAGENET_MEAN, IMAGENET_STD
from ..weights import DEFAULT_SHORT_SIDE, load_weights, make_metadata, save_weights
from .config import data_seed

STATE_FILE = "state.pt"


def weights_metadata(model, cfg, step: int) -> dict[str, str]:
    # short_side: the inference size this model was validated at, which Matter uses unless told otherwise.
    # split_seed/val_fraction: which images it held out, so a later run or eval can keep to them (data.split_mismatch).
    return make_metadata(model.arch_name, IMAGENET_MEAN, IMAGENET_STD, stage=cfg.stage, step=step,
                         short_side=cfg.val_short_side or DEFAULT_SHORT_SIDE, split_seed=data_seed(cfg), val_fraction=cfg.val_fraction)


def save_model(model, path, cfg, step: int) -> Path:
    return save_weights(model.state_dict(), path, weights_metadata(model, cfg, step))


def save_state(path, state: dict) -> None:
    """Serialise in memory, then write atomically: a full disk is a WriteError and the previous state is kept."""
    buf = io.BytesIO()
    torch.save(state, buf)
    write_atomic(Path(path), buf.getvalue())


def load_state(path) -> dict:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise WsshmError(f"{path} is not a readable wsshm-rt training state ({exc.__class__.__name__})") from None


def rng_state() -> dict:
    # All data randomness is derived from (seed, epoch, batch, slot); torch's generators are the only global state.
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def prune(folder: Path, keep: int) -> None:
    files = sorted(folder.glob("step_*.safetensors"))
    for f in files[:max(0, len(files) - keep)]:
        f.unlink(missing_ok=True)


def load_model_weights(model, path, what: str):
    """Load wsshm-rt weights into ``model`` strictly; a wrong file is one clear sentence."""
    from ..models.loading import load_state

    state, meta = load_weights(path)
    if meta.get("architecture") not in (None, model.arch_name):
        raise WsshmError(f"{what} {path} holds a {meta['architecture']} model, which does not fit a {model.arch_name}")
    load_state(model, state, f"{what} {path}")
    return meta
