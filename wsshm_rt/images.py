"""Reading images from paths, PIL images and numpy arrays into one form: uint8 RGB, Shape(H, W, 3); encoding and
saving them (the file system's side, folders and atomic writes, is files.py)."""

from __future__ import annotations

import contextlib
import io
import os
import sys
import threading
from pathlib import Path

import numpy as np

from .errors import WsshmError, WsshmTypeError, require
from .files import write_atomic
from .image_bytes import MAX_FILE_BYTES, MAX_PIXELS, check_pixels, header_size, png_intact, read_path, read_stream
from .pixels import array_to_rgb, check_channels, pil_pixels, pil_to_rgb, to_uint8

# ISO-BMFF brands of HEIF stills (iPhone photos); AVIF ("avif", "avis") is read by Pillow itself.
HEIF_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1")
MIN_SIDE = 8


def load_image(src, channels: str = "RGB", name: str = "image") -> np.ndarray:
    """Return ``src`` (path, PIL image, numpy array, encoded bytes or a binary file object) as uint8 RGB,
    Shape(H, W, 3).

    Grayscale, RGBA, 16-bit and float inputs are converted; EXIF orientation is applied for files and bytes.
    ``channels`` says how a 3/4-channel numpy array is ordered ("RGB" or "BGR", e.g. from OpenCV). Files and
    encoded bytes are read within bounds (``image_bytes``); ``name`` is what an error calls an input that is not a
    path (the argument's name, e.g. "images[2]").
    """
    check_channels(channels)
    if isinstance(src, (str, os.PathLike)):
        rgb = _decode_named(read_path(Path(src)), str(src))
    elif isinstance(src, np.ndarray):
        if src.ndim >= 2:
            check_pixels(name, src.shape[1], src.shape[0])
        rgb = array_to_rgb(src, channels)
    elif _is_pil(src):
        rgb = pil_to_rgb(src, name)
    elif isinstance(src, (bytes, bytearray, memoryview)):
        rgb = _decode_named(_bytes_within(src, name), name)
    elif callable(getattr(src, "read", None)):
        rgb = _decode_named(read_stream(src, name), name)
    else:
        raise WsshmTypeError(f"{name}: cannot read an image from a {type(src).__name__}; pass a path, a PIL image, "
                             "a numpy array, the file's bytes or a binary file object")
    _check_size(rgb, src if isinstance(src, (str, os.PathLike)) else name)
    return rgb


def _bytes_within(data, name: str) -> bytes:
    if memoryview(data).nbytes > MAX_FILE_BYTES:
        raise WsshmError(f"{name} is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB; wsshm-rt does not read "
                         "images that large")
    return bytes(data)


def _decode_named(data: bytes, name: str) -> np.ndarray:
    """``_decode``, its size first checked from the header, with every failure one sentence that names the input
    (a path, or the argument)."""
    if not data:
        raise WsshmError(f"{name} is empty (0 bytes)")
    if data[4:8] == b"ftyp" and data[8:12] in HEIF_BRANDS:
        try:  # HEIC/HEIF (iPhone photos): Pillow reads even their header only with the plugin
            _register_heif()
        except WsshmError as exc:
            raise WsshmError(f"{name}: {exc}") from None
    header_size(data, name)
    try:
        return _decode(data)
    except WsshmError as exc:
        raise WsshmError(f"{name}: {exc}") from None
    except Exception:
        raise WsshmError(f"{name} is not a readable image (corrupt or unsupported format)") from None


def _decode(data: bytes) -> np.ndarray:
    """Decode with OpenCV (one buffer, EXIF orientation applied, 16-bit kept), else Pillow."""
    import cv2

    if data[4:8] == b"ftyp":  # ISO-BMFF: HEIC/HEIF or AVIF
        # Through Pillow: OpenCV ignores their rotation box and reads 10/12-bit AVIF at 16-bit scale (near black).
        if data[8:12] in HEIF_BRANDS:
            _register_heif()
        return _decode_pil(data)
    if data[:8] == b"\x89PNG\r\n\x1a\n" and not png_intact(data):
        # A cut-off or corrupt PNG: Pillow says so; OpenCV's libpng would print its own line to stderr first.
        return _decode_pil(data)
    with quiet_opencv():  # a bad file is reported in our words; OpenCV's log lines would only clutter them
        arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR | cv2.IMREAD_ANYDEPTH)
    if arr is None:
        return _decode_pil(data)
    if data[:2] == b"\xff\xd8" and not data.rstrip(b"\x00\r\n ").endswith(b"\xff\xd9"):
        # libjpeg returns a grey-filled image for a truncated file; Pillow raises, so let it judge.
        # (Files with data after the end marker, such as motion photos, pass this check.)
        _decode_pil(data)
    if arr.dtype != np.uint8:  # 16-bit PNG/TIFF, float TIFF
        arr = to_uint8(arr)
    return cv2.cvtColor(arr, cv2.COLOR_BGR2RGB, dst=arr)


