"""What goes behind the person: ``Background`` and ``parse_background``, which turns a user's spec (a colour, 'blur',
an image or a path) into one, every mistake one sentence."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import WsshmError
from ..images import load_image

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
