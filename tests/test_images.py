import io
import types

import cv2
import numpy as np
import pytest
from PIL import Image

from wsshm_rt.errors import WsshmError
from wsshm_rt.files import list_images
from wsshm_rt.images import load_image
from wsshm_rt.preprocess import prepare, restore


def _png(path, arr):
    assert cv2.imwrite(str(path), arr)
    return path


def test_array_conversions(portrait):
    rgb, _ = portrait
    assert np.array_equal(load_image(rgb[:, :, ::-1], channels="BGR"), rgb)
    gray = load_image(rgb[:, :, 0])
    assert gray.shape == rgb.shape and np.array_equal(gray[:, :, 1], rgb[:, :, 0])
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 7, np.uint8)])
    assert np.array_equal(load_image(rgba), rgb)
    assert np.array_equal(load_image(rgb.astype(np.uint16) * 257), rgb)
    assert np.abs(load_image(rgb / 255.0).astype(int) - rgb).max() <= 1


def test_float_images_out_of_range_are_refused_not_clipped(portrait):
    rgb, _ = portrait
    ringing = rgb / 255.0 * 1.1 - 0.05  # a resampling overshoot: clipped, the photo kept
    assert np.abs(load_image(ringing).astype(int) - np.clip(ringing * 255, 0, 255).round()).max() <= 1
    with pytest.raises(WsshmError, match=r"must hold values in \[0, 1\], this one spans .*; divide it by 255"):
        load_image(rgb.astype(np.float32))  # 0..255 floats would clip to a white frame
    bad = rgb / 255.0
    bad[3, 4, 1] = np.nan
    with pytest.raises(WsshmError, match="NaN or infinite"):
        load_image(bad)


def test_iphone_heic_and_avif_photos_are_read(tmp_path, monkeypatch):
    pillow_heif = pytest.importorskip("pillow_heif")
    rgb = _smooth()
    pillow_heif.from_bytes(mode="RGB", size=(rgb.shape[1], rgb.shape[0]), data=rgb.tobytes()).save(
        tmp_path / "IMG_0001.HEIC", quality=95)
    Image.fromarray(rgb).save(tmp_path / "IMG_0002.avif", quality=95)
    assert [p.name for p in list_images(tmp_path)] == ["IMG_0001.HEIC", "IMG_0002.avif"]
    for path in list_images(tmp_path):
        got = load_image(path)
        assert got.shape == rgb.shape and np.abs(got.astype(int) - rgb).mean() < 4, path  # lossy codecs
    # Without the extra, a HEIC photo names the exact install line.
    monkeypatch.setitem(__import__("sys").modules, "pillow_heif", None)  # makes `import pillow_heif` fail
    with pytest.raises(WsshmError, match=r"IMG_0001.HEIC: pillow-heif is not installed; install it with: "
                                         r"pip install 'wsshm-rt\[heif\]'"):
        load_image(tmp_path / "IMG_0001.HEIC")


def _smooth(h=96, w=72):
    yy, xx = np.mgrid[0:h, 0:w]
    rgb = np.dstack([xx * 3, yy * 2, 255 - yy * 2]).astype(np.uint8)  # smooth: lossy codecs keep it closely
    rgb[30:60, 20:50] = (230, 40, 40)
    return rgb


@pytest.mark.skipif(not cv2.haveImageWriter("x.avif"), reason="this OpenCV build has no AVIF writer")
def test_deep_avif_is_read_as_it_looks(tmp_path):
    rgb = _smooth()
    # 10-bit AVIF: read at 16-bit scale it came out almost black.
    assert cv2.imwrite(str(tmp_path / "deep.avif"), rgb[:, :, ::-1].astype(np.uint16) * 4,
                       [cv2.IMWRITE_AVIF_DEPTH, 10, cv2.IMWRITE_AVIF_QUALITY, 95])
    assert np.abs(load_image(tmp_path / "deep.avif").astype(int) - rgb).mean() < 4


