"""The hostile-input suite's helpers: inputs made at test time (no binary fixtures), the CLI run in-process (and in a
subprocess where memory or a hang is what is measured), and the outcome classes every case asserts.

Outcome classes: "written" (exit 0, the outputs there), "error" (exit 2 and one line "wsshm-rt: error: ...", or a
WsshmError from the API), "skipped" (exit 1, the bad files reported, the good ones written). Every case also
asserts no traceback and no partial or temporary output file.
"""

from __future__ import annotations

import contextlib
import os
import signal
import struct
import subprocess
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

HANG_SECONDS = 30  # generous: a case that would hang blocks forever, a slow machine still finishes well inside
RSS_CEILING_MB = 500  # the bar for a decompression bomb


class Hung(BaseException):
    """Raised by ``no_hang``; a BaseException so that no ``except Exception`` in the code under test swallows it."""


@contextlib.contextmanager
def no_hang(seconds: float = HANG_SECONDS):
    """Fail (raise Hung) if the block is still running after ``seconds``: a blocked open() of a FIFO is interrupted."""
    def alarm(signum, frame):
        raise Hung(f"still running after {seconds} s: a hang")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def err_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]


def run_cli(capfd, *args) -> Result:
    """``wsshm-rt ARGS`` in this process (the console entry point, so user errors become exit 2 and one line)."""
    from wsshm_rt.cli import main

    capfd.readouterr()
    code = 0
    with no_hang():
        try:
            main([str(a) for a in args])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    out, err = capfd.readouterr()
    return Result(code, out, err)


def assert_error(res: Result, *needles: str) -> str:
    """Exit 2, one line on stderr that starts 'wsshm-rt: error:' and holds every needle; no traceback."""
    assert "Traceback" not in res.err, res.err
    assert res.code == 2, (res.code, res.err)
    lines = [line for line in res.err_lines if not line.startswith("wsshm-rt: warning")]
    assert len(lines) == 1 and lines[0].startswith("wsshm-rt: error: "), res.err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def assert_no_partial_files(folder: Path) -> None:
    """No temporary file (.x.tmpPID, .wsshm-probe...) is left behind."""
    left = [p.name for p in Path(folder).rglob("*") if ".tmp" in p.name or p.name.startswith(".wsshm")]
    assert not left, left


def api_error(excinfo, *needles: str) -> str:
    """A WsshmError of one line (one sentence) holding every needle."""
    from wsshm_rt.errors import WsshmError

    exc = excinfo.value
    assert isinstance(exc, WsshmError), type(exc)
    text = str(exc)
    assert "\n" not in text and text, text
    for needle in needles:
        assert needle in text, (needle, text)
    return text


# ---------------------------------------------------------------- inputs, generated


def portrait(h: int = 72, w: int = 56, seed: int = 0) -> np.ndarray:
    """A small photo-like uint8 RGB image (textured ellipse on a textured background)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    inside = (((yy - h * 0.6) / (h * 0.45)) ** 2 + ((xx - w / 2) / (w * 0.3)) ** 2) < 1.0
    bg = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    fg = np.full((h, w, 3), (200, 150, 120), np.uint8) + rng.integers(0, 40, (h, w, 3), dtype=np.uint8)
    return np.where(inside[..., None], fg, bg).astype(np.uint8)


def encode(arr: np.ndarray, suffix: str = ".png", params=()) -> bytes:
    import cv2

    ok, buf = cv2.imencode(suffix, arr[..., ::-1] if arr.ndim == 3 else arr, list(params))
    assert ok
    return buf.tobytes()


def pil_bytes(image, fmt: str, **kw) -> bytes:
    import io

    buf = io.BytesIO()
    image.save(buf, fmt, **kw)
    return buf.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_bomb(width: int, height: int, bits: int = 1, colour_type: int = 0) -> bytes:
    """A valid PNG of ``width`` x ``height`` black pixels, deflated to almost nothing: a decompression bomb."""
    channels = {0: 1, 2: 3}[colour_type]
    total = (1 + (width * channels * bits + 7) // 8) * height  # a filter byte (0) per row, then zero pixels
    deflate, block, parts = zlib.compressobj(9), bytes(1 << 24), []
    while total:
        n = min(total, len(block))
        parts.append(deflate.compress(memoryview(block)[:n]))
        total -= n
    parts.append(deflate.flush())
    header = struct.pack(">IIBBBBB", width, height, bits, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", b"".join(parts))
            + _chunk(b"IEND", b""))


def tiff_bomb(width: int, height: int) -> bytes:
    """A little-endian TIFF whose header declares ``width`` x ``height`` 8-bit grey pixels in one deflated strip."""
    strip = zlib.compress(bytes(width * 64), 9)  # a token strip: the header's size is what a reader must refuse
    tags = [(256, 4, width), (257, 4, height), (258, 3, 8), (259, 3, 8), (262, 3, 1), (273, 4, 0),
            (277, 3, 1), (278, 4, height), (279, 4, len(strip))]
    ifd_offset = 8
    data_offset = ifd_offset + 2 + 12 * len(tags) + 4
    entries = b"".join(struct.pack("<HHI", tag, kind, 1)
                       + struct.pack("<I", data_offset if tag == 273 else value) for tag, kind, value in tags)
    return b"II*\x00" + struct.pack("<I", ifd_offset) + struct.pack("<H", len(tags)) + entries + b"\0" * 4 + strip


def patched_size(data: bytes, fmt: str, width: int, height: int) -> bytes:
    """A real small JPEG/GIF/BMP whose header is rewritten to declare ``width`` x ``height``."""
    data = bytearray(data)
    if fmt == "jpeg":
        i = 2
        while data[i + 1] not in (0xC0, 0xC1, 0xC2):
            i += 2 + struct.unpack(">H", data[i + 2:i + 4])[0]
        data[i + 5:i + 9] = struct.pack(">HH", height, width)
    elif fmt == "gif":
        data[6:10] = struct.pack("<HH", width, height)
    elif fmt == "bmp":
        data[18:26] = struct.pack("<ii", width, height)
    return bytes(data)


def _many_scans(jpeg: bytes, n: int) -> bytes:
    """A small JPEG with its first scan header repeated ``n`` times (a progressive-JPEG scan bomb)."""
    i = jpeg.index(b"\xff\xda")
    return jpeg[:i] + jpeg[i:i + 20] * n + jpeg[i:]


def make_fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def make_socket(path: Path):
    import socket

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    return sock


# ---------------------------------------------------------------- subprocess runs, measured


@dataclass
class Measured:
    code: int
    out: str
    err: str
    peak_mb: float


# The child reports its own peak RSS (VmHWM of its own address space) as it exits. Not wait4's ru_maxrss: Linux
# carries the parent's high-water mark into a child across fork and exec, so every child of a big pytest process
# would measure as big as pytest.
_WRAPPER = """
import atexit, sys

