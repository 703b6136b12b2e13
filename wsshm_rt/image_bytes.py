"""An image's bytes, read within bounds, and its size read from the header before anything is decoded.

Every image wsshm-rt reads (``images.load_image``: Matter, predict, eval, training data, video frame folders,
background images) comes through here, so that no input can hang the process or take unbounded memory:
  - a path must be a regular file: a FIFO, a device such as /dev/zero, a socket or a folder is refused from its
    ``stat``, and the file is opened non-blocking (a FIFO put in its place after the check cannot block either);
  - at most MAX_FILE_BYTES are read, from a path or a file object;
  - the pixel count is read from the header (Pillow parses only the header on ``Image.open``) and refused above
    MAX_PIXELS, or as a decompression bomb (far more pixels than the file's bytes could hold for a photo), before
    any decoder allocates the image.
"""

from __future__ import annotations

import errno
import io
import os
import re
import stat
import struct
import zlib
from pathlib import Path

from .errors import WsshmError

MAX_FILE_BYTES = 512 * 1024 * 1024  # a 100-MP 16-bit TIFF is ~600 MB uncompressed; any photo file is far below
# The largest image read: 10000x10000, which the README promises stays under ~2 GB through Matter.predict.
MAX_PIXELS = 10000 * 10000
# Above this size a file must hold at least one byte per BOMB_RATIO pixels. A photo, even a blurry one as a q=50
# JPEG, holds one byte per 5-40 pixels (a uniform JPEG: 64); a flat PNG, one byte per 170 (16-bit RGB) to 8000
# (1-bit grey) pixels: a decompression bomb.
BOMB_MIN_PIXELS = 4096 * 4096
BOMB_RATIO = 100
# A progressive JPEG has about 10 scans; thousands make a decoder spin for minutes (a CPU bomb, not a memory one).
MAX_JPEG_SCANS = 256
_KINDS = ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def read_path(path: Path, limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of the regular file ``path``; every failure is a WsshmError naming the path and the reason."""
    st = _stat(path)
    _check_regular(path, st.st_mode)
    _check_bytes(str(path), st.st_size, limit)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise WsshmError(f"{path} cannot be read ({_reason(exc)})") from None
    try:
        _check_regular(path, os.fstat(fd).st_mode)  # the file opened may not be the one checked
        with os.fdopen(fd, "rb", closefd=False) as f:
            # Its size and a byte more, to see whether it grew since (then the rest, up to the cap). A file that
            # reports no size (procfs) is read up to the cap.
            data = f.read((st.st_size or limit) + 1)
            if st.st_size and len(data) > st.st_size:
                data += f.read(limit + 1 - len(data))
    except OSError as exc:
        raise WsshmError(f"{path} cannot be read ({_reason(exc)})") from None
    finally:
        os.close(fd)
    _check_bytes(str(path), len(data), limit)
    return data


def read_stream(src, name: str, limit: int = MAX_FILE_BYTES) -> bytes:
    """At most ``limit`` bytes from a binary file object; a closed, text-mode or failing one is a WsshmError."""
    chunks, total = [], 0
    while total <= limit:
        try:
            chunk = src.read(limit + 1 - total)
        except ValueError as exc:  # "I/O operation on closed file", "read of closed file"
            raise WsshmError(f"{name}: the file object cannot be read ({exc}); pass an open file") from None
        except OSError as exc:
            raise WsshmError(f"{name}: the file object cannot be read ({_reason(exc)})") from None
        if isinstance(chunk, str):
            raise WsshmError(f"{name}: the file object gives text, not bytes; open the image in binary mode ('rb')")
        if chunk is None:
            raise WsshmError(f"{name}: the file object has no data ready (non-blocking); pass an open file")
        if not isinstance(chunk, (bytes, bytearray, memoryview)):
            raise WsshmError(f"{name}: the file object's read() gave a {type(chunk).__name__}, not bytes")
        if not chunk:
            break
        chunks.append(bytes(chunk))
        total += len(chunks[-1])
    _check_bytes(name, total, limit)
    return b"".join(chunks)


def check_pixels(name: str, width: int, height: int, n_bytes: int | None = None) -> None:
    """Refuse an image over MAX_PIXELS, or (given its file's size) a decompression bomb."""
    pixels = width * height
    if pixels > MAX_PIXELS:
        raise WsshmError(f"{name} is {width}x{height} pixels ({pixels / 1e6:.0f} MP); wsshm-rt reads images of up "
                         f"to {MAX_PIXELS / 1e6:.0f} MP")
    if n_bytes is not None and pixels > BOMB_MIN_PIXELS and pixels > BOMB_RATIO * n_bytes:
        raise WsshmError(f"{name} declares {width}x{height} pixels in only {n_bytes} bytes: a decompression bomb, "
                         "not a photo; refused")


def header_size(data: bytes, name: str) -> tuple[int, int]:
    """(width, height) from the image's header, checked by ``check_pixels``; nothing is decoded.

    A format whose header Pillow cannot read is refused: its size could not be checked before decoding.
    """
    import warnings

    from PIL import Image

    Image.MAX_IMAGE_PIXELS = MAX_PIXELS  # Pillow's own check, for images it decodes: ours, with the size, speaks
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                width, height = im.size
    except Image.DecompressionBombError as exc:
        # Pillow refuses a header of over twice its limit itself: its message holds the pixel count, not the size.
        found = re.search(r"\((\d+) pixels\)", str(exc))
        what = (f"{int(found[1]) / 1e6:.0f} MP (a decompression bomb or an absurd size)" if found else
                "a decompression bomb or an absurd size")
        raise WsshmError(f"{name} is {what}; wsshm-rt reads images of up to {MAX_PIXELS / 1e6:.0f} MP") from None
    except Exception:
        size = _tiff_size(data) or _pfm_size(data)  # float RGB TIFFs and PFMs, which OpenCV reads and Pillow not
        if size is None:
            raise WsshmError(f"{name} is not a readable image (corrupt or unsupported format)") from None
        width, height = size
    check_pixels(name, width, height, len(data))
    if data[:2] == b"\xff\xd8" and data.count(b"\xff\xda") > MAX_JPEG_SCANS:  # SOS markers: 0xFF is stuffed in data
        raise WsshmError(f"{name} is a JPEG of over {MAX_JPEG_SCANS} scans: a decompression bomb, not a photo; refused")
    return width, height


def _tiff_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of a classic TIFF's first image (the one OpenCV decodes), from its first IFD."""
    order = {b"II*\x00": "<", b"MM\x00*": ">"}.get(data[:4])
    if order is None or len(data) < 8:
        return None
    (offset,) = struct.unpack(order + "I", data[4:8])
    if offset + 2 > len(data):
        return None
    (count,) = struct.unpack(order + "H", data[offset:offset + 2])
    size = {}
    for i in range(min(count, (len(data) - offset - 2) // 12)):
        tag, kind = struct.unpack(order + "HH", data[offset + 2 + 12 * i:offset + 6 + 12 * i])
        value = data[offset + 10 + 12 * i:offset + 14 + 12 * i]
        if tag in (256, 257) and kind in (3, 4):  # ImageWidth, ImageLength as SHORT or LONG
            size[tag] = struct.unpack(order + ("H" if kind == 3 else "I"), value[:2 if kind == 3 else 4])[0]
    return (size[256], size[257]) if len(size) == 2 else None


def _pfm_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of a PFM (portable float map): "PF" or "Pf", then the size in ASCII."""
    if data[:2] not in (b"PF", b"Pf"):
        return None
    fields = data[2:64].split()
    try:
        return int(fields[0]), int(fields[1])
    except (IndexError, ValueError):
        return None


def png_intact(data: bytes) -> bool:
    """True if every chunk of a PNG is whole with a matching CRC, up to IEND: a cut-off or bit-flipped file is not
    (and is then read by Pillow, which reports it, not by OpenCV's libpng, which prints to stderr first)."""
    pos, view = 8, memoryview(data)
    while pos + 12 <= len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        end = pos + 8 + length
        if end + 4 > len(data) or zlib.crc32(view[pos + 4:end]) != struct.unpack(">I", data[end:end + 4])[0]:
            return False
        if data[pos + 4:pos + 8] == b"IEND":
            return True
        pos = end + 4
    return False


def _stat(path: Path) -> os.stat_result:
    try:
        return os.stat(path)
    except FileNotFoundError:
        raise WsshmError(f"{path} does not exist") from None
    except ValueError:  # an embedded NUL byte
        raise WsshmError(f"{str(path)!r} is not a valid path") from None
    except OSError as exc:
        raise WsshmError(f"{path} cannot be read ({_reason(exc)})") from None


def _check_regular(path: Path, mode: int) -> None:
    if stat.S_ISDIR(mode):
        raise WsshmError(f"{path} is a folder, not an image")
    if not stat.S_ISREG(mode):
        kind = next((what for test, what in _KINDS if test(mode)), "not a regular file")
        raise WsshmError(f"{path} is {kind}, not an image file; wsshm-rt reads images from regular files only")


def _check_bytes(name: str, n_bytes: int, limit: int) -> None:
    if n_bytes > limit:
        raise WsshmError(f"{name} is larger than {limit // (1024 * 1024)} MB; wsshm-rt does not read image files "
                         "that large")
    if n_bytes == 0:
        raise WsshmError(f"{name} is empty (0 bytes)")


def _reason(exc: OSError) -> str:
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    return exc.strerror or str(exc)
