"""In-memory images to one form, uint8 RGB Shape(H, W, 3): numpy arrays of any dtype and PIL images of any mode."""

from __future__ import annotations

import numpy as np

from .errors import WsshmError, WsshmTypeError, WsshmValueError
from .image_bytes import check_pixels


def check_channels(channels) -> str:
    if not isinstance(channels, str) or channels.upper() not in ("RGB", "BGR"):
        raise (WsshmValueError if isinstance(channels, str) else WsshmTypeError)(
            f"channels must be 'RGB' or 'BGR', not {channels!r}")
    return channels


def array_to_rgb(arr: np.ndarray, channels: str = "RGB") -> np.ndarray:
    """Convert a numpy image (H, W), (H, W, 1|3|4) of uint8/uint16/float to uint8 RGB."""
    check_channels(channels)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
        raise WsshmError(f"an image array must be HxW, HxWx3 or HxWx4, not shape {tuple(arr.shape)}")
    arr = to_uint8(arr)
    if arr.ndim == 2:
        return np.ascontiguousarray(np.repeat(arr[:, :, None], 3, axis=2))
    arr = arr[:, :, :3]
    if channels.upper() == "BGR":
        arr = arr[:, :, ::-1]
    return np.ascontiguousarray(arr)


def to_uint8(arr: np.ndarray) -> np.ndarray:
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == np.uint16:
        return (arr >> 8).astype(np.uint8)
    if np.issubdtype(arr.dtype, np.floating):
        return _float_to_uint8(arr)
    if arr.dtype == bool:
        return arr.astype(np.uint8) * 255
    if np.issubdtype(arr.dtype, np.integer):
        return to_uint8(_scaled(arr, "I"))
    raise WsshmError(f"unsupported image dtype {arr.dtype}; use uint8, uint16 or float in [0, 1]")


def _float_to_uint8(arr: np.ndarray) -> np.ndarray:
    """A float image in [0, 1] to uint8. Small overshoots (resampling rings) are clipped; an image in [0, 255],
    the common slip of ``img.astype(np.float32)``, is refused rather than clipped to a white frame."""
    if not np.isfinite(arr).all():
        raise WsshmError("the float image holds NaN or infinite values")
    lo, hi = float(arr.min(initial=0.0)), float(arr.max(initial=0.0))
    if hi > FLOAT_OVERSHOOT or lo < 1.0 - FLOAT_OVERSHOOT:
        raise WsshmError(f"a float image must hold values in [0, 1], this one spans [{lo:g}, {hi:g}]"
                         + ("; divide it by 255 or pass it as uint8" if hi > 2.0 else ""))
    return (np.clip(arr, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


FLOAT_OVERSHOOT = 1.5  # values in [-0.5, 1.5] are clipped into [0, 1]; beyond that the scale is wrong


def pil_to_rgb(im, name: str = "image") -> np.ndarray:
    """A PIL image of any mode -> uint8 RGB; a closed, truncated or oversized one is a WsshmError naming ``name``."""
    check_pixels(name, *im.size)
    try:
        im.load()  # a lazily opened file is read here: a truncated one raises instead of giving a grey half image
        return pil_pixels(im)
    except WsshmError as exc:
        raise WsshmError(f"{name}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - Pillow raises ValueError, OSError, SyntaxError... for a bad image
        what = "is closed" if "closed" in str(exc) else f"cannot be read ({str(exc)[:200] or type(exc).__name__})"
        raise WsshmError(f"{name}: the PIL image {what}") from None


def pil_pixels(im) -> np.ndarray:
    mode = im.mode
    if mode.startswith("I;16"):
        return array_to_rgb(np.asarray(im).astype(np.uint16))
    if mode in ("I", "F"):
        return array_to_rgb(_scaled(np.asarray(im), mode))
    if mode in ("La", "RGBa"):  # premultiplied alpha: Pillow converts these only to their plain-alpha mode
        im = im.convert(mode.upper())
    if im.mode != "RGB":
        try:
            im = im.convert("RGB")
        except ValueError:
            raise WsshmError(f"PIL images in mode {mode} cannot be converted to RGB; convert it first") from None
    return np.ascontiguousarray(np.asarray(im, dtype=np.uint8))


def _scaled(arr: np.ndarray, mode: str) -> np.ndarray:
    """A mode I (int32) or F (float32) image, whose scale the mode does not say, at the scale its values show:
    I in [0, 255] is 8-bit (``convert("I")`` of an 8-bit image), in [0, 65535] 16-bit; F in [0, 1] or [0, 255]."""
    if mode == "F" and not np.isfinite(arr).all():
        raise WsshmError("the mode F image holds NaN or infinite values")
    lo, hi = float(arr.min(initial=0)), float(arr.max(initial=0))
    if mode == "F":
        return arr if hi <= FLOAT_OVERSHOOT else arr / np.float32(255.0)
    if lo >= 0 and hi <= 255:
        return arr.astype(np.uint8)
    if lo >= 0 and hi <= 65535:
        return arr.astype(np.uint16)
    what = "a mode I image" if arr.dtype == np.int32 else f"an image of {arr.dtype}"
    raise WsshmError(f"{what} must hold values from 0 to 255 or 65535, this one spans [{lo:g}, {hi:g}]")
