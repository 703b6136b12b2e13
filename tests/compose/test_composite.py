"""Compositing: uint8 alpha, the alpha * F + (1 - alpha) * B formula, RGBA cut-outs."""

import numpy as np
import pytest

from wsshm_rt import compose as C
from wsshm_rt.errors import WsshmError

from .conftest import BLUE, RED, band_scene, random_image


def test_alpha_to_uint8_rounds_and_clips():
    alpha = np.array([[0.0, 0.5, 1.0, 1.2, -0.1, 0.002]], np.float32)
    assert C.alpha_to_uint8(alpha).tolist() == [[0, 128, 255, 255, 0, 1]]
    assert C.alpha_to_uint8(alpha).dtype == np.uint8


def test_compositing_formula_with_a_known_foreground():
    fg = random_image(20, 24, seed=1)
    alpha = np.random.default_rng(2).random((20, 24), dtype=np.float32)
    out = C.replace_background(fg, alpha, "#204060", estimate_fg=False)
    a = alpha[..., None]
    expected = a * fg + (1 - a) * np.array([0x20, 0x40, 0x60])
    assert np.abs(out - expected).max() <= 0.51


@pytest.mark.parametrize("estimate_fg", [True, False])
def test_alpha_one_keeps_the_image_and_alpha_zero_gives_the_background(estimate_fg):
    image = random_image(32, 40)
    ones, zeros = np.ones((32, 40), np.float32), np.zeros((32, 40), np.float32)
    assert np.array_equal(C.replace_background(image, ones, "blue", estimate_fg), image)
    assert (C.replace_background(image, zeros, "blue", estimate_fg) == [0, 0, 255]).all()


def test_new_background_composite_is_closer_with_estimation():
    image, alpha = band_scene()
    a = alpha[..., None]
    truth = a * RED + (1 - a) * BLUE
    with_est = C.replace_background(image, alpha, "blue")
    raw = C.replace_background(image, alpha, "blue", estimate_fg=False)
    assert np.abs(with_est - truth).mean() < 0.4 * np.abs(raw - truth).mean()


def test_cutout_rgba():
    image, alpha = band_scene(64)
    rgba = C.cutout_rgba(image, alpha)
    assert rgba.shape == (64, 64, 4) and rgba.dtype == np.uint8
    assert np.array_equal(rgba[..., 3], C.alpha_to_uint8(alpha))
    assert np.array_equal(rgba[..., :3], C.estimate_foreground(image, alpha))
    assert np.array_equal(C.cutout_rgba(image, alpha, foreground=False)[..., :3], image)
    given = random_image(64, 64)
    assert np.array_equal(C.cutout_rgba(image, alpha, foreground=given)[..., :3], given)


def test_mismatched_alpha_is_a_user_error():
    with pytest.raises(WsshmError):
        C.replace_background(random_image(10, 10), np.zeros((10, 11), np.float32), "red")
