"""The three stages (the paper's training, stages 1-3). They share loop.py and differ in their data and their step function.

A step function maps (net, batch) -> dict of losses with the total under "loss"; ``after_step`` runs after the
optimiser step (the EMA teacher update of MLB).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable

import torch

from ..errors import WsshmError
from ..models import create_model
from ..weights import read_metadata, recommended_short_side, resolve_weights_path
from . import data
from .blend import blend_labels
from .checkpoint import load_model_weights
from .config import data_seed
from .ema import ema_update, freeze, same_architecture
from .losses import matte_loss, seg_loss
from .sources import seg_sources, seg_train_set, split_and_subset, val_set_names

log = logging.getLogger(__name__)


@dataclass
class ValSet:
    name: str                  # prefix of the recorded metrics, e.g. "val_seg"
    kind: str                  # "seg" | "matte"
    pairs: list
    backgrounds: list = field(default_factory=list)


@dataclass
class Stage:
    model: torch.nn.Module
    train_set: object
    step: Callable             # (net, batch) -> {"loss": ..., ...}
    val_sets: list[ValSet]
    best_metric: tuple         # ("<valset>/<metric>", ...): their mean picks best.safetensors, lower is better
    teacher: torch.nn.Module | None = None
    after_step: Callable = lambda model: None
    from_weights: bool = False  # starts from trained weights (--init, or a student from its teacher): validated at 0


def pretrain_step(net, batch) -> dict:
    pred_pha, _ = net(batch["src"])
    return seg_loss(pred_pha, batch["true_seg"], batch.get("valid"))


def teacher_step(cfg):
    def step(net, batch) -> dict:
        pred_pha, pred_bnd = net(batch["src"])
        return matte_loss(pred_pha, pred_bnd, batch["true_pha"], cfg.bnd_weight, cfg.lap_levels)
    return step


def _blend(cfg, teacher, src, seg):
    pha_t, bnd_t = teacher(src)
    return blend_labels(pha_t.float(), torch.sigmoid(bnd_t.float()), seg, cfg.band_px, cfg.bnd_threshold)


def student_step(cfg, teacher):
    """MLB: the frozen teacher labels the weak view, the student learns the blend on the strong view."""
    def step(net, batch) -> dict:
        with torch.no_grad():
            if "is_matte" in batch:  # --matte-mix: composites learn their true alpha, photos the blend
                true_pha = batch["true_pha"].float().clone()
                photo = batch["is_matte"].flatten() < 0.5  # the teacher runs on the photos only
                if photo.any():
                    true_pha[photo] = _blend(cfg, teacher, batch["src"][photo], batch["true_seg"][photo])
            else:
                true_pha = _blend(cfg, teacher, batch["src"], batch["true_seg"])
        pred_pha, pred_bnd = net(batch["src_strong"])
        return matte_loss(pred_pha, pred_bnd, true_pha, cfg.bnd_weight, cfg.lap_levels, batch.get("valid"))
    return step


def _seg_data(cfg, two_views: bool, backgrounds=(), matte_pairs=()):
    """(training set over every --seg/--pseudo source, one validation set per labelled source, best metrics)."""
    srcs = seg_sources(cfg)
    names = val_set_names(srcs)
    val_sets = [ValSet(n, "seg", _limit(s.val, cfg)) for n, s in zip(names, [s for s in srcs if not s.pseudo])]
    train = seg_train_set(cfg, srcs, two_views, list(backgrounds), list(matte_pairs))
    return train, val_sets, tuple(f"{n}/mse_far" for n in names)


def _paste_backgrounds(cfg) -> list:
    return data.find_backgrounds(cfg.backgrounds) if cfg.paste_p > 0 and cfg.backgrounds else []


def _matte_split(cfg):
    if not cfg.matte or not cfg.backgrounds:
        raise WsshmError(f"the {cfg.stage} stage needs --matte and --backgrounds to composite training images")
    train, val = split_and_subset(data.find_pairs(cfg.matte, "matte"), cfg.matte_limit, cfg)
    return train, val, data.find_backgrounds(cfg.backgrounds)


def _limit(pairs, cfg):
    return pairs[:cfg.val_limit] if cfg.val_limit > 0 else pairs


def _arch_of(path, what: str) -> str:
    return read_metadata(resolve_weights_path(path)).get("architecture") or _bad_weights(path, what)


def _bad_weights(path, what):
    raise WsshmError(f"{what} {path} does not name its architecture; is it a wsshm-rt weights file?")


def _model(name: str, init: str, device, cfg, what: str = "--init", check_split: bool = True,
           size_from: bool = True) -> torch.nn.Module:
    """A ``name`` network, loaded from ``init`` if given. ``size_from``: this is the model the run trains from, so
    an unset ``val_short_side`` (0) becomes the inference size ``init`` recommends: fine-tuning the bundled model
    keeps its 320 instead of falling back to 512 (or to whatever the validation would otherwise use)."""
    model = create_model(name)
    if init:
        meta = load_model_weights(model, init, what)
        msg = check_split and data.split_mismatch(meta, data_seed(cfg), cfg.val_fraction, f"{what} {init}")
        if msg:
            log.warning("wsshm-rt: warning: %s", msg)
        if size_from and not cfg.val_short_side and meta.get("short_side"):
            cfg.val_short_side = recommended_short_side(meta)
    return model.to(device)


def build_pretrain(cfg, device) -> Stage:
    train, val_sets, best = _seg_data(cfg, False, _paste_backgrounds(cfg))
    name = cfg.model or (_arch_of(cfg.init, "--init") if cfg.init else "r101")  # as the teacher stage takes it
    model = _model(name, cfg.init, device, cfg)
    return Stage(model, train, pretrain_step, val_sets, best, from_weights=bool(cfg.init))


def build_teacher(cfg, device) -> Stage:
    train, val, bgs = _matte_split(cfg)
    name = cfg.model or (_arch_of(cfg.init, "--init") if cfg.init else "r101")
    model = _model(name, cfg.init, device, cfg)
    return Stage(model, data.MatteDataset(train, cfg, bgs), teacher_step(cfg),
                 [ValSet("val_matte", "matte", _limit(val, cfg), bgs)], ("val_matte/mse",), from_weights=bool(cfg.init))


def build_student(cfg, device) -> Stage:
    if not cfg.teacher:
        raise WsshmError("the student stage needs the teacher's weights: pass --teacher runs/teacher/last")
    t_arch = _arch_of(cfg.teacher, "--teacher")
    # Made after .to(device), never wrapped by DDP.
    name = cfg.model or t_arch
    start = cfg.init or (cfg.teacher if name == t_arch else "")
    # A student that starts from random init takes the inference size its teacher recommends.
    teacher = freeze(_model(t_arch, cfg.teacher, device, cfg, "--teacher", size_from=not start))
    # A student of the teacher's architecture starts from the teacher (the method leaves this open: our choice).
    model = _model(name, start, device, cfg, check_split=bool(cfg.init))
    if cfg.matte_mix > 0 and not (cfg.matte and cfg.backgrounds):
        raise WsshmError("--matte-mix needs --matte and --backgrounds to composite from")
    mtrain, mval, bgs = _matte_split(cfg) if cfg.matte and cfg.backgrounds else ([], [], [])
    train_set, val_sets, best = _seg_data(cfg, True, _paste_backgrounds(cfg), mtrain)
    if mval:
        val_sets.append(ValSet("val_matte", "matte", _limit(mval, cfg), bgs))
    if cfg.matte_mix > 0:
        train_set = data.MixedDataset(train_set, data.MatteDataset(mtrain, cfg, bgs), cfg.matte_mix)
    stage = Stage(model, train_set, student_step(cfg, teacher), val_sets, best, teacher=teacher,
                  from_weights=bool(start))
    if cfg.ema and same_architecture(teacher, model):
        stage.after_step = lambda student: ema_update(teacher, student, cfg.ema_momentum)
    return stage


BUILDERS = {"pretrain": build_pretrain, "teacher": build_teacher, "student": build_student}
