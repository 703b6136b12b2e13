"""Where the training data is: image and label folders of the known dataset layouts, paired by file stem, and the
background folder; files that cannot be paired or read, and labels of another aspect ratio than their image, are
reported (a warning) and skipped."""

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
    from .labels import shape_mismatch

    images, labels = _images_in(img_dir), _images_in(lab_dir)
    stems = sorted(images.keys() & labels.keys())
    unpaired = len(images.keys() ^ labels.keys())
    pairs, bad, misshapen = [], [], []
    for s in stems:
        pair = Pair(images[s], labels[s])
        size, label_size = _shown_size(pair.image), _shown_size(pair.label)
        if size is None or label_size is None:
            bad.append(pair)
        elif shape_mismatch(pair, size, label_size):
            # Stretched to fit, a rotated or cropped label would teach (or score) the wrong pixels without a word.
            misshapen.append((pair, size, label_size))
        else:
            pairs.append(pair)
    if skipped is not None:
        skipped.extend(p.image for p in bad + [m[0] for m in misshapen])
    corrupt = len(bad)
    if unpaired or corrupt:
        log.warning("wsshm-rt: warning: %s: skipped %d unpaired and %d unreadable file(s) of %d", img_dir.parent,
                    unpaired, corrupt, len(images) + len(labels))
    if misshapen:
        named = "; ".join(f"{p.label.parent.name}/{p.label.name} is {lw}x{lh}, {p.image.parent.name}/{p.image.name} "
                          f"{w}x{h}" for p, (w, h), (lw, lh) in misshapen[:5])
        more = f"; and {len(misshapen) - 5} more" if len(misshapen) > 5 else ""
        log.warning("wsshm-rt: warning: %s: skipped %d pair(s) whose label has another aspect ratio than its image "
                    "(rotated or cropped?): %s%s", img_dir.parent, len(misshapen), named, more)
    if not pairs:
        why = f"; {len(misshapen)} label(s) have another aspect ratio than their image" if misshapen else ""
        raise WsshmError(f"{img_dir.parent} holds no readable {kind} pairs ({img_dir.name}/ and {lab_dir.name}/ "
                         f"files must share a name{why})")
    return pairs


def _readable(path: Path) -> bool:
    """Cheap header check (no full decode); truncated files are caught again at load time."""
    return _shown_size(path) is not None


def _shown_size(path: Path) -> tuple[int, int] | None:
    """(width, height) of the image as ``load_image`` returns it, from a cheap header check (no full decode); None
    when the file is not a readable image. Truncated files are caught again at load time.

    An EXIF orientation of 5-8 (a camera held on its side) swaps the sides, as decoding applies it; Pillow's TIFF
    size is oriented already, and a PNG's EXIF is looked at only where its header holds it (else Pillow would
    decode the whole file to look further).
    """
    from PIL import Image

    try:
        with Image.open(path) as im:
            w, h = im.size
            oriented = im.format != "TIFF" and (im.format != "PNG" or "exif" in im.info)
            if oriented and im.getexif().get(0x0112) in (5, 6, 7, 8):
                w, h = h, w
            im.verify()
        return (w, h) if path.stat().st_size > 0 else None
    except Exception:
        return None


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