_QUIET = {"depth": 0, "saved": None}
_QUIET_LOCK = threading.Lock()


def _opencv_log_api():
    """OpenCV's (get, set, silent level) for its log lines, or None where this build has no way to set them.

    Recent builds have ``cv2.utils.logging``; 4.8-4.11 (what pip picks next to numpy < 2) only ``cv2.setLogLevel``.
    """
    import cv2

    api = getattr(getattr(cv2, "utils", None), "logging", None)
    if api is not None:
        return api.getLogLevel, api.setLogLevel, api.LOG_LEVEL_SILENT
    if hasattr(cv2, "getLogLevel") and hasattr(cv2, "setLogLevel"):
        return cv2.getLogLevel, cv2.setLogLevel, 0  # 0 = LOG_LEVEL_SILENT in every 4.x build
    return None


@contextlib.contextmanager
def quiet_opencv():
    """OpenCV's logging off while any thread is inside (a counter, so concurrent decodes restore it once)."""
    api = _opencv_log_api()
    if api is None:
        yield
        return
    get_level, set_level, silent = api
    with _QUIET_LOCK:
        if _QUIET["depth"] == 0:
            _QUIET["saved"] = get_level()
            set_level(silent)
        _QUIET["depth"] += 1
    try:
        yield
    finally:
        with _QUIET_LOCK:
            _QUIET["depth"] -= 1
            if _QUIET["depth"] == 0:
                set_level(_QUIET["saved"])


def _register_heif() -> None:
    """HEIC/HEIF photos (what iPhones save) are read through pillow-heif, an optional extra."""
    require("pillow_heif", "heif", "pillow-heif").register_heif_opener()


def _decode_pil(data: bytes) -> np.ndarray:
    from PIL import Image, ImageOps

    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    with Image.open(io.BytesIO(data)) as im:
        im = ImageOps.exif_transpose(im)
        im.load()  # raises on truncated files, instead of returning a grey half image
        return pil_pixels(im)


def _is_pil(obj) -> bool:
    # isinstance, not the class's module: plugin classes (pillow-heif's HeifImageFile) live outside PIL.
    pil = sys.modules.get("PIL.Image")
    return pil is not None and isinstance(obj, pil.Image)


def _check_size(rgb: np.ndarray, name) -> None:
    h, w = rgb.shape[:2]
    if min(h, w) < MIN_SIDE:
        raise WsshmError(f"{name}: the image is {w}x{h} pixels; wsshm-rt needs at least {MIN_SIDE}x{MIN_SIDE}")


def encode_image(arr: np.ndarray, suffix: str = ".png") -> bytes:
    """Encode uint8 RGB/RGBA/gray ``arr`` into image bytes (format from ``suffix``)."""
    import cv2

    arr = np.ascontiguousarray(arr)
    if arr.ndim == 3 and arr.shape[2] in (3, 4):
        to_bgr, to_rgb = (cv2.COLOR_RGB2BGR, cv2.COLOR_BGR2RGB) if arr.shape[2] == 3 else \
            (cv2.COLOR_RGBA2BGRA, cv2.COLOR_BGRA2RGBA)
        if arr.size < IN_PLACE_BYTES or not arr.flags.writeable:
            return _encode(cv2.cvtColor(arr, to_bgr), suffix)
        # Huge frames: swap channels in place and back, instead of holding a second frame-sized copy.
        cv2.cvtColor(arr, to_bgr, dst=arr)
        try:
            return _encode(arr, suffix)
        finally:
            cv2.cvtColor(arr, to_rgb, dst=arr)
    return _encode(arr, suffix)


IN_PLACE_BYTES = 64 * 1024 * 1024


def _encode(arr: np.ndarray, suffix: str) -> bytes:
    import cv2

    ok, buf = cv2.imencode(suffix, arr)
    if not ok:
        raise WsshmError(f"could not encode an image as {suffix}")
    return buf.tobytes()


def save_image(path, arr: np.ndarray) -> None:
    """Save uint8 RGB/RGBA/gray ``arr`` atomically; the format follows the file suffix."""
    path = Path(path)
    write_atomic(path, encode_image(arr, path.suffix.lower() or ".png"))