def test_rotated_avif_and_float_tiff_are_read_as_they_look(tmp_path):
    rgb = _smooth()
    # An AVIF whose orientation says "rotate 90 degrees clockwise" (stored as its rotation box).
    im = Image.fromarray(rgb)
    exif = im.getexif()
    exif[0x0112] = 6
    im.save(tmp_path / "turned.avif", exif=exif.tobytes(), quality=95)
    turned = load_image(tmp_path / "turned.avif")
    assert turned.shape == (72, 96, 3)
    assert np.abs(turned.astype(int) - np.rot90(rgb, -1)).mean() < 4
    # A float TIFF in [0, 1] is an 8-bit RGB image like any other (it was returned as float and divided again).
    assert cv2.imwrite(str(tmp_path / "float.tif"), rgb[:, :, ::-1].astype(np.float32) / 255)
    got = load_image(tmp_path / "float.tif")
    stored = np.clip(cv2.imread(str(tmp_path / "float.tif"), cv2.IMREAD_UNCHANGED)[:, :, ::-1], 0, 1) * 255
    # (against the pixels stored: OpenCV before 4.12 writes float TIFFs with errors of up to 3.5 levels)
    assert got.dtype == np.uint8 and np.abs(got - stored).max() <= 1 and np.abs(got.astype(int) - rgb).max() <= 4


def test_a_cut_off_png_is_one_error_and_no_library_noise(tmp_path, capfd):
    data = cv2.imencode(".png", _smooth())[1].tobytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(WsshmError, match="cut.png is not a readable image"):
        load_image(tmp_path / "cut.png")
    assert capfd.readouterr().err == ""  # libpng used to print its own line on the process's stderr


