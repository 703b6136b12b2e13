"""Blur-fusion foreground colours: the old background's colour leaves the soft edge; the low-resolution estimate."""

import numpy as np

from wsshm_rt import compose as C

from .conftest import GREEN, RED, band_scene, hairy_scene, lowres_of, random_image


def test_blur_box_sizes_scale_with_the_long_side():
    assert C.blur_box_sizes(1024, 768) == (91, 7)
    wide, fine = C.blur_box_sizes(2048, 100)
    assert wide == 183 and fine == 15 and wide % 2 == 1 and fine % 2 == 1
    assert C.blur_box_sizes(16, 16) == (3, 3)


def test_constant_image_is_its_own_foreground():
    image = np.full((30, 30, 3), (10, 200, 90), np.uint8)
    alpha = np.random.default_rng(0).random((30, 30), dtype=np.float32)
    assert np.array_equal(C.estimate_foreground(image, alpha), image)


def test_foreground_estimation_removes_the_old_background_colour():
    image, alpha = band_scene()
    band = alpha == 0.5
    fg = C.estimate_foreground(image, alpha)
    est_err = np.linalg.norm(fg[band] - RED, axis=1).mean()
    raw_err = np.linalg.norm(image[band] - RED, axis=1).mean()
    assert est_err < 0.4 * raw_err
    assert np.array_equal(fg[alpha == 1], image[alpha == 1])


def test_lowres_foreground_beats_no_estimate_against_the_truth():
    image, alpha, fg, _ = hairy_scene()
    a = alpha[..., None]
    truth = a * fg + (1 - a) * GREEN
    soft = (alpha > 0.02) & (alpha < 0.98)
    lowres = lowres_of(image, alpha, (170, 128))  # as a 320x240 frame matted at shorter side 128

    def err(out):
        return np.abs(out - truth).mean(axis=2)[soft].mean()

    raw = err(C.replace_background(image, alpha, "#00ff00", estimate_fg=False))
    assert err(C.replace_background(image, alpha, "#00ff00", lowres=lowres)) < 0.6 * raw
    assert err(C.replace_background(image, alpha, "#00ff00")) < 0.6 * raw
    # The correction is (1 - alpha) * (F - B): pixels with alpha 1 keep the image exactly.
    out = C.replace_background(image, alpha, "#00ff00", lowres=lowres)
    assert np.array_equal(out[alpha == 1], image[alpha == 1])


def test_lowres_keeps_full_resolution_detail_inside_the_person():
    image = random_image(96, 128)  # texture finer than the small pair can hold
    alpha = np.ones((96, 128), np.float32)
    out = C.replace_background(image, alpha, "blue", lowres=lowres_of(image, alpha, (32, 24)))
    assert np.array_equal(out, image)
    rgba = C.cutout_rgba(image, alpha, lowres=lowres_of(image, alpha, (32, 24)))
    assert np.array_equal(rgba[..., :3], image)


def test_lowres_no_smaller_than_the_image_is_the_full_estimate():
    image, alpha = band_scene(64)
    assert np.array_equal(C.replace_background(image, alpha, "blue", lowres=(image, alpha)),
                          C.replace_background(image, alpha, "blue"))
