import cv2
import numpy as np
import pytest

from wsshm_rt import compose as C
from wsshm_rt.errors import WsshmError
from wsshm_rt.images import save_image

RED, GREEN, BLUE = np.array([255, 0, 0.0]), np.array([0, 255, 0.0]), np.array([0, 0, 255.0])


def _random_image(h, w, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def _band_scene(size=256, band=6):
    """Red foreground on the left, green background on the right, alpha 0.5 in a vertical band between."""
    alpha = np.zeros((size, size), np.float32)
    alpha[:, :size // 2] = 1.0
    alpha[:, size // 2 - band // 2:size // 2 + band // 2] = 0.5
    a = alpha[..., None]
    image = np.rint(a * RED + (1 - a) * GREEN).astype(np.uint8)
    return image, alpha


# ---- small helpers


def test_alpha_to_uint8_rounds_and_clips():
    alpha = np.array([[0.0, 0.5, 1.0, 1.2, -0.1, 0.002]], np.float32)
    assert C.alpha_to_uint8(alpha).tolist() == [[0, 128, 255, 255, 0, 1]]
    assert C.alpha_to_uint8(alpha).dtype == np.uint8


def test_blur_box_sizes_scale_with_the_long_side():
    assert C.blur_box_sizes(1024, 768) == (91, 7)
    wide, fine = C.blur_box_sizes(2048, 100)
    assert wide == 183 and fine == 15 and wide % 2 == 1 and fine % 2 == 1
    assert C.blur_box_sizes(16, 16) == (3, 3)


# ---- parse_background


@pytest.mark.parametrize("spec, rgb", [("#00ff00", (0, 255, 0)), ("#0F0", (0, 255, 0)), ("green", (0, 255, 0)),
                                       (" Gray ", (128, 128, 128)), ("10, 20,30", (10, 20, 30)),
                                       ((1, 2, 3), (1, 2, 3))])
def test_parse_background_colours(spec, rgb):
    bg = C.parse_background(spec)
    assert bg.kind == "color" and bg.rgb == rgb


def test_parse_background_blur_image_and_path(tmp_path):
    assert C.parse_background("blur") == C.Background("blur", radius=None)
    assert C.parse_background("blur:25").radius == 25.0
    image = _random_image(12, 20)
    assert C.parse_background(image).image.shape == (12, 20, 3)
    path = tmp_path / "bg.png"
    save_image(path, image)
    for spec in (str(path), path):
        bg = C.parse_background(spec)
        assert bg.kind == "image" and np.array_equal(bg.image, image)
    assert C.parse_background(bg) is bg


@pytest.mark.parametrize("spec", ["notacolour", "#12", "#gg0000", "1,2,300", "1,2,x", "blur:-3", "blur:x",
                                  "missing_dir/missing.png", (1, 2, 256), 3.5])
def test_parse_background_errors_are_one_sentence(spec):
    with pytest.raises(WsshmError) as info:
        C.parse_background(spec)
    assert "\n" not in str(info.value) and len(str(info.value)) > 10


# ---- compositing


def test_compositing_formula_with_a_known_foreground():
    fg = _random_image(20, 24, seed=1)
    alpha = np.random.default_rng(2).random((20, 24), dtype=np.float32)
    out = C.replace_background(fg, alpha, "#204060", estimate_fg=False)
    a = alpha[..., None]
    expected = a * fg + (1 - a) * np.array([0x20, 0x40, 0x60])
    assert np.abs(out - expected).max() <= 0.51


@pytest.mark.parametrize("estimate_fg", [True, False])
def test_alpha_one_keeps_the_image_and_alpha_zero_gives_the_background(estimate_fg):
    image = _random_image(32, 40)
    ones, zeros = np.ones((32, 40), np.float32), np.zeros((32, 40), np.float32)
    assert np.array_equal(C.replace_background(image, ones, "blue", estimate_fg), image)
    assert (C.replace_background(image, zeros, "blue", estimate_fg) == [0, 0, 255]).all()


def test_constant_image_is_its_own_foreground():
    image = np.full((30, 30, 3), (10, 200, 90), np.uint8)
    alpha = np.random.default_rng(0).random((30, 30), dtype=np.float32)
    assert np.array_equal(C.estimate_foreground(image, alpha), image)


def test_foreground_estimation_removes_the_old_background_colour():
    image, alpha = _band_scene()
    band = alpha == 0.5
    fg = C.estimate_foreground(image, alpha)
    est_err = np.linalg.norm(fg[band] - RED, axis=1).mean()
    raw_err = np.linalg.norm(image[band] - RED, axis=1).mean()
    assert est_err < 0.4 * raw_err
    assert np.array_equal(fg[alpha == 1], image[alpha == 1])


def test_new_background_composite_is_closer_with_estimation():
    image, alpha = _band_scene()
    a = alpha[..., None]
    truth = a * RED + (1 - a) * BLUE
    with_est = C.replace_background(image, alpha, "blue")
    raw = C.replace_background(image, alpha, "blue", estimate_fg=False)
    assert np.abs(with_est - truth).mean() < 0.4 * np.abs(raw - truth).mean()


def _lowres_of(image, alpha, size):
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return small, cv2.resize(alpha, size, interpolation=cv2.INTER_AREA)


def _hairy_scene(h=240, w=320, seed=0):
    """Textured person over a textured background with a noisy, hair-like soft edge: (image, alpha, F, B)."""
    rng = np.random.default_rng(seed)

    def texture(colour, cell):
        noise = rng.normal(0, 1, (h // cell + 2, w // cell + 2, 3)).astype(np.float32)
        noise = cv2.resize(noise, (w + 2 * cell, h + 2 * cell), interpolation=cv2.INTER_CUBIC)[:h, :w]
        return np.clip(np.float32(colour) + 40 * noise, 0, 255)

    fg, bg = texture((200, 150, 120), 4), texture((60, 110, 170), 16)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r = np.sqrt(((xx - w / 2) / (0.23 * w)) ** 2 + ((yy - 0.6 * h) / (0.42 * h)) ** 2)
    hair = cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (0, 0), 1.0) - 0.5
    alpha = np.clip((1 - r) * 20 + hair * 60 * (np.abs(1 - r) < 0.15), 0, 1).astype(np.float32)
    a = alpha[..., None]
    return np.clip(a * fg + (1 - a) * bg + 0.5, 0, 255).astype(np.uint8), alpha, fg, bg


def test_lowres_foreground_beats_no_estimate_against_the_truth():
    image, alpha, fg, _ = _hairy_scene()
    a = alpha[..., None]
    truth = a * fg + (1 - a) * GREEN
    soft = (alpha > 0.02) & (alpha < 0.98)
    lowres = _lowres_of(image, alpha, (170, 128))  # as a 320x240 frame matted at shorter side 128

    def err(out):
        return np.abs(out - truth).mean(axis=2)[soft].mean()

    raw = err(C.replace_background(image, alpha, "#00ff00", estimate_fg=False))
    assert err(C.replace_background(image, alpha, "#00ff00", lowres=lowres)) < 0.6 * raw
    assert err(C.replace_background(image, alpha, "#00ff00")) < 0.6 * raw
    # The correction is (1 - alpha) * (F - B): pixels with alpha 1 keep the image exactly.
    out = C.replace_background(image, alpha, "#00ff00", lowres=lowres)
    assert np.array_equal(out[alpha == 1], image[alpha == 1])


def test_lowres_keeps_full_resolution_detail_inside_the_person():
    image = _random_image(96, 128)  # texture finer than the small pair can hold
    alpha = np.ones((96, 128), np.float32)
    out = C.replace_background(image, alpha, "blue", lowres=_lowres_of(image, alpha, (32, 24)))
    assert np.array_equal(out, image)
    rgba = C.cutout_rgba(image, alpha, lowres=_lowres_of(image, alpha, (32, 24)))
    assert np.array_equal(rgba[..., :3], image)


def test_lowres_no_smaller_than_the_image_is_the_full_estimate():
    image, alpha = _band_scene(64)
    assert np.array_equal(C.replace_background(image, alpha, "blue", lowres=(image, alpha)),
                          C.replace_background(image, alpha, "blue"))


def test_cutout_rgba():
    image, alpha = _band_scene(64)
    rgba = C.cutout_rgba(image, alpha)
    assert rgba.shape == (64, 64, 4) and rgba.dtype == np.uint8
    assert np.array_equal(rgba[..., 3], C.alpha_to_uint8(alpha))
    assert np.array_equal(rgba[..., :3], C.estimate_foreground(image, alpha))
    assert np.array_equal(C.cutout_rgba(image, alpha, foreground=False)[..., :3], image)
    given = _random_image(64, 64)
    assert np.array_equal(C.cutout_rgba(image, alpha, foreground=given)[..., :3], given)


def test_mismatched_alpha_is_a_user_error():
    with pytest.raises(WsshmError):
        C.replace_background(_random_image(10, 10), np.zeros((10, 11), np.float32), "red")


# ---- backgrounds


@pytest.mark.parametrize("frame", [(100, 100), (200, 100), (30, 60), (25, 25), (60, 20)])
def test_cover_keeps_aspect_and_fills_the_frame(frame):
    h, w = 50, 100
    yy, xx = np.mgrid[0:h, 0:w]
    bg = np.stack([2 * xx, 4 * yy, np.zeros_like(xx)], axis=2).astype(np.uint8)  # R = 2x, G = 4y
    out = C.fit_cover(bg, *frame).astype(float)
    assert out.shape == frame + (3,)
    fh, fw = frame
    rows, cols = slice(fh // 4, fh - fh // 4), slice(fw // 4, fw - fw // 4)
    slope_x = np.polyfit(np.arange(fw)[cols], out[fh // 2, cols, 0], 1)[0]
    slope_y = np.polyfit(np.arange(fh)[rows], out[rows, fw // 2, 1], 1)[0]
    assert slope_x / slope_y == pytest.approx(0.5, rel=0.08)  # same scale on both axes
    assert out[fh // 2, fw // 2, 0] == pytest.approx(99, abs=4)  # centred
    assert out[fh // 2, fw // 2, 1] == pytest.approx(98, abs=6)
    # it fills: one axis spans the whole source, the other is a centre crop (no replicated border)
    assert out[fh // 2, 0, 0] < 30 or out[0, fw // 2, 1] < 30


def test_image_background_is_covered_behind_the_person():
    bg = np.zeros((10, 30, 3), np.uint8)
    bg[:, :, 2] = 250
    out = C.replace_background(_random_image(40, 40), np.zeros((40, 40), np.float32), bg)
    assert (out == [0, 0, 250]).all()


def test_blur_background_is_a_gaussian_blur_of_the_image():
    image = _random_image(64, 64)
    out = C.replace_background(image, np.zeros((64, 64), np.float32), "blur:9")  # sigma = radius / 3
    assert np.abs(out.astype(int) - cv2.GaussianBlur(image, (0, 0), 3)).max() <= 1


def test_wide_blur_through_the_reduced_resolution_path_is_close():
    rng = np.random.default_rng(0)
    image = cv2.resize(rng.integers(0, 256, (12, 12, 3), dtype=np.uint8), (96, 96), interpolation=cv2.INTER_CUBIC)
    out = C.replace_background(image, np.zeros((96, 96), np.float32), "blur:60")  # worked at 1/10 resolution
    ref = cv2.GaussianBlur(image.astype(np.float32), (0, 0), 20)
    assert np.abs(out - ref).mean() < 3


# ---- strips: large frames are processed in bands that must match the whole-frame result


@pytest.mark.parametrize("background", ["red", "blur", "blur:7", "image", "big_image"])
def test_strip_processing_matches_whole_frame(background):
    image = _random_image(70, 50, seed=3)
    alpha = np.random.default_rng(4).random((70, 50), dtype=np.float32)
    spec = {"image": _random_image(9, 17, seed=5), "big_image": _random_image(300, 200, seed=6)}.get(background,
                                                                                                     background)
    whole = C.replace_background(image, alpha, spec, strip_rows=10_000)
    strips = C.replace_background(image, alpha, spec, strip_rows=7)
    assert np.abs(whole.astype(int) - strips).max() <= 1
    assert np.abs(C.estimate_foreground(image, alpha, strip_rows=5).astype(int)
                  - C.estimate_foreground(image, alpha)).max() <= 1


def test_strip_processing_matches_on_the_reduced_resolution_path(monkeypatch):
    # Force the coarse wide pass and blur (as on a huge photo) on a small frame.
    monkeypatch.setattr(C, "WIDE_WORK_SIDE", 16)
    monkeypatch.setattr(C, "BLUR_WORK_SIDE", 16)
    image, alpha = _band_scene(96, band=4)
    whole = C.replace_background(image, alpha, "blur", strip_rows=10_000)
    strips = C.replace_background(image, alpha, "blur", strip_rows=9)
    assert np.abs(whole.astype(int) - strips).max() <= 1
    fg = C.estimate_foreground(image, alpha, strip_rows=11)
    assert np.abs(fg.astype(int) - C.estimate_foreground(image, alpha)).max() <= 1
    assert np.array_equal(fg[alpha == 1], image[alpha == 1])
    band = alpha == 0.5
    assert np.linalg.norm(fg[band] - RED, axis=1).mean() < np.linalg.norm(image[band] - RED, axis=1).mean()


def test_a_blur_wider_than_the_image_is_the_mean_colour_not_a_memory_blowup():
    from wsshm_rt.compose import parse_background, replace_background

    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (64, 48, 3), dtype=np.uint8)
    alpha = np.zeros((64, 48), np.float32)  # all background: the output is the blurred photo itself
    # blur:1e9 once asked for a (166666666, 166666666, 3) array; now it is capped at the image's size.
    out = replace_background(img, alpha, parse_background("blur:1e9")).astype(np.float32)
    assert out.shape == img.shape
    assert np.abs(out - img.reshape(-1, 3).mean(0)).max() < 20 and out.std(axis=(0, 1)).max() < 8