@pytest.mark.parametrize("api", ["top-level", "none"])
def test_images_are_read_with_opencv_builds_without_cv2_utils_logging(tmp_path, monkeypatch, api):
    # OpenCV 4.8-4.11 (what pip installs beside numpy < 2) has cv2.setLogLevel but no cv2.utils.logging: every
    # image was once refused as "not a readable image" there.
    monkeypatch.setattr(cv2, "utils", types.SimpleNamespace())
    calls = []
    if api == "top-level":
        level = {"now": 3}
        monkeypatch.setattr(cv2, "getLogLevel", lambda: level["now"], raising=False)
        monkeypatch.setattr(cv2, "setLogLevel", lambda v: (calls.append(v), level.update(now=v)), raising=False)
    else:
        monkeypatch.delattr(cv2, "getLogLevel", raising=False)
        monkeypatch.delattr(cv2, "setLogLevel", raising=False)
    assert cv2.imwrite(str(tmp_path / "x.jpg"), _smooth()[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert np.abs(load_image(tmp_path / "x.jpg").astype(int) - _smooth()).mean() < 4
    assert calls == ([0, 3] if api == "top-level" else [])  # silenced while decoding, then restored
    (tmp_path / "bad.jpg").write_bytes(b"plain text, not an image")
    with pytest.raises(WsshmError, match="bad.jpg is not a readable image"):
        load_image(tmp_path / "bad.jpg")


def test_pil_images_of_plugin_classes_are_accepted(tmp_path):
    pillow_heif = pytest.importorskip("pillow_heif")
    pillow_heif.register_heif_opener()
    Image.fromarray(_smooth()).save(tmp_path / "x.heic", quality=95)
    with Image.open(tmp_path / "x.heic") as im:  # a pillow_heif.HeifImageFile, not a class from PIL itself
        assert np.abs(load_image(im).astype(int) - _smooth()).mean() < 4


def test_files_16bit_gray_rgba(tmp_path, portrait):
    rgb, _ = portrait
    bgr16 = rgb[:, :, ::-1].astype(np.uint16) * 257
    assert np.array_equal(load_image(_png(tmp_path / "c16.png", bgr16)), rgb)
    g16 = rgb[:, :, 0].astype(np.uint16) * 257
    assert np.array_equal(load_image(_png(tmp_path / "g16.png", g16))[:, :, 2], rgb[:, :, 0])
    bgra = np.dstack([rgb[:, :, ::-1], np.zeros(rgb.shape[:2], np.uint8)])
    assert np.array_equal(load_image(_png(tmp_path / "a.png", bgra)), rgb)
    assert np.array_equal(load_image(Image.fromarray(rgb)), rgb)


def test_exif_orientation_is_applied(tmp_path):
    arr = np.zeros((40, 60, 3), np.uint8)
    arr[:, :10] = 255  # white stripe on the left of the stored pixels
    im = Image.fromarray(arr)
    exif = im.getexif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    im.save(tmp_path / "rot.jpg", exif=exif.tobytes(), quality=95)
    out = load_image(tmp_path / "rot.jpg")
    assert out.shape == (60, 40, 3)
    assert out[:10].mean() > 200 and out[-10:].mean() < 50  # the stripe is now on top


@pytest.mark.parametrize("content,match", [
    (b"", "empty"),
    (b"\xff\xd8\xff\xe0 this is not really a jpeg", "not a readable image"),
    (b"plain text, not an image", "not a readable image"),
])
def test_bad_files(tmp_path, content, match):
    path = tmp_path / "bad.jpg"
    path.write_bytes(content)
    with pytest.raises(WsshmError, match=match):
        load_image(path)


def test_encoded_bytes_and_file_objects_are_read_like_the_file(tmp_path):
    arr = np.zeros((40, 60, 3), np.uint8)
    arr[:, :10] = 255
    im = Image.fromarray(arr)
    exif = im.getexif()
    exif[0x0112] = 6  # rotated: bytes get the same EXIF handling as files
    im.save(tmp_path / "rot.jpg", exif=exif.tobytes(), quality=95)
    data = (tmp_path / "rot.jpg").read_bytes()
    from_file = load_image(tmp_path / "rot.jpg")
    assert from_file.shape == (60, 40, 3)
    for src in (data, bytearray(data), memoryview(data), io.BytesIO(data)):
        np.testing.assert_array_equal(load_image(src), from_file)
    with open(tmp_path / "rot.jpg", "rb") as f:
        np.testing.assert_array_equal(load_image(f), from_file)


@pytest.mark.parametrize("src,match", [
    (b"", "^image is empty"),
    (io.BytesIO(b"plain text, not an image"), "^image is not a readable image"),
    (io.StringIO("text"), "binary mode"),
])
def test_bad_bytes_are_one_error(src, match):
    with pytest.raises(WsshmError, match=match):
        load_image(src)


def test_truncated_jpeg_is_refused(tmp_path, portrait):
    ok, buf = cv2.imencode(".jpg", portrait[0])
    path = tmp_path / "cut.jpg"
    path.write_bytes(buf.tobytes()[: len(buf) // 2])
    with pytest.raises(WsshmError, match="not a readable image"):
        load_image(path)


def test_tiny_and_missing(tmp_path):
    with pytest.raises(WsshmError, match="1x1 pixels"):
        load_image(_png(tmp_path / "one.png", np.zeros((1, 1, 3), np.uint8)))
    with pytest.raises(WsshmError, match="does not exist"):
        load_image(tmp_path / "nope.png")


def test_prepare_and_restore_geometry():
    rgb = np.zeros((300, 500, 3), np.uint8)
    x, geom = prepare(rgb, short_side=128)
    assert x.shape == (3, 128, 224) and x.dtype == np.float32  # 213 wide, padded to 224
    assert geom.resized_hw == (128, 213) and geom.orig_hw == (300, 500)
    alpha = np.zeros(x.shape[1:], np.float32)
    alpha[:, :100] = 1.0
    back = restore(alpha, geom)
    assert back.shape == (300, 500)
    assert back[:, :200].min() > 0.99 and back[:, 260:].max() < 0.01
