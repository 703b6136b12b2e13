"""Train/val splits by a seeded hash of the file names (the same names always land the same side), seeded subsets,
and the check that weights were trained on the split a run or an eval draws."""

from __future__ import annotations

import zlib

import numpy as np


def stable_hash(name: str, seed: int) -> int:
    return zlib.crc32(f"{seed}:{name}".encode())


def split(pairs: list, val_fraction: float, seed: int) -> tuple[list, list]:
    """Deterministic train/val split by a seeded hash of the file name: the same names always land the same side."""
    if val_fraction <= 0 or len(pairs) < 2:
        return list(pairs), []
    ranked = sorted(pairs, key=lambda p: stable_hash(p.image.name, seed))
    n_val = min(len(pairs) - 1, max(1, round(len(pairs) * val_fraction)))
    val = {p.image for p in ranked[:n_val]}
    return [p for p in pairs if p.image not in val], [p for p in pairs if p.image in val]


def split_mismatch(meta: dict, seed: int, val_fraction: float, what: str) -> str | None:
    """A warning when weights were trained on another train/val split than the one ``seed``/``val_fraction`` make.

    Trained weights record their split (``split_seed``, ``val_fraction`` metadata). Validating or continuing them on a
    split drawn with another seed mixes their training images into the held-out ones; None when they agree or the
    weights do not say.
    """
    if "split_seed" not in meta:
        return None
    theirs = (int(meta["split_seed"]), float(meta.get("val_fraction", 0.1)))
    if theirs == (seed, float(val_fraction)):
        return None
    return (f"{what} was trained on the split of seed {theirs[0]} (val fraction {theirs[1]:g}), this one is drawn with "
            f"seed {seed} (val fraction {val_fraction:g}): on the same data its held-out images include ones it "
            f"trained on; pass --split-seed {theirs[0]} --val-fraction {theirs[1]:g} to keep them apart")


def select_split(pairs: list, which: str, val_fraction: float, seed: int) -> list:
    """The pairs of one side of ``split`` ("train" or "val"), or all of them ("all"): what eval --split scores."""
    return list(pairs) if which == "all" else split(pairs, val_fraction, seed)[which == "val"]


def subset(items: list, limit: int, seed: int) -> list:
    """A seeded subset of ``limit`` items in their original order (``limit`` <= 0: all)."""
    if limit <= 0 or limit >= len(items):
        return list(items)
    keep = np.sort(np.random.default_rng(seed).choice(len(items), limit, replace=False))
    return [items[i] for i in keep]
