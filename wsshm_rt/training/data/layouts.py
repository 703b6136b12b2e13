"""Where the training data is: image and label folders of the known dataset layouts, paired by file stem, and the
background folder; files that cannot be paired or read are reported (a warning) and skipped."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import NamedTuple

from ...errors import WsshmError
from ...files import IMAGE_SUFFIXES

log = logging.getLogger(__name__)

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
        log.warning("wsshm-rt: warning: %s: skipped %d unpaired and %d unreadable file(s) of %d", img_dir.parent,
                    unpaired, corrupt, len(images) + len(labels))
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
        log.warning("wsshm-rt: warning: %s: skipped %d unreadable background(s) of %d", root, len(found) - len(files),
                    len(found))
    if not files:
        raise WsshmError(f"{root} holds no readable background images")
    return files
