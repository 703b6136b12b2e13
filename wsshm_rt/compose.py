"""Compositing: foreground colour estimation, RGBA cut-outs and background replacement.

Everything here is numpy + OpenCV and float32 at most. Large frames are processed in horizontal strips
(with overlap margins for the box filters), and the wide, smooth fields (the wide blur-fusion means and a
blurred background) are computed once at a reduced working resolution and bilinearly upsampled per strip,
so a 10000x10000 photo needs only a few hundred MB beyond its own input and output arrays.

Foreground colours follow blur-fusion (Forte & Pitie 2021, "Approximate fast foreground colour estimation"),
two passes: a wide box filter, then a narrow one that uses the first pass's foreground and background.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from .errors import WsshmError
from .images import array_to_rgb, load_image

# Box widths of the two blur-fusion passes for a 1024 px long side (the paper's 90 and 6, made odd so the
# filter is centred); they scale linearly with the long side so the result does not depend on resolution.
WIDE_BOX_AT_1024 = 91
FINE_BOX_AT_1024 = 7
# The wide pass is computed at a long side of at most this many pixels: its output is a box mean over ~9% of
# the frame, so nothing is lost by working coarse, and time and memory stay flat for huge photos.
WIDE_WORK_SIDE = 1024
# A blurred background is computed at a long side of at most this many pixels (then upsampled).
BLUR_WORK_SIDE = 4096
# Pixels per strip: 256 K keeps a strip's float32 temporaries (3 MB each) in cache, which measured ~1.4x
# faster than whole 1024x1024 frames; strips are never thinner than 4 overlap margins.
STRIP_PIXELS = 1 << 18
EPS = 1e-5  # as in the paper: keeps the weighted means finite where the weights vanish

NAMED_COLOURS = {
    "black": (0, 0, 0),
    "white": (255, 255, 255),
    "green": (0, 255, 0),
    "blue": (0, 0, 255),
    "red": (255, 0, 0),
    "gray": (128, 128, 128),
    "grey": (128, 128, 128),
}


@dataclass(frozen=True)
class Background:
    """What goes behind the person: kind is "color" (rgb), "image" (uint8 RGB Shape(h, w, 3)) or "blur".

    For "blur", ``radius`` is the Gaussian radius in pixels (sigma = radius / 3); None picks 2% of the long side.
    """

    kind: str
    rgb: tuple[int, int, int] | None = None
    image: np.ndarray | None = field(default=None, compare=False, repr=False)
    radius: float | None = None


# ---------------------------------------------------------------- small public helpers


def alpha_to_uint8(alpha: np.ndarray) -> np.ndarray:
    """Float alpha in [0, 1], Shape(H, W) -> uint8 Shape(H, W), rounded to nearest (uint8 is returned as is)."""
    alpha = np.asarray(alpha)
    if alpha.dtype == np.uint8:
        return alpha
    out = np.empty(alpha.shape, np.uint8)
    rows = max(1, STRIP_PIXELS // max(1, alpha.shape[-1])) if alpha.ndim == 2 else len(alpha)
    for y in range(0, len(alpha), rows):  # in strips: no frame-sized float temporaries on huge photos
        a = np.clip(alpha[y:y + rows].astype(np.float32, copy=False), 0.0, 1.0)
        out[y:y + rows] = np.rint(a * 255.0)
    return out


def blur_box_sizes(height: int, width: int) -> tuple[int, int]:
    """Odd box widths (wide, fine) of the two blur-fusion passes for a frame: (91, 7) at a 1024 px long side."""
    scale = max(height, width) / 1024.0
    return _odd(WIDE_BOX_AT_1024 * scale), _odd(FINE_BOX_AT_1024 * scale)


def fit_cover(background: np.ndarray, height: int, width: int) -> np.ndarray:
    """Scale uint8 RGB Shape(h, w, 3) to COVER a (height, width) frame keeping its aspect, centre-crop.

    Returns uint8 Shape(height, width, 3).
    """
    rows = _cover_source(np.asarray(background), height, width)
    return _unit_to_uint8(rows(0, height))


# ---------------------------------------------------------------- parsing backgrounds


def parse_background(spec) -> Background:
    """Turn a user spec into a Background.

    Accepted: a Background; a numpy image; an (r, g, b) tuple; a string '#00ff00', '#0f0', 'r,g,b',
    a colour name (black, white, green, blue, red, gray), 'blur' or 'blur:RADIUS'; or a path to an image.
    """
    if isinstance(spec, Background):
        return spec
    if isinstance(spec, np.ndarray):
        return Background("image", image=load_image(spec))
    if isinstance(spec, (tuple, list)) and len(spec) == 3:
        return Background("color", rgb=_check_rgb(spec, str(tuple(spec))))
    if isinstance(spec, os.PathLike):
        return Background("image", image=load_image(spec))
    if not isinstance(spec, str):
        raise WsshmError(f"cannot use a {type(spec).__name__} as a background; pass a colour, 'blur' or an image")
    return _parse_background_text(spec)


def _parse_background_text(text: str) -> Background:
    s = text.strip().lower()
    if s == "blur" or s.startswith("blur:"):
        return Background("blur", radius=_parse_blur_radius(text, s))
    if s.startswith("#"):
        return Background("color", rgb=_parse_hex(text, s[1:]))
    if s in NAMED_COLOURS:
        return Background("color", rgb=NAMED_COLOURS[s])
    if s.count(",") == 2:
        return Background("color", rgb=_parse_rgb_triplet(text, s))
    if Path(text).exists() or Path(text).suffix or "/" in text or "\\" in text:
        return Background("image", image=load_image(text))
    raise WsshmError(
        f"background {text!r} is not a colour ('#00ff00', '#0f0', 'r,g,b' or one of "
        f"{', '.join(sorted(NAMED_COLOURS))}), 'blur[:radius]' or an existing image file"
    )


def _parse_blur_radius(text: str, s: str) -> float | None:
    if s == "blur":
        return None
    try:
        radius = float(s[5:])
    except ValueError:
        radius = -1.0
    if not (math.isfinite(radius) and radius > 0):
        raise WsshmError(f"background {text!r}: the blur radius must be a positive number of pixels, e.g. 'blur:25'")
    return radius


def _parse_hex(text: str, digits: str) -> tuple[int, int, int]:
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    if len(digits) != 6 or any(c not in "0123456789abcdef" for c in digits):
        raise WsshmError(f"background {text!r} is not a hex colour; use '#rrggbb' or '#rgb', e.g. '#00ff00'")
    return tuple(int(digits[i:i + 2], 16) for i in (0, 2, 4))


def _parse_rgb_triplet(text: str, s: str) -> tuple[int, int, int]:
    try:
        values = [int(v) for v in s.split(",")]
    except ValueError:
        raise WsshmError(f"background {text!r} is not an 'r,g,b' colour of three integers 0-255") from None
    return _check_rgb(values, text)


def _check_rgb(values, text: str) -> tuple[int, int, int]:
    try:
        rgb = tuple(int(v) for v in values)
    except (TypeError, ValueError):
        rgb = (-1, -1, -1)
    if any(v < 0 or v > 255 for v in rgb):
        raise WsshmError(f"background colour {text} must be three integers between 0 and 255")
    return rgb


# ---------------------------------------------------------------- public compositing functions


def estimate_foreground(image: np.ndarray, alpha: np.ndarray, *, strip_rows: int | None = None) -> np.ndarray:
    """Blur-fusion foreground colours, so hair does not keep the old background's colour.

    image: uint8 RGB Shape(H, W, 3); alpha: float [0, 1] (or uint8) Shape(H, W).
    Returns the foreground as uint8 RGB Shape(H, W, 3). ``strip_rows`` forces the strip height (else automatic).
    """
    image, alpha = _check_inputs(image, alpha)
    out = np.empty(image.shape, np.uint8)
    for y0, y1, fg in _foreground_strips(image, alpha, strip_rows):
        out[y0:y1] = _unit_to_uint8(fg)
    return out


def cutout_rgba(image: np.ndarray, alpha: np.ndarray, foreground=True, *, lowres=None,
                strip_rows: int | None = None) -> np.ndarray:
    """RGBA cut-out, uint8 Shape(H, W, 4).

    foreground: True estimates foreground colours (default); False or None keeps the image's own colours;
    an array (uint8 RGB Shape(H, W, 3)) is used as given. ``lowres``: see replace_background.
    """
    image, alpha = _check_inputs(image, alpha)
    out = np.empty(image.shape[:2] + (4,), np.uint8)
    if foreground is True:
        for y0, y1, fg in _foreground_strips(image, alpha, strip_rows, lowres=lowres):
            out[y0:y1, :, :3] = _unit_to_uint8(fg)
    else:
        rgb = image if foreground is None or foreground is False else _check_inputs(foreground, alpha)[0]
        out[:, :, :3] = rgb
    out[:, :, 3] = alpha_to_uint8(alpha)
    return out


def replace_background(image: np.ndarray, alpha: np.ndarray, background, estimate_fg: bool = True, *,
                       lowres=None, strip_rows: int | None = None) -> np.ndarray:
    """Composite alpha * F + (1 - alpha) * B; returns uint8 RGB Shape(H, W, 3).

    background: anything parse_background accepts. An image is scaled to cover the frame, a colour fills it,
    'blur' is a Gaussian blur of ``image`` itself. F is the estimated foreground unless ``estimate_fg`` is False.

    lowres: optional ``(image_small, alpha_small)``, the frame and its alpha at the (smaller) inference size.
    The foreground is then estimated there and only its correction F - I is upsampled onto the full image
    (F = I + up(F_small - I_small)), as RobustVideoMatting upsamples its foreground residual: about 3x cheaper
    on video frames, full-resolution detail kept wherever the correction is zero (alpha = 1).
    """
    image, alpha = _check_inputs(image, alpha)
    bg_rows = _background_source(parse_background(background), image)
    out = np.empty(image.shape, np.uint8)
    for y0, y1, fg in _foreground_strips(image, alpha, strip_rows, estimate=estimate_fg, lowres=lowres):
        a, bg = _rep3(_alpha_rows(alpha, y0, y1)), bg_rows(y0, y1)
        fg -= bg
        fg *= a
        fg += bg
        out[y0:y1] = _unit_to_uint8(fg)
    return out


# ---------------------------------------------------------------- blur-fusion internals


def _foreground_strips(image, alpha, strip_rows=None, estimate=True, lowres=None):
    """Yield (y0, y1, fg) with fg float32 [0, 1] Shape(y1 - y0, W, 3), strip by strip."""
    height, width = alpha.shape
    wide_box, fine_box = blur_box_sizes(height, width)
    margin = fine_box // 2
    rows = strip_rows or max(STRIP_PIXELS // width, 4 * margin, 16)
    if not estimate:
        for y0, y1 in _strips(height, rows):
            yield y0, y1, _unit_rgb(image[y0:y1])
        return
    if lowres is not None:
        colour_gap = _lowres_colour_gap(image, lowres)
        if colour_gap is not None:
            for y0, y1 in _strips(height, rows):
                gap = _upsample_rows(colour_gap, y0, y1, height, width)
                gap *= _rep3(1.0 - _alpha_rows(alpha, y0, y1))
                gap += _unit_rgb(image[y0:y1])
                yield y0, y1, np.clip(gap, 0.0, 1.0, out=gap)
            return
    yield from _blur_fusion_strips(image, alpha, rows, wide_box, fine_box)


def _blur_fusion_strips(image, alpha, rows, wide_box, fine_box, with_background=False):
    """Yield (y0, y1, F) or, ``with_background``, (y0, y1, F, B): blur-fusion estimates, float32 [0, 1]."""
    height, width = alpha.shape
    margin = fine_box // 2
    fg_wide, bg_wide = _wide_means(image, alpha, wide_box)
    for y0, y1 in _strips(height, rows):
        m0, m1 = max(0, y0 - margin), min(height, y1 + margin)
        fg, bg = _fine_pass(image[m0:m1], _alpha_rows(alpha, m0, m1), _upsample_rows(fg_wide, m0, m1, height, width),
                            _upsample_rows(bg_wide, m0, m1, height, width), fine_box)
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
    small, small_alpha = _check_inputs(*lowres)
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
    a = _alpha_rows(alpha, 0, len(alpha))
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
        a = _alpha_rows(alpha, y0, y1)
        rgb = _unit_rgb(image[y0:y1])
        rgb_a = rgb * _rep3(a)
        return rgb_a, a, np.subtract(rgb, rgb_a, out=rgb)  # I*a, a, I*(1-a)

    box = (_odd(wide_box / factor),) * 2
    # One cv2.blur per array: OpenCV's box filter is several times slower on 7 interleaved channels.
    rgb_a, a, rgb_b = (cv2.blur(x, box) for x in _block_mean(weighted_rows, height, width, factor))
    a = _rep3(a)
    rgb_a /= a + EPS
    rgb_b /= 1 + EPS - a
    return rgb_a, rgb_b


def _fine_pass(image, alpha, fg_wide, bg_wide, box):
    """Both blur-fusion updates for one strip; returns (F, B_mean), float32 [0, 1] Shape(R, W, 3) each."""
    rgb, a = _unit_rgb(image), _rep3(alpha)
    fg1 = _fuse(rgb, a, fg_wide, bg_wide)
    a_mean = _rep3(cv2.blur(alpha, (box, box)))
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


def _rep3(a: np.ndarray) -> np.ndarray:
    """Shape(R, W) -> Shape(R, W, 3); numpy broadcasting of a trailing size-1 axis is ~6x slower than this copy."""
    return cv2.merge([a, a, a])


def _unit_rgb(image: np.ndarray) -> np.ndarray:
    """uint8 Shape(R, W, 3) -> float32 [0, 1]."""
    return image.astype(np.float32) * np.float32(1 / 255)


# ---------------------------------------------------------------- backgrounds


def _background_source(bg: Background, image: np.ndarray):
    """Return rows(y0, y1) -> float32 [0, 1] Shape(y1 - y0, W, 3) for the parsed background."""
    height, width = image.shape[:2]
    if bg.kind == "color":
        # Contiguous rows: numpy adds and subtracts a broadcast Shape(3) colour 5x slower than a plain array.
        row = np.tile(np.asarray(bg.rgb, np.float32) / 255.0, (1, width, 1))
        return lambda y0, y1: np.repeat(row, y1 - y0, axis=0)
    if bg.kind == "image":
        return _cover_source(bg.image, height, width)
    return _blur_source(image, bg.radius)


def _cover_source(bg: np.ndarray, height: int, width: int):
    """rows(y0, y1) of ``bg`` scaled to cover the frame and centre-cropped, float32 [0, 1]."""
    bg = array_to_rgb(bg)
    scale = max(height / bg.shape[0], width / bg.shape[1])
    if scale < 1:
        # Shrink with area averaging first (no aliasing); the result is no larger than bg itself.
        size = (max(width, round(bg.shape[1] * scale)), max(height, round(bg.shape[0] * scale)))
        bg = cv2.resize(bg, size, interpolation=cv2.INTER_AREA)
        scale = max(height / bg.shape[0], width / bg.shape[1])
    # Enlarging is done per strip by remap so that no frame-sized copy of the background is ever held.
    map_x = (np.arange(width, dtype=np.float32) + (bg.shape[1] * scale - width) / 2 + 0.5) / scale - 0.5
    off_y = (bg.shape[0] * scale - height) / 2

    def rows(y0, y1):
        map_y = (np.arange(y0, y1, dtype=np.float32) + off_y + 0.5) / scale - 0.5
        mx, my = np.broadcast_to(map_x, (y1 - y0, width)), np.broadcast_to(map_y[:, None], (y1 - y0, width))
        out = cv2.remap(bg, np.ascontiguousarray(mx), np.ascontiguousarray(my), cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_REPLICATE)
        return out.astype(np.float32) * np.float32(1 / 255)

    return rows


def _blur_source(image: np.ndarray, radius: float | None):
    """rows(y0, y1) of a Gaussian blur of ``image`` (sigma = radius / 3), float32 [0, 1].

    The blur is computed on a block-averaged copy (long side <= BLUR_WORK_SIDE, and at most sigma / 2 px per
    block) and upsampled per strip; the small blur added by that round trip is taken out of sigma.
    """
    height, width = image.shape[:2]
    radius = radius or max(3.0, 0.02 * max(height, width))
    # Beyond the image's size a wider blur changes nothing visible (it tends to the mean colour), and the
    # block-averaging below would grow with it: cap it there.
    radius = min(radius, 3.0 * max(height, width))
    sigma = radius / 3.0
    factor = max(1, int(sigma // 2), math.ceil(max(height, width) / BLUR_WORK_SIDE))
    (small,) = _block_mean(lambda y0, y1: (image[y0:y1],), height, width, factor)
    small = cv2.GaussianBlur(small, (0, 0), _lowres_sigma(sigma, factor), borderType=cv2.BORDER_REFLECT_101)
    return lambda y0, y1: _upsample_rows(small, y0, y1, height, width) * np.float32(1 / 255)


def _lowres_sigma(sigma: float, factor: int) -> float:
    """Sigma at 1/factor resolution; box-down + bilinear-up already blur by variance factor**2 / 4."""
    if factor == 1:
        return sigma
    return math.sqrt(max(sigma * sigma - factor * factor / 4, factor * factor / 4)) / factor


# ---------------------------------------------------------------- resolution and strip plumbing


def _block_mean(rows_fn, height: int, width: int, factor: int) -> tuple[np.ndarray, ...]:
    """Means over factor x factor blocks of the arrays rows_fn(y0, y1) -> tuple of Shape(rows, width[, C]).

    Built chunk by chunk so the full-resolution arrays never exist at once. Partial blocks at the bottom and
    right are padded by repeating the edge. Returns a tuple of Shape(ceil(H / f), ceil(W / f)[, C]).
    """
    if factor == 1:
        return rows_fn(0, height)
    small_w = -(-width // factor)
    chunk = factor * max(1, STRIP_PIXELS // (width * factor))
    parts = [_shrink_block(rows_fn(y0, y1), factor, small_w) for y0, y1 in _strips(height, chunk)]
    return tuple(np.concatenate(column, axis=0) for column in zip(*parts))


def _shrink_block(arrays, factor: int, small_w: int) -> list[np.ndarray]:
    """Area-average each array of a chunk by an exact integer factor (edge-padded to a multiple of it)."""
    out = []
    for x in arrays:
        pad = ((0, -x.shape[0] % factor), (0, small_w * factor - x.shape[1])) + ((0, 0),) * (x.ndim - 2)
        x = np.pad(x, pad, mode="edge") if any(p[1] for p in pad) else x
        out.append(cv2.resize(x, (small_w, x.shape[0] // factor), interpolation=cv2.INTER_AREA))
    return out


def _upsample_rows(small: np.ndarray, y0: int, y1: int, height: int, width: int) -> np.ndarray:
    """Rows y0..y1 of ``small`` Shape(h, w, C) bilinearly resized to (height, width), float32 Shape(R, W, C).

    Rows are interpolated from global coordinates (pixel centres aligned as cv2.resize does), so strips
    agree exactly with each other; columns go through cv2.resize.
    """
    h, w = small.shape[:2]
    if (h, w) == (height, width):
        return small[y0:y1].astype(np.float32, copy=False)
    sy = np.clip((np.arange(y0, y1) + 0.5) * (h / height) - 0.5, 0, h - 1)
    i0 = np.floor(sy).astype(np.intp)
    i1 = np.minimum(i0 + 1, h - 1)
    t = (sy - i0).astype(np.float32)[:, None, None]
    rows, below = small[i0].astype(np.float32, copy=False), small[i1].astype(np.float32, copy=False)  # copies
    rows *= 1 - t  # in place: the sums of rows * (1 - t) + below * t, without two more frame-sized temporaries
    below *= t
    rows += below
    return cv2.resize(rows, (width, y1 - y0), interpolation=cv2.INTER_LINEAR).reshape(y1 - y0, width, -1)


def _strips(height: int, rows: int):
    """(y0, y1) pairs covering 0..height in steps of ``rows``."""
    for y0 in range(0, height, rows):
        yield y0, min(height, y0 + rows)


def _alpha_rows(alpha: np.ndarray, y0: int, y1: int) -> np.ndarray:
    """float32 [0, 1] Shape(R, W) for rows y0..y1 (uint8 alpha is divided by 255); converted per strip."""
    rows = alpha[y0:y1]
    if rows.dtype == np.uint8:
        return rows.astype(np.float32) * np.float32(1 / 255)
    return np.clip(rows.astype(np.float32, copy=False), 0.0, 1.0)


def _check_inputs(image, alpha):
    """Validate and return (uint8 RGB Shape(H, W, 3), alpha Shape(H, W)) without copying what is already right."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        image = array_to_rgb(image)
    alpha = np.asarray(alpha)
    if alpha.ndim == 3 and alpha.shape[2] == 1:
        alpha = alpha[:, :, 0]
    if alpha.shape != image.shape[:2]:
        raise WsshmError(f"the alpha matte is {alpha.shape} but the image is {image.shape[:2]}; they must match")
    if alpha.dtype.kind == "f" and alpha.size and np.isnan(alpha.min()):  # one pass: NaN propagates through min
        raise WsshmError("the alpha matte holds NaN values")
    return image, alpha


def _unit_to_uint8(x: np.ndarray) -> np.ndarray:
    """float32 in [0, 1] -> uint8, rounded half to even (one OpenCV pass, ~5x faster than numpy)."""
    return cv2.convertScaleAbs(x, alpha=255.0)


def _odd(x: float) -> int:
    """Nearest odd integer (ties go up), at least 3: box filters stay centred."""
    return max(3, 2 * math.floor(x / 2) + 1)
