"""Reading a pair: the photo as uint8 RGB and its label (a mask, an alpha matte, or a cut-out's alpha channel) as
float32 in [0, 1] at the photo's size."""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np

from ...image_bytes import header_size, read_path
from ...images import load_image
from .layouts import Pair


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
