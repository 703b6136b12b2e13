"""Training data: segmentation pairs (D_s), matte pairs composited on the fly (D_m), backgrounds, splits.

Samples are addressed by a ``SampleKey`` from the batch sampler (sampler.py): the image index, the batch's crop
side and a seed. All randomness of a sample comes from that key, never from global state.
"""

from __future__ import annotations

import io
import sys
import zlib
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np

from ..errors import WsshmError
from ..image_bytes import header_size, read_path
from ..images import IMAGE_SUFFIXES, load_image
from ..preprocess import normalise
from . import augment

# (image folder, label folder), first match wins; names match case-insensitively (Human-2K style FG/ + Alpha/).
# P3M-10k and AM-2k call their alpha mattes "mask"; as segmentation labels they are binarised at 0.5.
SEG_LAYOUTS = [("images", "masks"), ("blurred_image", "mask"), ("original_image", "mask"), ("image", "mask"),
               ("images", "mask"), ("image", "masks")]
# Real photos with their true alpha: P3M-10k / P3M-500-P, P3M-500-NP, AM-2k, PPM-100. They can be composited
# like a foreground for training, and are scored as they are by `wsshm-rt eval` (kind "photo", P3M protocol).
PHOTO_LAYOUTS = [("blurred_image", "mask"), ("original_image", "mask"), ("original", "mask"), ("image", "matte")]
MATTE_LAYOUTS = [("fg", "alpha"), ("image", "alpha"), ("image", "matte"), ("images", "alpha"), ("images", "matte"),
                 ("blurred_image", "mask"), ("original_image", "mask"), ("original", "mask")]


class Pair(NamedTuple):
    image: Path
    label: Path


class SampleKey(NamedTuple):
    index: int
    side: int
    seed: tuple  # (seed, epoch, batch, slot): fixes every random choice of this sample


def warn(msg: str) -> None:
    print(f"wsshm-rt: warning: {msg}", file=sys.stderr, flush=True)


