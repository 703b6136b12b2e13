"""Test-time augmentation: the network also sees the mirrored image (``flip``) and the image at 1.4x the size
(``flip+scale``), merged into one alpha. ``tta_alphas`` is what ``Matter.predict_batch`` returns and what
``wsshm-rt eval`` scores for torch weights."""

from __future__ import annotations

import cv2
import numpy as np

from .errors import check_choice
from .preprocess import Geometry, resize_for_inference, restore


TTA_MODES = ("flip+scale", "flip", "none")
# The modes a video frame takes: frames are downscaled before the network, so flip+scale's larger pass would see no
# more detail (``video``/``webcam`` refuse it; a stream of a flip+scale session flips, ``frame_tta``).
FRAME_TTA_MODES = ("none", "flip")

# tta="flip+scale": a third pass at SCALE_FACTOR x the inference size, averaged in (weight SCALE_WEIGHT) only where
# it agrees with the flip pass to within SCALE_AGREE. Chosen on the held-out split with the round-14 model
# (docs/model-card.md, "Two sizes"): the larger pass draws hair and soft edges better, the smaller one is surer
# of what is person, so where they disagree by much the smaller one is kept.
SCALE_FACTOR = 1.4
SCALE_AGREE = 0.35
SCALE_WEIGHT = 0.5


def check_tta(tta: str) -> str:
    return check_choice("tta", tta, TTA_MODES)


def frame_tta(tta: str) -> str:
    """The mode a stream of a session with test-time augmentation ``tta`` runs on its frames."""
    return tta if tta in FRAME_TTA_MODES else "flip"


def scale_side(short_side: int) -> int:
    """The shorter side of tta="flip+scale"'s extra pass."""
    return round(short_side * SCALE_FACTOR)


def merge_scale(alpha: np.ndarray, alpha_large: np.ndarray, rows: int = 1024) -> np.ndarray:
    """tta="flip+scale": the alpha at the inference size (flip-merged) and the one from the larger pass, both at
    the image's size -> alpha + SCALE_WEIGHT * (alpha_large - alpha) where the two agree to within SCALE_AGREE,
    with the agreement mask feathered (Gaussian, sigma min(h, w) / 300 px) so no seam shows.

    Written into ``alpha_large``'s buffer, ``rows`` rows at a time, so that a 100-megapixel photo needs no
    full-size temporaries beyond one uint8 mask (the result is the same as in one piece).
    """
    h = alpha.shape[0]
    sigma = max(1.0, min(alpha.shape) / 300)
    agree = np.empty(alpha.shape, np.uint8)
    for y in range(0, h, rows):
        agree[y:y + rows] = np.abs(alpha_large[y:y + rows] - alpha[y:y + rows]) < SCALE_AGREE
    margin = int(np.ceil(4 * sigma)) + 2  # beyond the Gaussian's reach (OpenCV cuts it at 4 sigma for float)
    out = alpha_large if alpha_large.dtype == np.float32 else alpha_large.astype(np.float32)
    for y in range(0, h, rows):
        y0, y1 = max(0, y - margin), min(h, y + rows + margin)
        gate = cv2.GaussianBlur(agree[y0:y1].astype(np.float32), (0, 0), sigma)[y - y0:y - y0 + min(rows, h - y)]
        base = alpha[y:y + rows]
        part = out[y:y + rows]
        part -= base
        part *= gate
        part *= np.float32(SCALE_WEIGHT)
        part += base
        np.clip(part, 0.0, 1.0, out=part)
    return out


def mirrored(resized: np.ndarray) -> np.ndarray:
    """The image at the inference size, mirrored left-right (flip test-time augmentation), before padding."""
    return np.ascontiguousarray(resized[:, ::-1])


def merge_flip(alpha: np.ndarray, alpha_mirrored: np.ndarray, geom: Geometry) -> np.ndarray:
    """Flip test-time augmentation: the mean of the network's alpha for the image and, mirrored back, for the
    mirrored image (``mirrored``, padded the same way). Both padded Shape(H', W'); returns Shape(h, w) at the
    inference size, ready for ``restore``."""
    th, tw = geom.resized_hw
    merged = alpha[:th, :tw] + alpha_mirrored[:th, :tw][:, ::-1]
    return (merged * np.float32(0.5)).astype(np.float32, copy=False)


def tta_alphas(run, rgbs: list[np.ndarray], short_side: int, tta: str, guided: bool,
               max_long_side: int | None = 2048) -> list[np.ndarray]:
    """Alphas at the images' sizes with test-time augmentation ``tta``: what ``Matter.predict_batch`` returns, and
    what ``wsshm-rt eval`` scores for torch weights.

    run: images at an inference size -> the network's alphas, each Shape(H', W') padded to a multiple of 32.
    guided: bring each alpha back with the guided refinement (``restore`` with the image as guide).
    """
    def at(side: int, flip: bool) -> list[np.ndarray]:
        sized = [resize_for_inference(rgb, side, max_long_side) for rgb in rgbs]
        alphas = run([small for small, _ in sized])
        if flip:
            flipped = run([mirrored(small) for small, _ in sized])
            alphas = [merge_flip(a, m, geom) for a, m, (_, geom) in zip(alphas, flipped, sized)]
        return [restore(alpha, geom, *((rgb, small) if guided else ()))
                for alpha, (small, geom), rgb in zip(alphas, sized, rgbs)]

    tta = check_tta(tta)
    out = at(short_side, tta != "none")
    if tta == "flip+scale":
        out = [merge_scale(a, b) for a, b in zip(out, at(scale_side(short_side), False))]
    return out
