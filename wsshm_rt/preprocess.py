"""Resize / pad / normalise an image for the network, and bring the alpha back (the paper's evaluation).

Test time: the SHORTER side is resized to ``short_side`` (512 by default), the image is padded to a
multiple of 32, and the predicted alpha is cropped and resized back to the input size.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Geometry:
    """Where a prepared image came from: original (h, w) and resized (h, w) before padding."""

    orig_hw: tuple[int, int]
    resized_hw: tuple[int, int]


def target_size(h: int, w: int, short_side: int, max_long_side: int | None = None) -> tuple[int, int]:
    """(h, w) after scaling the shorter side to ``short_side`` (long side capped at ``max_long_side``)."""
    scale = short_side / min(h, w)
    if max_long_side and max(h, w) * scale > max_long_side:
        scale = max_long_side / max(h, w)
    return max(1, round(h * scale)), max(1, round(w * scale))


def pad_to_multiple(x: np.ndarray, multiple: int = 32) -> np.ndarray:
    """Reflect-pad an (H, W, C) array on the bottom/right so that H and W are multiples of ``multiple``."""
    h, w = x.shape[:2]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph == 0 and pw == 0:
        return x
    mode = cv2.BORDER_REFLECT_101 if min(h, w) > max(ph, pw) else cv2.BORDER_REPLICATE
    return cv2.copyMakeBorder(x, 0, ph, 0, pw, mode)


def normalise(rgb: np.ndarray, mean=IMAGENET_MEAN, std=IMAGENET_STD) -> np.ndarray:
    """uint8 RGB Shape(H, W, 3) -> float32 Shape(3, H, W), normalised."""
    x = rgb.astype(np.float32) * (1.0 / 255.0)
    x = (x - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def resize_for_inference(rgb: np.ndarray, short_side: int = 512,
                         max_long_side: int | None = 2048) -> tuple[np.ndarray, Geometry]:
    """uint8 RGB Shape(H, W, 3) -> (the image at the inference size, its Geometry)."""
    h, w = rgb.shape[:2]
    th, tw = target_size(h, w, short_side, max_long_side)
    interp = cv2.INTER_AREA if th < h else cv2.INTER_LINEAR
    resized = cv2.resize(rgb, (tw, th), interpolation=interp) if (th, tw) != (h, w) else rgb
    return resized, Geometry((h, w), (th, tw))


def to_network(resized: np.ndarray, multiple: int = 32, mean=IMAGENET_MEAN, std=IMAGENET_STD) -> np.ndarray:
    """An image at the inference size -> network input Shape(3, H', W'), padded to multiples of ``multiple``."""
    return normalise(pad_to_multiple(resized, multiple), mean, std)


def prepare(rgb: np.ndarray, short_side: int = 512, multiple: int = 32, mean=IMAGENET_MEAN,
            std=IMAGENET_STD, max_long_side: int | None = 2048) -> tuple[np.ndarray, Geometry]:
    """uint8 RGB Shape(H, W, 3) -> network input Shape(3, H', W') with H', W' multiples of ``multiple``."""
    resized, geom = resize_for_inference(rgb, short_side, max_long_side)
    return to_network(resized, multiple, mean, std), geom


def restore(alpha: np.ndarray, geom: Geometry, guide: np.ndarray | None = None,
            guide_small: np.ndarray | None = None) -> np.ndarray:
    """Padded network alpha Shape(H', W') -> float32 alpha in [0, 1] at the original size.

    guide: the original uint8 RGB image; given, the alpha is brought back with the colour guided filter (He et al.),
    radius 6.5% of the inference size, solved at the inference size and applied at full size, keeping the network's
    alpha where it is sure
    (``refine.guided_refine``), instead of a bilinear resize. guide_small: the image at the inference size
    (``resize_for_inference``'s), if the caller has it, so it is not resized again.
    """
    th, tw = geom.resized_hw
    if guide is not None:
        from .refine import guided_refine

        return guided_refine(alpha[:th, :tw], guide, guide_small)
    a = np.ascontiguousarray(alpha[:th, :tw], dtype=np.float32)
    oh, ow = geom.orig_hw
    if (oh, ow) != (th, tw):
        a = cv2.resize(a, (ow, oh), interpolation=cv2.INTER_LINEAR)
    return np.clip(a, 0.0, 1.0, out=a)
