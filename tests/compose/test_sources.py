"""Backgrounds behind the person: an image scaled to cover the frame, a Gaussian blur of the frame itself."""

import cv2
import numpy as np
import pytest

from wsshm_rt import compose as C

from .conftest import random_image


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
    out = C.replace_background(random_image(40, 40), np.zeros((40, 40), np.float32), bg)
    assert (out == [0, 0, 250]).all()


def test_blur_background_is_a_gaussian_blur_of_the_image():
    image = random_image(64, 64)
    out = C.replace_background(image, np.zeros((64, 64), np.float32), "blur:9")  # sigma = radius / 3
    assert np.abs(out.astype(int) - cv2.GaussianBlur(image, (0, 0), 3)).max() <= 1


def test_wide_blur_through_the_reduced_resolution_path_is_close():
    rng = np.random.default_rng(0)
    image = cv2.resize(rng.integers(0, 256, (12, 12, 3), dtype=np.uint8), (96, 96), interpolation=cv2.INTER_CUBIC)
    out = C.replace_background(image, np.zeros((96, 96), np.float32), "blur:60")  # worked at 1/10 resolution
    ref = cv2.GaussianBlur(image.astype(np.float32), (0, 0), 20)
    assert np.abs(out - ref).mean() < 3


def test_a_blur_wider_than_the_image_is_the_mean_colour_not_a_memory_blowup():
    from wsshm_rt.compose import parse_background, replace_background

    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (64, 48, 3), dtype=np.uint8)
    alpha = np.zeros((64, 48), np.float32)  # all background: the output is the blurred photo itself
    # blur:1e9 once asked for a (166666666, 166666666, 3) array; now it is capped at the image's size.
    out = replace_background(img, alpha, parse_background("blur:1e9")).astype(np.float32)
    assert out.shape == img.shape
    assert np.abs(out - img.reshape(-1, 3).mean(0)).max() < 20 and out.std(axis=(0, 1)).max() < 8
