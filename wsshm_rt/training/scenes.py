"""Copy-paste scenes: people cut out of labelled photos, pasted 1..N at a time onto backgrounds or other photos.

The label of a scene is the union of the people in it, in their occlusion order (a person pasted later covers the
ones before). This is how the model meets people small in the frame, full-body, off-centre, cut by the frame edge
and several at once, which the portrait sets never show it. Every random choice comes from the sample's key.
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from ..errors import WsshmError
from ..images import load_image
from . import augment
from .data import Pair, SampleKey, read_pair, sample

log = logging.getLogger(__name__)


def person_box(label: np.ndarray) -> tuple[int, int, int, int] | None:
    """(top, bottom, left, right) of the label's pixels > 0.5, bottom/right exclusive; None if there are none."""
    rows, cols = np.flatnonzero((label > 0.5).any(1)), np.flatnonzero((label > 0.5).any(0))
    if rows.size == 0:
        return None
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def paste(canvas: np.ndarray, label: np.ndarray, rgb: np.ndarray, alpha: np.ndarray, top: int, left: int,
          soft: bool) -> None:
    """Paste a person (uint8 RGB and alpha in [0, 1], Shape(h, w)) at (top, left) of ``canvas``/``label`` in place;
    parts outside the canvas are cut. ``soft=False``: the alpha is a binary mask, feathered by half a pixel for the
    picture so the cut-out's old background does not show as a hard fringe; the label keeps it binary."""
    H, W = label.shape
    t, l, b, r = max(top, 0), max(left, 0), min(top + alpha.shape[0], H), min(left + alpha.shape[1], W)
    if t >= b or l >= r:
        return
    a = alpha[t - top:b - top, l - left:r - left]
    a_img = a if soft else cv2.GaussianBlur(a, (0, 0), 0.5)
    c = canvas[t:b, l:r].astype(np.float32)
    canvas[t:b, l:r] = (a_img[..., None] * rgb[t - top:b - top, l - left:r - left] + (1 - a_img[..., None]) * c
                        + 0.5).astype(np.uint8)
    label[t:b, l:r] = a + (1 - a) * label[t:b, l:r]