def _images_in(folder: Path) -> dict[str, Path]:
    return {p.stem: p for p in sorted(folder.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()}


def find_pairs(root, kind: str, skipped: list | None = None) -> list[Pair]:
    """Pair images with labels by file stem in ``root`` (or ``root/train``); report and skip the rest (the unreadable
    files are appended to ``skipped``)."""
    root = Path(root)
    if not root.is_dir():
        raise WsshmError(f"{kind} folder {root} does not exist")
    layouts = SEG_LAYOUTS if kind == "segmentation" else MATTE_LAYOUTS
    found = find_layout(root, layouts)
    if found:
        return _pair(*found, kind, skipped)
    names = " or ".join(f"{a}/+{b}/" for a, b in layouts[:3])
    raise WsshmError(f"{root} is not a {kind} folder: expected sub-folders {names}")


def find_layout(root: Path, layouts) -> tuple[Path, Path] | None:
    """(image folder, label folder) of the first layout found in ``root``, then in ``root/train``; else None."""
    root = Path(root)
    for base in (root, subdir(root, "train")):
        if base is None:
            continue
        for img_dir, lab_dir in layouts:
            images, labels = subdir(base, img_dir), subdir(base, lab_dir)
            if images and labels:
                return images, labels
    return None


def subdir(base: Path, name: str) -> Path | None:
    """The folder ``base/name``, its name matched case-insensitively (FG/ for fg/); None if there is none."""
    if (base / name).is_dir():
        return base / name
    if not base.is_dir():
        return None
    return next((p for p in sorted(base.iterdir()) if p.name.lower() == name and p.is_dir()), None)


def _pair(img_dir: Path, lab_dir: Path, kind: str, skipped: list | None = None) -> list[Pair]:
    images, labels = _images_in(img_dir), _images_in(lab_dir)
    stems = sorted(images.keys() & labels.keys())
    unpaired = len(images.keys() ^ labels.keys())
    pairs, bad = [], []
    for s in stems:
        (pairs if _readable(images[s]) and _readable(labels[s]) else bad).append(Pair(images[s], labels[s]))
    if skipped is not None:
        skipped.extend(p.image for p in bad)
    corrupt = len(bad)
    if unpaired or corrupt:
        warn(f"{img_dir.parent}: skipped {unpaired} unpaired and {corrupt} unreadable file(s) of "
             f"{len(images) + len(labels)}")
    if not pairs:
        raise WsshmError(f"{img_dir.parent} holds no readable {kind} pairs ({img_dir.name}/ and {lab_dir.name}/ "
                         "files must share a name)")
    return pairs


def _readable(path: Path) -> bool:
    """Cheap header check (no full decode); truncated files are caught again at load time."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.verify()
        return path.stat().st_size > 0
    except Exception:
        return False


def find_backgrounds(root, skipped: list | None = None) -> list[Path]:
    root = Path(root)
    if not root.is_dir():
        raise WsshmError(f"backgrounds folder {root} does not exist")
    found = list(_images_in(subdir(root, "train") or root).values())
    files = [p for p in found if _readable(p)]
    if skipped is not None:
        skipped.extend(p for p in found if p not in files)
    if len(files) < len(found):
        warn(f"{root}: skipped {len(found) - len(files)} unreadable background(s) of {len(found)}")
    if not files:
        raise WsshmError(f"{root} holds no readable background images")
    return files


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


def load_label(path: Path) -> np.ndarray:
    """Mask or alpha file -> float32 in [0, 1], Shape(H, W).

    Masks stored as class indices 0/1 (common in segmentation sets) are taken as 0/255: read as grey levels they
    would be an all-background label, and a model would learn to find no one.
    """
    grey = _label_alpha_channel(path)
    if grey is None:
        grey = load_image(path)[..., 0]
    if grey.max() == 1:
        grey = grey * np.uint8(255)
    return grey.astype(np.float32) / 255.0


def _label_alpha_channel(path: Path) -> np.ndarray | None:
    """The alpha channel of a label saved as a cut-out (RGBA / grey + alpha PNG, WebP, TIFF), else None.

    A matte exported as the cut-out itself carries the label in its alpha channel; its colour channels are the
    person. Only the header is read for other files; an alpha channel that is constant (an opaque grey mask
    saved with alpha) is not a label, so the grey levels are used.
    """
    from PIL import Image

    try:
        data = read_path(path)
        header_size(data, str(path))  # a decompression bomb is refused here, before convert() decodes it
        with Image.open(io.BytesIO(data)) as im:
            if im.mode not in ("RGBA", "LA", "PA") and not (im.mode == "P" and "transparency" in im.info):
                return None
            alpha = np.asarray(im.convert("RGBA"))[..., 3]
    except Exception:  # unreadable here: load_image reports it in its own words
        return None
    return None if alpha.min() == alpha.max() else np.ascontiguousarray(alpha)


def read_pair(pair: Pair) -> tuple[np.ndarray, np.ndarray]:
    """uint8 RGB Shape(H, W, 3) and its label float32 in [0, 1] resized to Shape(H, W) if it differs."""
    rgb, lab = load_image(pair.image), load_label(pair.label)
    if lab.shape != rgb.shape[:2]:
        lab = cv2.resize(lab, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_LINEAR)
    return rgb, lab


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
                    warn(f"skipping {exc}")
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
    rng = np.random.default_rng([seed, stable_hash(pair.image.name, seed)])
    fg, pha = read_pair(pair)
    bgr = augment.cover_crop(load_background(backgrounds, int(rng.integers(len(backgrounds)))), *fg.shape[:2], rng)
    return augment.composite(fg, pha, bgr), pha


def load_background(backgrounds: list[Path], start: int) -> np.ndarray:
    """The background ``start``, or where it cannot be read (reported), the next one that can."""
    for k in range(len(backgrounds)):
        try:
            return load_image(backgrounds[(start + k) % len(backgrounds)])
        except WsshmError as exc:
            warn(f"skipping background: {exc}")
    raise WsshmError("no background image could be read")