def _report(path=sys.argv[1]):
    with open("/proc/self/status") as status:
        kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    with open(path, "w") as out:
        out.write(str(kb))

atexit.register(_report)
mode, args = sys.argv[2], sys.argv[3:]
if mode == "cli":
    from wsshm_rt.cli import main
    main(args)
else:
    sys.argv = ["-c", *args[1:]]
    exec(compile(args[0], "<hostile>", "exec"), {"__name__": "__main__"})
"""


def run_measured(args: list, tmp_path: Path, timeout: float = HANG_SECONDS) -> Measured:
    """Run ``wsshm-rt ARGS`` (or, with args[0] == "-c", the code args[1] with the rest as its argv) in a subprocess,
    with its peak RSS; killed and failed on a hang."""
    if not Path("/proc/self/status").exists():
        pytest.skip("peak RSS is read from /proc (Linux)")
    hwm = tmp_path / "vmhwm.txt"
    mode = ["code", *args[1:]] if args[0] == "-c" else ["cli", *args]
    argv = [sys.executable, "-c", _WRAPPER, str(hwm), *map(str, mode)]
    out_file, err_file = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    with open(out_file, "w") as out, open(err_file, "w") as err:
        proc = subprocess.Popen(argv, stdout=out, stderr=err, env=dict(os.environ, OMP_NUM_THREADS="1"))
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail(f"{args} still running after {timeout} s: a hang")
    peak = int(hwm.read_text()) / 1024 if hwm.exists() else float("inf")
    return Measured(proc.returncode, out_file.read_text(), err_file.read_text(), peak)


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def matter():
    """The bundled model, one network pass: what every API case that needs a model shares."""
    from wsshm_rt import Matter

    return Matter(tta="none", short_side=64)


@pytest.fixture(scope="session")
def bombs(tmp_path_factory) -> dict[str, Path]:
    """Decompression bombs and oversized headers in every common format, made once per session."""
    from PIL import Image

    folder = tmp_path_factory.mktemp("bombs")
    small = Image.fromarray(portrait())
    files = {
        "png-20000x20000-1bit.png": png_bomb(20000, 20000),
        "png-30000x30000-1bit.png": png_bomb(30000, 30000),
        "png-6000x6000-rgb.png": png_bomb(6000, 6000, 8, 2),  # under the size cap: refused by its bytes per pixel
        "png-4500x4500-rgb16.png": png_bomb(4500, 4500, 16, 2),  # the least compressible flat PNG: 160 px a byte
        "jpeg-300-scans.jpg": _many_scans(pil_bytes(small, "JPEG"), 300),  # a CPU bomb: a decoder spins on it
        "tiff-30000x30000.tif": tiff_bomb(30000, 30000),
        "jpeg-65000x65000.jpg": patched_size(pil_bytes(small, "JPEG"), "jpeg", 65000, 65000),
        "gif-65535x65535.gif": patched_size(pil_bytes(small, "GIF"), "gif", 65535, 65535),
        "bmp-50000x50000.bmp": patched_size(pil_bytes(small, "BMP"), "bmp", 50000, 50000),
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return {name: folder / name for name in files}