class ScenesDataset:
    """Samples like SegDataset's (src, true_seg, valid, and src_strong with ``two_views``), each a new scene.

    people: labelled pairs (photo + mask, or foreground + alpha with ``soft``); canvases: photos with masks (their
    person stays in the label) and person-free backgrounds, half of the scenes on each when both are given.
    """

    def __init__(self, people: list[tuple[Pair, bool]], canvases: list[Pair], backgrounds: list[Path], cfg,
                 heights: tuple[float, float], max_people: int, two_views: bool = False):
        if not people or not (canvases or backgrounds):
            raise WsshmError("copy-paste scenes need labelled people and photos or backgrounds to paste them on")
        self.people, self.canvases, self.backgrounds, self.cfg = people, canvases, backgrounds, cfg
        self.heights, self.max_people, self.two_views = heights, max_people, two_views

    def __len__(self) -> int:
        return len(self.people)

    def __getitem__(self, key: SampleKey) -> dict:
        rng = np.random.default_rng([*key.seed, 3])
        canvas, label = self.scene(rng, key.side)
        return sample(canvas, label, rng, self.cfg, self.two_views)

    def scene(self, rng: np.random.Generator, side: int) -> tuple[np.ndarray, np.ndarray]:
        """(uint8 RGB Shape(side, side, 3), label float32 Shape(side, side)) of one new scene."""
        canvas, label = self.canvas(rng, side)
        for _ in range(int(rng.integers(1, self.max_people + 1))):
            self.add_person(canvas, label, rng)
        return canvas, label

    def canvas(self, rng: np.random.Generator, side: int) -> tuple[np.ndarray, np.ndarray]:
        use_photo = self.canvases and (not self.backgrounds or rng.random() < 0.5)
        if use_photo:
            rgb, lab = self._read(self.canvases, rng, read_pair)
            c = self.cfg
            g = augment.random_geometry(rng, *rgb.shape[:2], side, c.scale_max, c.flip, c.scale_min)
            lab = (augment.apply_geometry(lab, g, True) > 0.5).astype(np.float32)
            return augment.apply_geometry(rgb, g).copy(), lab
        bgr = self._read(self.backgrounds, rng, load_image)
        return np.ascontiguousarray(augment.cover_crop(bgr, side, side, rng)), np.zeros((side, side), np.float32)

    def add_person(self, canvas: np.ndarray, label: np.ndarray, rng: np.random.Generator) -> None:
        pair, soft = self.people[int(rng.integers(len(self.people)))]
        try:
            rgb, alpha = read_pair(pair)
        except WsshmError as exc:
            log.warning("wsshm-rt: warning: copy-paste: skipping %s", exc)
            return
        box = person_box(alpha)
        if box is None:
            return
        t, b, l, r = box
        # A person the photo's frame cuts at the bottom (a portrait) keeps that cut at the bottom of the scene.
        cut_at_bottom = b >= alpha.shape[0] - 1
        rgb, alpha = rgb[t:b, l:r], alpha[t:b, l:r]
        side = label.shape[0]
        lo, hi = self.heights
        s = side * float(np.exp(rng.uniform(np.log(lo), np.log(hi)))) / (b - t)
        w, h = max(1, round((r - l) * s)), max(1, round((b - t) * s))
        rgb = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
        alpha = cv2.resize(alpha, (w, h), interpolation=cv2.INTER_LINEAR)
        if not soft:
            alpha = (alpha > 0.5).astype(np.float32)
        if rng.random() < 0.5:
            rgb, alpha = rgb[:, ::-1], alpha[:, ::-1]
        left = int(rng.integers(-(w // 2), side - w // 2 + 1))
        if cut_at_bottom:
            top = side - h + int(rng.integers(0, h // 3 + 1))
        else:
            top = int(rng.integers(-(h // 4), side - h // 2 + 1))
        paste(canvas, label, np.ascontiguousarray(rgb), np.ascontiguousarray(alpha), top, left, soft)

    @staticmethod
    def _read(items: list, rng: np.random.Generator, read):
        start = int(rng.integers(len(items)))
        for k in range(min(len(items), 8)):
            try:
                return read(items[(start + k) % len(items)])
            except WsshmError as exc:
                log.warning("wsshm-rt: warning: copy-paste: skipping %s", exc)
        raise WsshmError("copy-paste: none of 8 files in a row could be read")


MANIFEST = "scenes.json"  # how make-scenes made its output folder and which files it wrote (data/outputs.py)


def write_scenes(seg_dirs: list, backgrounds, out, count: int, side: int = 480, max_people: int = 6,
                 heights: tuple[float, float] = (0.15, 1.0), split_side: str = "val", split_seed: int = 0,
                 val_fraction: float = 0.1, seed: int = 0) -> int:
    """Write ``count`` fixed multi-person scenes (images/ + masks/) for evaluation, made only of the people of one
    side of each folder's split (``split_side="val"``: photos no training run with ``split_seed`` trains on).

    ``out`` then holds these scenes only: the scenes an earlier make-scenes wrote there (scenes.json lists them) are
    deleted first, so an evaluation never scores old and new scenes together. A folder holding any other file, or
    one that is, holds or lies in a folder the people or backgrounds come from, is refused before anything changes.
    """
    from types import SimpleNamespace

    from .. import __version__
    from ..files import make_folder
    from ..images import save_image
    from .data import find_backgrounds, find_pairs, select_split
    from .data.outputs import check_apart, check_output, clear_output, write_manifest

    sources = [("the --seg folder", Path(d)) for d in seg_dirs]
    check_apart(out, "--out", sources + ([("the --backgrounds folder", Path(backgrounds))] if backgrounds else []))
    check_output(out, MANIFEST, "make-scenes", "--out")
    people = [p for d in seg_dirs for p in select_split(find_pairs(d, "segmentation"), split_side, val_fraction,
                                                         split_seed)]
    bgs = find_backgrounds(backgrounds) if backgrounds else []
    geometry = SimpleNamespace(scale_max=1.2, flip=True, scale_min=1.0)
    # On backgrounds only when there are some: a person standing on a portrait's face is no test of anything.
    scenes = ScenesDataset([(p, False) for p in people], [] if bgs else people, bgs, geometry, heights, max_people)
    clear_output(out, MANIFEST, "make-scenes", "--out")
    images, masks = make_folder(Path(out) / "images"), make_folder(Path(out) / "masks")
    names = [f"scene{i:04d}.png" for i in range(count)]
    # Listed before they are written: a run stopped half-way leaves a folder the next run may replace.
    write_manifest(out, MANIFEST, [f"{sub}/{n}" for sub in ("images", "masks") for n in names],
                   written_by="wsshm-rt make-scenes", wsshm_rt_version=__version__,
                   seg=[str(d) for d in seg_dirs], backgrounds=str(backgrounds) if backgrounds else None, count=count,
                   side=side, max_people=max_people, heights=list(heights), split=split_side, split_seed=split_seed,
                   val_fraction=val_fraction, seed=seed)
    for i, name in enumerate(names):
        rgb, label = scenes.scene(np.random.default_rng([seed, i]), side)
        save_image(images / name, rgb)
        save_image(masks / name, ((label > 0.5) * 255).astype(np.uint8))
    return count
