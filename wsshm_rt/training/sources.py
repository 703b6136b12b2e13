"""Segmentation sources of a run: every --seg folder split on its own, --pseudo folders, copy-paste scenes.

Each labelled folder is split into train/val by its own file names (data.split), so adding a source never moves
another source's held-out photos; each keeps its own validation set. Pseudo-labelled folders are training data only.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..errors import WsshmError
from . import data
from .config import data_seed, paste_heights, seg_weights
from .data import SampleKey
from .scenes import ScenesDataset


class Source(NamedTuple):
    folder: str
    train: list
    val: list
    pseudo: bool = False


class SourceMix:
    """Draws each sample from source i with probability ``weights[i]`` (normalised), or, with probability
    ``paste_p``, makes it a copy-paste scene. Its length is the sources' total (one "epoch")."""

    def __init__(self, datasets: list, weights: list[float], scenes=None, paste_p: float = 0.0):
        p = np.asarray(weights, np.float64)
        self.datasets, self.p, self.scenes, self.paste_p = datasets, p / p.sum(), scenes, paste_p

    def __len__(self) -> int:
        return sum(len(d) for d in self.datasets)

    def __getitem__(self, key: SampleKey) -> dict:
        rng = np.random.default_rng([*key.seed, 2])
        if self.scenes is not None and rng.random() < self.paste_p:
            return self.scenes[key]
        d = self.datasets[int(rng.choice(len(self.datasets), p=self.p))]
        return d[SampleKey(key.index % len(d), key.side, key.seed)]


def source_name(folder: str) -> str:
    """A short name for a source's metrics: its folder's name, or the parent's for a ``train/`` folder."""
    p = Path(folder)
    return (p.parent.name if p.name.lower() == "train" else p.name) or "seg"


def split_and_subset(pairs, limit: int, cfg):
    """Split first, then subset the training side: the validation set stays the same for every label budget."""
    seed = data_seed(cfg)
    train, val = data.split(pairs, cfg.val_fraction, seed)
    return data.subset(train, limit, seed), val


def seg_sources(cfg) -> list[Source]:
    """The labelled --seg sources (split, training side subset to --seg-limit) and the --pseudo ones (no split)."""
    if not cfg.seg and not cfg.pseudo:
        raise WsshmError(f"the {cfg.stage} stage needs a segmentation folder: pass --seg")
    out = [Source(folder, *split_and_subset(data.find_pairs(folder, "segmentation"), cfg.seg_limit, cfg))
           for folder in cfg.seg]
    out += [Source(folder, data.find_pairs(folder, "segmentation"), [], True) for folder in cfg.pseudo]
    return out


def seg_train_set(cfg, sources: list[Source], two_views: bool, backgrounds: list, matte_pairs: list):
    """One dataset over every source (and scenes with --paste-p); a lone source without scenes is itself."""
    sets = [data.SegDataset(s.train, cfg, two_views, ignore_grey=s.pseudo) for s in sources]
    scenes = None
    if cfg.paste_p > 0:
        labelled = [p for s in sources if not s.pseudo for p in s.train]
        people = [(p, False) for p in labelled] + [(p, True) for p in matte_pairs]
        scenes = ScenesDataset(people, labelled, backgrounds, cfg, paste_heights(cfg), cfg.paste_max, two_views)
    if len(sets) == 1 and scenes is None:
        return sets[0]
    return SourceMix(sets, seg_weights(cfg) or [len(s) for s in sets], scenes, cfg.paste_p)


def val_set_names(sources: list[Source]) -> list[str]:
    """"val_seg" for the first labelled source (as runs with one --seg always named it), then val_seg_<folder>."""
    labelled = [s for s in sources if not s.pseudo]
    return ["val_seg" if i == 0 else f"val_seg_{source_name(s.folder)}" for i, s in enumerate(labelled)]
