"""Reading a pair: the photo as uint8 RGB and its label (a mask, an alpha matte, or a cut-out's alpha channel) as
float32 in [0, 1] at the photo's size. A label of another size is resized only when it has the photo's aspect ratio
(a label folder saved at half size); one of another shape (rotated, cropped, another photo's) is refused."""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np

from ...errors import WsshmError
from ...image_bytes import header_size, read_path
from ...images import load_image
from .layouts import Pair

# How far a label's aspect ratio may be from its photo's and still be a scaled copy of it: its sides rounded to
# whole pixels (one pixel either way), or this share of a side (a resize that rounded generously).
ASPECT_TOLERANCE = 0.02


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
    from PIL import Image, ImageOps

    try:
        data = read_path(path)
        header_size(data, str(path))  # a decompression bomb is refused here, before convert() decodes it
        with Image.open(io.BytesIO(data)) as im:
            if im.mode not in ("RGBA", "LA", "PA") and not (im.mode == "P" and "transparency" in im.info):
                return None
            # Turned upright by its EXIF orientation, as load_image turns photos and grey labels (and as the
            # pairing's size check reads them).
            alpha = np.asarray(ImageOps.exif_transpose(im).convert("RGBA"))[..., 3]
    except Exception:  # unreadable here: load_image reports it in its own words
        return None
    return None if alpha.min() == alpha.max() else np.ascontiguousarray(alpha)


def same_aspect(size: tuple[int, int], other: tuple[int, int]) -> bool:
    """True when two (width, height) sizes are one picture at two resolutions: the smaller one's sides are the
    larger's scaled, give or take a rounding to whole pixels or ASPECT_TOLERANCE of a side."""
    (ws, hs), (wl, hl) = sorted((size, other), key=lambda s: s[0] * s[1])
    if min(ws, hs, wl, hl) <= 0:
        return False
    # Either side may be the one a resize rounded, so the shape passes if either side fits the other's scale.
    return (abs(hs - ws * hl / wl) <= max(1.0, ASPECT_TOLERANCE * hs)
            or abs(ws - hs * wl / hl) <= max(1.0, ASPECT_TOLERANCE * ws))


def shape_mismatch(pair: Pair, size: tuple[int, int], label_size: tuple[int, int]) -> str | None:
    """The sentence saying why a label of (width, height) ``label_size`` is no label of a photo of ``size``; None if
    it is (the same size, or the same aspect ratio at another resolution)."""
    if size == label_size or same_aspect(size, label_size):
        return None
    return (f"{pair.label} is {label_size[0]}x{label_size[1]} pixels but its image {pair.image.name} is "
            f"{size[0]}x{size[1]}: another aspect ratio (a rotated, cropped or another photo's label)")


def read_pair(pair: Pair) -> tuple[np.ndarray, np.ndarray]:
    """uint8 RGB Shape(H, W, 3) and its label float32 in [0, 1] resized to Shape(H, W) if it differs. A label of
    another aspect ratio is a WsshmError (the datasets report it and use the next pair)."""
    rgb, lab = load_image(pair.image), load_label(pair.label)
    if lab.shape != rgb.shape[:2]:
        mismatch = shape_mismatch(pair, rgb.shape[1::-1], lab.shape[::-1])
        if mismatch:
            raise WsshmError(mismatch)
        lab = cv2.resize(lab, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_LINEAR)
    return rgb, lab
