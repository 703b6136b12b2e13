"""Foreground colour estimation: blur-fusion (Forte & Pitie 2021, "Approximate fast foreground colour estimation"),
two passes: a wide box filter, then a narrow one that uses the first pass's foreground and background.

The wide pass is a box mean over ~9% of the frame, so it is computed at a reduced working resolution and
upsampled per strip; the narrow pass runs strip by strip with overlap margins. On video, the estimate can be made
on the small frame the network saw and only its colour correction upsampled (``lowres``).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from .strips import (STRIP_PIXELS, alpha_rows, block_mean, check_inputs, odd, rep3, strips, unit_rgb, unit_to_uint8,
                     upsample_rows)

# Box widths of the two blur-fusion passes for a 1024 px long side (the paper's 90 and 6, made odd so the
# filter is centred); they scale linearly with the long side so the result does not depend on resolution.
WIDE_BOX_AT_1024 = 91
FINE_BOX_AT_1024 = 7
# The wide pass is computed at a long side of at most this many pixels: its output is a box mean over ~9% of
# the frame, so nothing is lost by working coarse, and time and memory stay flat for huge photos.
WIDE_WORK_SIDE = 1024
EPS = 1e-5  # as in the paper: keeps the weighted means finite where the weights vanish


def blur_box_sizes(height: int, width: int) -> tuple[int, int]:
    """Odd box widths (wide, fine) of the two blur-fusion passes for a frame: (91, 7) at a 1024 px long side."""
    scale = max(height, width) / 1024.0
    return odd(WIDE_BOX_AT_1024 * scale), odd(FINE_BOX_AT_1024 * scale)


def estimate_foreground(image: np.ndarray, alpha: np.ndarray, *, strip_rows: int | None = None) -> np.ndarray:
    """Blur-fusion foreground colours, so hair does not keep the old background's colour.

    image: uint8 RGB Shape(H, W, 3); alpha: float [0, 1] (or uint8) Shape(H, W).
    Returns the foreground as uint8 RGB Shape(H, W, 3). ``strip_rows`` forces the strip height (else automatic).
    """
    image, alpha = check_inputs(image, alpha)
    out = np.empty(image.shape, np.uint8)
    for y0, y1, fg in foreground_strips(image, alpha, strip_rows):
        out[y0:y1] = unit_to_uint8(fg)
    return out


def foreground_strips(image, alpha, strip_rows=None, estimate=True, lowres=None):
    """Yield (y0, y1, fg) with fg float32 [0, 1] Shape(y1 - y0, W, 3), strip by strip.

    ``estimate`` False: the image's own colours; ``lowres``: see compose.replace_background.
    """
    height, width = alpha.shape
    wide_box, fine_box = blur_box_sizes(height, width)
    margin = fine_box // 2
    rows = strip_rows or max(STRIP_PIXELS // width, 4 * margin, 16)
    if not estimate:
        for y0, y1 in strips(height, rows):
            yield y0, y1, unit_rgb(image[y0:y1])
        return
    if lowres is not None:
        colour_gap = _lowres_colour_gap(image, lowres)
        if colour_gap is not None:
            for y0, y1 in strips(height, rows):
                gap = upsample_rows(colour_gap, y0, y1, height, width)
                gap *= rep3(1.0 - alpha_rows(alpha, y0, y1))
                gap += unit_rgb(image[y0:y1])
                yield y0, y1, np.clip(gap, 0.0, 1.0, out=gap)
            return
    yield from _blur_fusion_strips(image, alpha, rows, wide_box, fine_box)


def _blur_fusion_strips(image, alpha, rows, wide_box, fine_box, with_background=False):
    """Yield (y0, y1, F) or, ``with_background``, (y0, y1, F, B): blur-fusion estimates, float32 [0, 1]."""
    height, width = alpha.shape
    margin = fine_box // 2
    fg_wide, bg_wide = _wide_means(image, alpha, wide_box)
    for y0, y1 in strips(height, rows):
        m0, m1 = max(0, y0 - margin), min(height, y1 + margin)
        fg, bg = _fine_pass(image[m0:m1], alpha_rows(alpha, m0, m1), upsample_rows(fg_wide, m0, m1, height, width),
                            upsample_rows(bg_wide, m0, m1, height, width), fine_box)
        if with_background:
            yield y0, y1, fg[y0 - m0:y1 - m0], bg[y0 - m0:y1 - m0]
        else:
            yield y0, y1, fg[y0 - m0:y1 - m0]


def _lowres_colour_gap(image, lowres):
    """F - B (float32 Shape(h, w, 3)) estimated on ``lowres = (image_small, alpha_small)``; None when the small
    pair is not smaller than ``image`` (then the full-resolution estimate costs no more).

    Since I = a F + (1 - a) B, the foreground is F = I + (1 - a) (F - B): with the smooth gap F - B taken from
    the small pair, the full-resolution F keeps every pixel of I where a = 1 and corrects only the soft edge.
    """
    small, small_alpha = check_inputs(*lowres)
    height, width = small_alpha.shape
    if height * width >= image.shape[0] * image.shape[1]:
        return None
    wide_box, fine_box = blur_box_sizes(height, width)
    if max(height, width) <= WIDE_WORK_SIDE:  # the usual case (video frames): one channel plane at a time
        return cv2.merge(_planar_gap(small, small_alpha, wide_box, fine_box))
    gap = np.empty(small.shape, np.float32)
    rows = max(STRIP_PIXELS // width, 2 * fine_box, 16)
    for y0, y1, fg, bg in _blur_fusion_strips(small, small_alpha, rows, wide_box, fine_box, with_background=True):
        np.subtract(fg, bg, out=gap[y0:y1])
    return gap


def _planar_gap(image, alpha, wide_box, fine_box) -> list[np.ndarray]:
    """F - B per colour channel, float32 Shape(h, w) each: the sums of _wide_means and _fine_pass on a whole image
    of at most WIDE_WORK_SIDE px (so at full working resolution), one contiguous plane per channel instead of
    Shape(h, w, 3) arrays; the same numbers, 2x faster on a 256x341 video frame."""
    a = alpha_rows(alpha, 0, len(alpha))
    wide, fine = (wide_box, wide_box), (fine_box, fine_box)
    a_wide, a_fine = cv2.blur(a, wide), cv2.blur(a, fine)
    gaps = []
    for c in cv2.split(image):
        c = c.astype(np.float32) * np.float32(1 / 255)
        c_a = c * a
        fg_wide = cv2.blur(c_a, wide) / (a_wide + EPS)
        bg_wide = cv2.blur(np.subtract(c, c_a, out=c_a), wide) / (1 + EPS - a_wide)
        fg1 = _fuse(c, a, fg_wide, bg_wide)
        fg_mean = cv2.blur(np.multiply(fg1, a, out=fg1), fine)
        fg_mean /= a_fine + EPS
        bg_mean = cv2.blur(bg_wide - bg_wide * a, fine)
        bg_mean /= 1 + EPS - a_fine
        gaps.append(np.subtract(_fuse(c, a, fg_mean, bg_mean), bg_mean))
    return gaps


def _wide_means(image, alpha, wide_box):
    """First blur-fusion pass at the working resolution: box means (F_mean, B_mean), float32 Shape(h, w, 3) each."""
    height, width = alpha.shape
    factor = math.ceil(max(height, width) / WIDE_WORK_SIDE)

    def weighted_rows(y0, y1):
        a = alpha_rows(alpha, y0, y1)
        rgb = unit_rgb(image[y0:y1])
        rgb_a = rgb * rep3(a)
        return rgb_a, a, np.subtract(rgb, rgb_a, out=rgb)  # I*a, a, I*(1-a)

    box = (odd(wide_box / factor),) * 2
    # One cv2.blur per array: OpenCV's box filter is several times slower on 7 interleaved channels.
    rgb_a, a, rgb_b = (cv2.blur(x, box) for x in block_mean(weighted_rows, height, width, factor))
    a = rep3(a)
    rgb_a /= a + EPS
    rgb_b /= 1 + EPS - a
    return rgb_a, rgb_b


def _fine_pass(image, alpha, fg_wide, bg_wide, box):
    """Both blur-fusion updates for one strip; returns (F, B_mean), float32 [0, 1] Shape(R, W, 3) each."""
    rgb, a = unit_rgb(image), rep3(alpha)
    fg1 = _fuse(rgb, a, fg_wide, bg_wide)
    a_mean = rep3(cv2.blur(alpha, (box, box)))
    fg_mean = cv2.blur(np.multiply(fg1, a, out=fg1), (box, box))
    fg_mean /= a_mean + EPS
    bg_mean = cv2.blur(bg_wide - bg_wide * a, (box, box))
    bg_mean /= 1 + EPS - a_mean
    return _fuse(rgb, a, fg_mean, bg_mean), bg_mean


def _fuse(rgb, a, fg_mean, bg_mean):
    """F = F_mean + a * (I - a * F_mean - (1 - a) * B_mean), clipped to [0, 1] (the paper's update).

    Evaluated as F_mean + a * ((I - B_mean) - a * (F_mean - B_mean)) to need only two temporaries.
    """
    fg = rgb - bg_mean
    diff = fg_mean - bg_mean
    diff *= a
    fg -= diff
    fg *= a
    fg += fg_mean
    return np.clip(fg, 0.0, 1.0, out=fg)
