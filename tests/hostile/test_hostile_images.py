"""Image inputs, hostile and unusual, through the Python API: each is read (and matted) or refused with one sentence
that names it; none hangs, none is decoded past its header when too large, none prints library noise."""

from __future__ import annotations

import io
import os
import struct

import numpy as np
import pytest
from PIL import Image

from wsshm_rt.errors import WsshmError, WsshmTypeError
from wsshm_rt.images import load_image

from .conftest import api_error, encode, make_fifo, make_socket, no_hang, pil_bytes, png_bomb, portrait

PHOTO = portrait()


def _png_with_flipped_byte() -> bytes:
    data = bytearray(encode(PHOTO))
    data[data.index(b"IDAT") + 40] ^= 0xFF
    return bytes(data)


def _zero_size_png() -> bytes:
    header = struct.pack(">IIBBBBB", 0, 0, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + header + b"\0\0\0\0"


def _exif_rotated_jpeg() -> bytes:
    im = Image.fromarray(PHOTO)
    exif = im.getexif()
    exif[0x0112] = 6
    return pil_bytes(im, "JPEG", exif=exif.tobytes())


def _two_frames(fmt: str) -> bytes:
    return pil_bytes(Image.fromarray(PHOTO), fmt, save_all=True, append_images=[Image.fromarray(portrait(seed=1))])


# name -> (file bytes, expected: "ok" / an (h, w) shape / a substring of the one-sentence error)
FILES = {
    "empty.jpg": (b"", "empty (0 bytes)"),
    "text.jpg": (b"just some text, not an image", "not a readable image"),
    "html.png": (b"<!doctype html><html><body>404</body></html>", "not a readable image"),
    "svg.png": (b'<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"/>', "not a readable image"),
    "truncated.jpg": (encode(PHOTO, ".jpg")[:400], "not a readable image"),
    "truncated.png": (encode(PHOTO)[:300], "not a readable image"),
    "header-only.png": (encode(PHOTO)[:33], "not a readable image"),
    "flipped-byte.png": (_png_with_flipped_byte(), "not a readable image"),
    "zero-size.png": (_zero_size_png(), "not a readable image"),
    "pdf.jpg": (b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF", "not a readable image"),
    "one-pixel.png": (encode(PHOTO[:1, :1]), "1x1 pixels"),
    "thin-7x200.png": (encode(portrait(200, 7)), "7x200 pixels"),
    "smallest-8x8.png": (encode(portrait(8, 8)), "ok"),
    "tall-8x3000.png": (encode(portrait(3000, 8)), "ok"),
    "jpeg-named.png": (encode(PHOTO, ".jpg"), "ok"),
    "cmyk.jpg": (pil_bytes(Image.fromarray(PHOTO).convert("CMYK"), "JPEG"), "ok"),
    "progressive.jpg": (pil_bytes(Image.fromarray(PHOTO), "JPEG", progressive=True), "ok"),
    "grey.jpg": (encode(PHOTO[..., 0], ".jpg"), "ok"),
    "exif-rotated.jpg": (_exif_rotated_jpeg(), (56, 72)),
    "16bit.png": (encode(PHOTO.astype(np.uint16) * 257), "ok"),
    "grey-alpha.png": (pil_bytes(Image.fromarray(PHOTO).convert("LA"), "PNG"), "ok"),
    "palette-transparent.png": (pil_bytes(Image.fromarray(PHOTO).convert("P"), "PNG", transparency=0), "ok"),
    "animated.gif": (_two_frames("GIF"), "ok"),
    "multipage.tif": (_two_frames("TIFF"), "ok"),
    "float.tif": (encode(PHOTO.astype(np.float32) / 255, ".tif"), "ok"),
    "photo.webp": (pil_bytes(Image.fromarray(PHOTO), "WEBP"), "ok"),
    "photo.bmp": (pil_bytes(Image.fromarray(PHOTO), "BMP"), "ok"),
    "photo.ppm": (pil_bytes(Image.fromarray(PHOTO), "PPM"), "ok"),
    "photo.tga": (pil_bytes(Image.fromarray(PHOTO), "TGA"), "ok"),
}


@pytest.mark.parametrize("name", list(FILES))
def test_image_files(name, tmp_path, matter, capfd):
    data, expected = FILES[name]
    path = tmp_path / name
    path.write_bytes(data)
    capfd.readouterr()
    if isinstance(expected, str) and expected != "ok":
        with pytest.raises(WsshmError) as info:
            matter.predict(path)
        assert api_error(info, str(path), expected)
    else:
        alpha = matter.predict(path)
        shape = expected if isinstance(expected, tuple) else load_image(path).shape[:2]
        assert alpha.shape == shape and alpha.dtype == np.float32 and np.isfinite(alpha).all()
        assert 0 <= alpha.min() and alpha.max() <= 1
    assert capfd.readouterr().err == ""  # no decoder's own line on stderr


def _symlink(tmp_path, target) -> str:
    link = tmp_path / "link.jpg"
    link.symlink_to(target)
    return str(link)


# name -> (make the path in tmp_path, a substring of the one-sentence error)
PATHS = {
    "folder": (lambda t: str(t), "is a folder"),
    "fifo": (lambda t: str(make_fifo(t / "pipe.jpg")), "named pipe (FIFO)"),
    "dev-zero": (lambda t: "/dev/zero", "character device"),
    "dev-null": (lambda t: "/dev/null", "character device"),
    "link-to-dev-zero": (lambda t: _symlink(t, "/dev/zero"), "character device"),
    "dangling-link": (lambda t: _symlink(t, t / "gone.jpg"), "does not exist"),
    "missing": (lambda t: str(t / "missing.jpg"), "does not exist"),
    "nul-byte": (lambda t: str(t / "a\0b.jpg"), "not a valid path"),
    "name-too-long": (lambda t: str(t / ("x" * 300 + ".jpg")), "cannot be read"),
    "under-a-file": (lambda t: str((t / "f.txt").write_text("x") and t / "f.txt" / "x.jpg"), "cannot be read"),
}


@pytest.mark.parametrize("name", list(PATHS))
def test_paths_that_are_not_image_files(name, tmp_path, matter):
    make, expected = PATHS[name]
    path = make(tmp_path)
    with no_hang(), pytest.raises(WsshmError) as info:
        matter.predict(path)
    api_error(info, expected)


def test_a_socket_is_refused(tmp_path, matter):
    sock = make_socket(tmp_path / "s.png")
    try:
        with no_hang(), pytest.raises(WsshmError) as info:
            matter.predict(tmp_path / "s.png")
        api_error(info, "is a socket")
    finally:
        sock.close()


def test_permission_denied_is_one_sentence(tmp_path, matter, monkeypatch):
    path = tmp_path / "locked.jpg"
    path.write_bytes(encode(PHOTO, ".jpg"))
    if os.geteuid() != 0:
        path.chmod(0)
    else:  # root reads every file: make the open fail as it does for a user without the permission
        import errno

        from wsshm_rt import image_bytes

        def denied(p, *a, **k):
            raise PermissionError(errno.EACCES, "Permission denied", str(p))

        monkeypatch.setattr(image_bytes.os, "open", denied)
    with pytest.raises(WsshmError) as info:
        matter.predict(path)
    api_error(info, str(path), "permission denied")


# Over 200 MP, Pillow refuses the header itself: the sentence gives the image's size and one limit, ours (100 MP).
LIMIT = "(a decompression bomb or an absurd size); wsshm-rt reads images of up to 100 MP"
BOMBS = {"png-20000x20000-1bit.png": f"is 400 MP {LIMIT}", "png-30000x30000-1bit.png": f"is 900 MP {LIMIT}",
         "png-6000x6000-rgb.png": "a decompression bomb", "png-4500x4500-rgb16.png": "a decompression bomb",
         "jpeg-300-scans.jpg": "over 256 scans", "tiff-30000x30000.tif": f"is 900 MP {LIMIT}",
         "jpeg-65000x65000.jpg": f"is 4225 MP {LIMIT}", "gif-65535x65535.gif": f"is 4295 MP {LIMIT}",
         "bmp-50000x50000.bmp": "MP"}


@pytest.mark.parametrize("name", list(BOMBS))
def test_decompression_bombs_are_refused_from_the_header(name, bombs, matter):
    path = bombs[name]
    for src in (path, path.read_bytes(), io.BytesIO(path.read_bytes())):
        with pytest.raises(WsshmError) as info:
            matter.predict(src)
        api_error(info, BOMBS[name])


def test_an_oversized_header_names_one_limit(bombs, matter):
    """Between 100 and 200 MP our own check speaks, above it Pillow's: either way one limit, the real one."""
    from wsshm_rt.image_bytes import check_pixels

    with pytest.raises(WsshmError) as info:
        check_pixels("x.png", 15000, 10000)
    assert str(info.value) == "x.png is 15000x10000 pixels (150 MP); wsshm-rt reads images of up to 100 MP"
    path = bombs["png-20000x20000-1bit.png"]
    with pytest.raises(WsshmError) as info:
        matter.predict(path)
    assert str(info.value) == f"{path} is 400 MP {LIMIT}"
    assert "200" not in str(info.value).replace(str(path), "")


# ---------------------------------------------------------------- bytes and file objects


class _Reader:
    def __init__(self, result):
        self.result = result

    def read(self, n=-1):
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


def _closed_file(tmp_path):
    (tmp_path / "x.png").write_bytes(encode(PHOTO))
    f = open(tmp_path / "x.png", "rb")
    f.close()
    return f


BUFFERS = {
    "bytes": (lambda t: encode(PHOTO), "ok"),
    "bytearray": (lambda t: bytearray(encode(PHOTO)), "ok"),
    "memoryview": (lambda t: memoryview(encode(PHOTO)), "ok"),
    "BytesIO": (lambda t: io.BytesIO(encode(PHOTO)), "ok"),
    "open-file": (lambda t: ((t / "x.png").write_bytes(encode(PHOTO)), open(t / "x.png", "rb"))[1], "ok"),
    "empty-bytes": (lambda t: b"", "image is empty"),
    "random-bytes": (lambda t: np.random.default_rng(0).bytes(5000), "image is not a readable image"),
    "closed-BytesIO": (lambda t: (lambda b: (b.close(), b)[1])(io.BytesIO(b"x")), "cannot be read"),
    "closed-file": (_closed_file, "pass an open file"),
    "text-mode": (lambda t: io.StringIO("text"), "binary mode"),
    "non-blocking-none": (lambda t: _Reader(None), "no data ready"),
    "read-raises-OSError": (lambda t: _Reader(OSError(5, "Input/output error")), "Input/output error"),
    "read-gives-int": (lambda t: _Reader(7), "gave a int"),
}


@pytest.mark.parametrize("name", list(BUFFERS))
def test_bytes_and_file_objects(name, tmp_path, matter):
    make, expected = BUFFERS[name]
    src = make(tmp_path)
    if expected == "ok":
        assert matter.predict(src).shape == PHOTO.shape[:2]
    else:
        with pytest.raises(WsshmError) as info:
            matter.predict(src)
        api_error(info, "image", expected)


def test_predict_batch_names_the_item_that_fails(matter):
    with pytest.raises(WsshmError) as info:
        matter.predict_batch([PHOTO, b"not an image"])
    api_error(info, "images[1]")


# ---------------------------------------------------------------- PIL images


def _pil(mode: str) -> Image.Image:
    """A PIL image of ``mode`` with content; the grey modes hold GREY at their own scale."""
    if mode in ("I", "F"):
        return Image.fromarray(GREY.astype(np.int32 if mode == "I" else np.float32), mode)
    if mode.startswith("I;16"):
        order = {"I;16B": ">u2", "I;16L": "<u2"}.get(mode, np.uint16)
        return Image.frombytes(mode, GREY.shape[::-1], (GREY.astype(order) * 257).tobytes())
    if mode in ("L", "LA", "La"):
        grey_alpha = Image.fromarray(np.dstack([GREY, np.full_like(GREY, 255)]), "LA")
        return grey_alpha.convert(mode)
    if mode == "RGBa":
        return Image.fromarray(PHOTO).convert("RGBA").convert(mode)
    return Image.fromarray(PHOTO).convert(mode)


GREY = PHOTO[..., 1]
PIL_MODES = ["1", "L", "P", "RGB", "RGBA", "RGBX", "CMYK", "YCbCr", "LAB", "HSV", "LA", "La", "PA", "RGBa", "I",
             "F", "I;16", "I;16B", "I;16L"]


@pytest.mark.parametrize("mode", PIL_MODES)
def test_pil_images_of_every_mode_are_read_with_their_content(mode):
    rgb = load_image(_pil(mode))
    assert rgb.dtype == np.uint8 and rgb.shape == PHOTO.shape
    assert rgb.std() > 10, "read as a flat image: the content was lost"
    if mode in ("I", "F", "I;16", "I;16B", "I;16L", "L", "LA", "La"):
        assert np.abs(rgb[..., 0].astype(int) - GREY).max() <= 1  # the grey levels, at their scale


def test_mode_f_in_0_1_and_mode_i_in_16_bit_are_scaled():
    grey = PHOTO[..., 1]
    assert np.abs(load_image(Image.fromarray(grey / np.float32(255), "F"))[..., 0].astype(int) - grey).max() <= 1
    i16 = Image.fromarray(grey.astype(np.int32) * 257, "I")
    assert np.array_equal(load_image(i16)[..., 0], grey)


@pytest.mark.parametrize("case", ["closed", "truncated-file", "bomb-file", "negative-I"])
def test_pil_images_that_cannot_be_read(case, tmp_path, matter):
    if case == "closed":
        im = Image.fromarray(PHOTO)
        im.close()
        expected = "the PIL image is closed"
    elif case == "truncated-file":
        (tmp_path / "cut.png").write_bytes(encode(portrait(400, 300))[:2000])
        im = Image.open(tmp_path / "cut.png")
        expected = "the PIL image cannot be read"
    elif case == "bomb-file":
        (tmp_path / "bomb.png").write_bytes(png_bomb(12000, 12000))
        with pytest.warns(Image.DecompressionBombWarning):  # Pillow warns, and opens it (lazily)
            im = Image.open(tmp_path / "bomb.png")
        expected = "12000x12000 pixels"
    else:
        im = Image.fromarray(np.full((32, 32), -5, np.int32), "I")
        expected = "must hold values from 0"
    with pytest.raises(WsshmError) as info:
        matter.predict(im)
    api_error(info, "image", expected)


# ---------------------------------------------------------------- numpy arrays and other objects


ARRAYS = {
    "uint8": (lambda: PHOTO, "ok"),
    "uint16": (lambda: PHOTO.astype(np.uint16) * 257, "ok"),
    "float-0-1": (lambda: PHOTO / 255.0, "ok"),
    "float16": (lambda: (PHOTO / 255.0).astype(np.float16), "ok"),
    "bool-mask": (lambda: PHOTO[..., 0] > 128, "ok"),
    "int64-0-255": (lambda: PHOTO.astype(np.int64), "ok"),
    "grey-HxWx1": (lambda: PHOTO[..., :1], "ok"),
    "rgba": (lambda: np.dstack([PHOTO, PHOTO[..., :1]]), "ok"),
    "strided": (lambda: portrait(144, 112)[::2, ::2], "ok"),
    "reversed": (lambda: PHOTO[::-1, ::-1], "ok"),
    "read-only": (lambda: np.frombuffer(PHOTO.tobytes(), np.uint8).reshape(PHOTO.shape), "ok"),
    "float-nan": (lambda: np.where(PHOTO > 100, np.nan, 0.5), "NaN or infinite"),
    "float-inf": (lambda: np.full((32, 32, 3), np.inf), "NaN or infinite"),
    "float-0-255": (lambda: PHOTO.astype(np.float32), "divide it by 255"),
    "int32-negative": (lambda: PHOTO.astype(np.int32) - 300, "must hold values from 0"),
    "complex": (lambda: PHOTO.astype(np.complex64), "unsupported image dtype"),
    "object": (lambda: np.full((32, 32, 3), None, dtype=object), "unsupported image dtype"),
    "1-d": (lambda: np.zeros(100, np.uint8), "must be HxW"),
    "4-d": (lambda: np.zeros((2, 32, 32, 3), np.uint8), "must be HxW"),
    "2-channels": (lambda: np.zeros((32, 32, 2), np.uint8), "must be HxW"),
    "5-channels": (lambda: np.zeros((32, 32, 5), np.uint8), "must be HxW"),
    "empty": (lambda: np.zeros((0, 0, 3), np.uint8), "0x0 pixels"),
    "broadcast-20000x20000": (lambda: np.broadcast_to(np.uint8(0), (20000, 20000, 3)), "20000x20000 pixels"),
}


@pytest.mark.parametrize("name", list(ARRAYS))
def test_numpy_arrays(name, matter):
    make, expected = ARRAYS[name]
    arr = make()
    if expected == "ok":
        alpha = matter.predict(arr)
        assert alpha.shape == arr.shape[:2] and np.isfinite(alpha).all()
    else:
        with pytest.raises(WsshmError) as info:
            matter.predict(arr)
        api_error(info, expected)


@pytest.mark.parametrize("obj", [None, 123, 1.5, [], {}, object(), ("a.jpg",)], ids=repr)
def test_objects_that_are_not_images_are_a_type_error(obj, matter):
    with pytest.raises(WsshmTypeError) as info:
        matter.predict(obj)
    assert isinstance(info.value, TypeError)
    api_error(info, "image", "cannot read an image from a")
