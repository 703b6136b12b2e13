"""Strips: large frames are processed in bands that must match the whole-frame result."""

import numpy as np
import pytest

from wsshm_rt import compose as C
from wsshm_rt.compose import foreground, sources

from .conftest import RED, band_scene, random_image


@pytest.mark.parametrize("background", ["red", "blur", "blur:7", "image", "big_image"])
def test_strip_processing_matches_whole_frame(background):
    image = random_image(70, 50, seed=3)
    alpha = np.random.default_rng(4).random((70, 50), dtype=np.float32)
    images = {"image": random_image(9, 17, seed=5), "big_image": random_image(300, 200, seed=6)}
    spec = images.get(background, background)
    whole = C.replace_background(image, alpha, spec, strip_rows=10_000)
    strips = C.replace_background(image, alpha, spec, strip_rows=7)
    assert np.abs(whole.astype(int) - strips).max() <= 1
    assert np.abs(C.estimate_foreground(image, alpha, strip_rows=5).astype(int)
                  - C.estimate_foreground(image, alpha)).max() <= 1


def test_strip_processing_matches_on_the_reduced_resolution_path(monkeypatch):
    # Force the coarse wide pass and blur (as on a huge photo) on a small frame.
    monkeypatch.setattr(foreground, "WIDE_WORK_SIDE", 16)
    monkeypatch.setattr(sources, "BLUR_WORK_SIDE", 16)
    image, alpha = band_scene(96, band=4)
    whole = C.replace_background(image, alpha, "blur", strip_rows=10_000)
    strips = C.replace_background(image, alpha, "blur", strip_rows=9)
    assert np.abs(whole.astype(int) - strips).max() <= 1
    fg = C.estimate_foreground(image, alpha, strip_rows=11)
    assert np.abs(fg.astype(int) - C.estimate_foreground(image, alpha)).max() <= 1
    assert np.array_equal(fg[alpha == 1], image[alpha == 1])
    band = alpha == 0.5
    assert np.linalg.norm(fg[band] - RED, axis=1).mean() < np.linalg.norm(image[band] - RED, axis=1).mean()
