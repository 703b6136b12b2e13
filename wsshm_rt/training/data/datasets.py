"""The datasets of training: photos with masks (D_s), foregrounds with alpha composited on the fly (D_m), both mixed,
and the fixed validation composites.

Samples are addressed by a ``SampleKey`` from the batch sampler (sampler.py): the image index, the batch's crop
side and a seed. All randomness of a sample comes from that key, never from global state. A file that fails to
decode is reported (a warning) and the next one is used.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ...errors import WsshmError
from ...images import load_image
from ...preprocess import normalise
from .. import augment
from .labels import read_pair
from .layouts import Pair
from .splits import stable_hash

log = logging.getLogger(__name__)


class SampleKey(NamedTuple):
    index: int
    side: int
    seed: tuple  # (seed, epoch, batch, slot): fixes every random choice of this sample


def to_chw(rgb: np.ndarray) -> np.ndarray:
    return normalise(rgb)


class _Base:
    """Reads a pair; on a file that fails to decode, warns once and deterministically uses the next pair."""

    def __init__(self, pairs: list[Pair], cfg):
        self.pairs, self.cfg, self._bad = pairs, cfg, set()

    def __len__(self) -> int:
        return len(self.pairs)

    def read(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        for k in range(len(self.pairs)):
            pair = self.pairs[(index + k) % len(self.pairs)]
            try:
                return read_pair(pair)
            except WsshmError as exc:
                if pair.image not in self._bad:
                    self._bad.add(pair.image)
                    log.warning("wsshm-rt: warning: skipping %s", exc)
        raise WsshmError("no pair of the training set could be read")


class SegDataset(_Base):
    """D_s: natural photo + binary mask. ``two_views``: weak and strong views with the same geometry (MLB).

    ``ignore_grey``: the masks are pseudo-labels (``wsshm-rt pseudo-label``) whose grey pixels (128) mark where the
    labelling model was unsure; ``valid`` is 0 there, so the losses leave those pixels out. Every sample has
    ``valid`` (all ones for a hand-drawn mask), so samples of every source stack into one batch.
    """

    def __init__(self, pairs, cfg, two_views: bool = False, ignore_grey: bool = False):
        super().__init__(pairs, cfg)
        self.two_views, self.ignore_grey = two_views, ignore_grey

    def __getitem__(self, key: SampleKey) -> dict:
        rng = np.random.default_rng(list(key.seed))
        rgb, seg = self.read(key.index)
        c = self.cfg
        g = augment.random_geometry(rng, *rgb.shape[:2], key.side, c.scale_max, c.flip, c.scale_min)
        weak, seg = augment.apply_geometry(rgb, g), augment.apply_geometry(seg, g, True)
        return sample(weak, seg, rng, c, self.two_views, self.ignore_grey)


def unsure(label: np.ndarray) -> np.ndarray:
    """Pixels a pseudo-label marks as unsure: grey (128 of 255), neither person nor background."""
    return np.abs(label - 0.5) < 0.2


def sample(weak: np.ndarray, label: np.ndarray, rng, cfg, two_views: bool, ignore_grey: bool = False) -> dict:
    """The training sample of a photo (uint8 RGB Shape(S, S, 3)) and its label (Shape(S, S)): binary mask, validity,
    and with ``two_views`` the strong view made from the same geometry."""
    valid = ~unsure(label) if ignore_grey else np.ones(label.shape, bool)
    out = {"src": to_chw(weak), "true_seg": (label > 0.5).astype(np.float32)[None],
           "valid": valid.astype(np.float32)[None]}
    if two_views:
        out["src_strong"] = to_chw(augment.strong_view(weak, rng, cfg.jitter, cfg.blur_p, cfg.gray_p, cfg.jpeg_p))
    return out


class MatteDataset(_Base):
    """D_m: foreground + alpha composited (Eq. 1) onto a new random background for every sample."""

    def __init__(self, pairs, cfg, backgrounds: list[Path]):
        super().__init__(pairs, cfg)
        self.backgrounds = backgrounds

    def __getitem__(self, key: SampleKey) -> dict:
        src, pha = self.composite(key)
        return {"src": to_chw(src), "true_pha": pha[None]}

    def composite(self, key: SampleKey) -> tuple[np.ndarray, np.ndarray]:
        """(uint8 RGB composite Shape(S, S, 3), its alpha float32 Shape(S, S)), S = key.side."""
        rng = np.random.default_rng(list(key.seed))
        fg, pha = self.read(key.index)
        bgr = augment.cover_crop(self.read_background(rng), *fg.shape[:2], rng)
        c = self.cfg
        g = augment.random_geometry(rng, *fg.shape[:2], key.side, c.scale_max, c.flip, c.scale_min)
        return augment.apply_geometry(augment.composite(fg, pha, bgr), g), augment.apply_geometry(pha, g)

    def read_background(self, rng: np.random.Generator) -> np.ndarray:
        return load_background(self.backgrounds, int(rng.integers(len(self.backgrounds))))


class MixedDataset:
    """Student data with ``--matte-mix p``: each sample is a natural photo (MLB) or, with probability p, a composite
    with its true alpha. Every sample has the same keys, so one batch can hold both kinds:
    src / src_strong / true_seg as SegDataset(two_views=True), plus true_pha (the composite's alpha; for a photo a
    copy of true_seg, unused) and is_matte (1 for a composite, Shape(1, 1, 1)).
    """

    def __init__(self, seg: SegDataset, matte: MatteDataset, p: float):
        self.seg, self.matte, self.p = seg, matte, p

    def __len__(self) -> int:
        return len(self.seg)

    def __getitem__(self, key: SampleKey) -> dict:
        rng = np.random.default_rng([*key.seed, 1])  # its own stream: the sample's augmentation is unchanged
        if rng.random() >= self.p:
            out = self.seg[key]
            return dict(out, true_pha=out["true_seg"], is_matte=np.zeros((1, 1, 1), np.float32))
        src, pha = self.matte.composite(SampleKey(int(rng.integers(len(self.matte))), key.side, key.seed))
        c = self.matte.cfg
        strong = augment.strong_view(src, rng, c.jitter, c.blur_p, c.gray_p, c.jpeg_p)
        return {"src": to_chw(src), "src_strong": to_chw(strong), "true_seg": (pha[None] > 0.5).astype(np.float32),
                "true_pha": pha[None], "is_matte": np.ones((1, 1, 1), np.float32),
                "valid": np.ones_like(pha)[None]}


def fixed_composite(pair: Pair, backgrounds: list[Path], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Validation composite: the background and its crop are fixed by (seed, file name), so numbers compare."""
    return fixed_composites(pair, backgrounds, [seed])[0]


def fixed_composites(pair: Pair, backgrounds: list[Path], seeds) -> list[tuple[np.ndarray, np.ndarray]]:
    """fixed_composite for each of ``seeds``, the foreground read once."""
    fg, pha = read_pair(pair)
    out = []
    for seed in seeds:
        rng = np.random.default_rng([seed, stable_hash(pair.image.name, seed)])
        bgr = augment.cover_crop(load_background(backgrounds, int(rng.integers(len(backgrounds)))), *fg.shape[:2], rng)
        out.append((augment.composite(fg, pha, bgr), pha))
    return out


def load_background(backgrounds: list[Path], start: int) -> np.ndarray:
    """The background ``start``, or where it cannot be read (reported), the next one that can."""
    for k in range(len(backgrounds)):
        try:
            return load_image(backgrounds[(start + k) % len(backgrounds)])
        except WsshmError as exc:
            log.warning("wsshm-rt: warning: skipping background: %s", exc)
    raise WsshmError("no background image could be read")
