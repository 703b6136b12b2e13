"""The still-image guided refinement (``refine="guided"``, what ``Matter`` returns by default): the network's alpha,
predicted at the inference size, brought back to the image's size by a colour guided filter that follows the image's
edges. Runtime code (numpy + OpenCV only; no cv2.ximgproc: opencv-python-headless does not ship it); video frames use
it too (``frames.FrameMatter``).
"""

from __future__ import annotations

import cv2
import numpy as np

from .errors import check_choice

# Refinement of a still image's (or a frame's) alpha when it is brought back from the inference size: the colour
# guided filter (RGB guide) with a radius of 6.5% of the inference size's shorter side (19 px at 288) and eps 1e-4,
# then the network's own alpha kept where it is sure (> 0.97 or < 0.03) well inside a region: a filter that follows
# colours that closely would otherwise print a face's eyes and mouth into its alpha. Chosen on the held-out split of
# ../shared/data with the bundled model (docs/model-card.md): with the round-9 model, composite boundary MSE
# 57.2 -> 50.9e-3 against the radius 5% / eps 3e-3 filter alone used up to round 9, and every other metric better too.
# The radius is large because it corrects edges that are a few pixels off, not only the upsampling.
REFINE_MODES = ("guided", "none")
REFINE_FRACTION = 0.065
REFINE_EPS = 1e-4
KEEP_SURE = 0.97  # network alpha above this (or below 1 - this) is "sure"
KEEP_ERODE = 0.4  # sure regions are shrunk by this fraction of the refinement radius, then feathered


def box(x: np.ndarray, radius: int) -> np.ndarray:
    """The mean over a (2 radius + 1)-pixel square window, edges reflected."""
    return cv2.boxFilter(x, -1, (2 * radius + 1, 2 * radius + 1), borderType=cv2.BORDER_REFLECT)


def refine_radius(height: int, width: int) -> int:
    """Guided-refinement radius for an alpha predicted at (height, width): 6.5% of its shorter side, at least 1."""
    return max(1, round(REFINE_FRACTION * min(height, width)))


def refine_settings(refine: str) -> dict | None:
    """The refinement's parameters, for reports (eval's JSON): the same name has meant other settings before."""
    if check_refine(refine) == "none":
        return None
    return {"radius_fraction": REFINE_FRACTION, "eps": REFINE_EPS, "keep_sure": KEEP_SURE, "keep_erode": KEEP_ERODE}


def check_refine(refine: str) -> str:
    return check_choice("refine", refine, REFINE_MODES)


def colour_guided_upsample(alpha_small: np.ndarray, frame: np.ndarray, radius: int, eps: float,
                           frame_small: np.ndarray | None = None, keep: np.ndarray | None = None) -> np.ndarray:
    """Fast guided filter with an RGB guide (He et al., eq. 19-21; He & Sun 2015): follows colour edges that a grey
    guide misses (hair against a background of the same brightness).

    alpha_small: float32 Shape(h, w); frame: uint8 RGB Shape(H, W, 3); frame_small: the frame at (h, w) if the
    caller has it. The per-pixel 3x3 systems are solved in closed form at (h, w); the coefficients are upsampled
    bilinearly and applied to the full frame. keep: optional float32 Shape(h, w) in [0, 1], how much of
    ``alpha_small`` itself to keep instead of the filter's output (blended into the coefficients, so no full-size
    buffer is added). Returns float32 Shape(H, W) in [0, 1].
    """
    height, width = frame.shape[:2]
    h, w = alpha_small.shape
    if frame_small is None:
        frame_small = frame if (h, w) == (height, width) else cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA)
    # Planar: one contiguous array per colour channel. Interleaved Shape(h, w, 3) arrays, broadcasting and fancy
    # indexing made the same sums 2x slower (the per-frame cost of video at 640x480).
    r, g, b = (c.astype(np.float32) * np.float32(1 / 255) for c in cv2.split(frame_small))
    p = alpha_small.astype(np.float32, copy=False)
    mr, mg, mb, mp = (box(x, radius) for x in (r, g, b, p))
    cov = [box(c * p, radius) - m * mp for c, m in ((r, mr), (g, mg), (b, mb))]
    srr, sgg, sbb = (box(c * c, radius) - m * m + np.float32(eps) for c, m in ((r, mr), (g, mg), (b, mb)))
    srg, srb, sgb = (box(c1 * c2, radius) - m1 * m2 for c1, c2, m1, m2 in ((r, g, mr, mg), (r, b, mr, mb),
                                                                         (g, b, mg, mb)))
    # Solve sigma a = cov per pixel by Cholesky (sigma = L L^T, symmetric positive definite): stable in float32 where
    # the cofactor inverse cancels (a grey guide, r = g = b, makes sigma nearly singular; cofactors gave alphas off
    # by 0.66 at eps 3e-5). Each pivot is at least about eps; the floor only guards against rounding.
    floor = np.float32(eps * 1e-3)
    l11 = np.sqrt(srr)
    l21, l31 = srg / l11, srb / l11
    l22 = np.sqrt(np.maximum(sgg - l21 * l21, floor))
    l32 = (sgb - l31 * l21) / l22
    l33 = np.sqrt(np.maximum(sbb - l31 * l31 - l32 * l32, floor))
    y1 = cov[0] / l11
    y2 = (cov[1] - l21 * y1) / l22
    y3 = (cov[2] - l31 * y1 - l32 * y2) / l33
    a3 = y3 / l33
    a2 = (y2 - l32 * a3) / l22
    a = [(y1 - l21 * a2 - l31 * a3) / l11, a2, a3]
    offset = box(mp - (a[0] * mr + a[1] * mg + a[2] * mb), radius)
    a = [box(a_c, radius) * np.float32(1 / 255) for a_c in a]  # a is applied to the uint8 frame
    if keep is not None:  # out = (1 - keep) * (a . I + offset) + keep * p
        rest = 1.0 - keep
        a = [a_c * rest for a_c in a]
        offset += keep * (p - offset)
    size = None if (h, w) == (height, width) else (width, height)
    out = offset if size is None else cv2.resize(offset, size, interpolation=cv2.INTER_LINEAR)
    for c in range(3):  # one full-size channel at a time: a 10000x10000 photo stays under 2 GB
        a_c = a[c]
        if size is not None:
            a_c = cv2.resize(a_c, size, interpolation=cv2.INTER_LINEAR)
        a_c *= frame[..., c]
        out += a_c
    return np.clip(out, 0.0, 1.0, out=out)


def guided_refine(alpha_small: np.ndarray, frame: np.ndarray, frame_small: np.ndarray | None = None) -> np.ndarray:
    """The SDK's guided refinement (``refine="guided"``): ``alpha_small`` predicted at the inference size, brought
    to ``frame``'s size by the colour guided filter (radius ``refine_radius``, eps ``REFINE_EPS``), keeping the
    network's alpha where it is sure (``sure_interior``)."""
    small = np.clip(alpha_small.astype(np.float32, copy=False), 0.0, 1.0)
    radius = refine_radius(*small.shape)
    return colour_guided_upsample(small, frame, radius, REFINE_EPS, frame_small, keep=sure_interior(small, radius))


def sure_interior(alpha: np.ndarray, radius: int) -> np.ndarray:
    """Weight in [0, 1] of the network's own alpha: 1 well inside regions where it is above ``KEEP_SURE`` or below
    ``1 - KEEP_SURE`` (shrunk by ``KEEP_ERODE * radius`` px), feathered (Gaussian) so no seam shows, 0 near edges."""
    size = max(1, round(KEEP_ERODE * radius))
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * size + 1, 2 * size + 1))
    # Each side shrunk on its own: where the alpha jumps straight from sure foreground to sure background, the
    # edge between them is still the filter's.
    keep = sum(cv2.erode(side.astype(np.uint8), disk, borderType=cv2.BORDER_REPLICATE).astype(np.float32)
               for side in (alpha > KEEP_SURE, alpha < 1.0 - KEEP_SURE))
    return cv2.GaussianBlur(keep, (0, 0), size / 2)
