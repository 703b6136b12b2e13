"""The runtime's per-frame alpha filters (wsshm_rt.frames): motion-gated smoothing and the grey guided
upsampling. FrameMatter on real frames: tests/video/test_api.py."""

from __future__ import annotations

import cv2
import numpy as np

from wsshm_rt.frames import MotionGatedSmoother, guided_upsample
from wsshm_rt.video.temporal import dtssd


def test_smoothing_cuts_flicker_on_static_noisy_alpha():
    rng = np.random.default_rng(1)
    frame = np.full((32, 32), 0.4, np.float32)
    true = [np.full((32, 32), 0.5, np.float32)] * 20
    noisy = [np.clip(t + rng.normal(0, 0.1, t.shape), 0, 1).astype(np.float32) for t in true]
    smoother = MotionGatedSmoother(0.7)
    smoothed = [smoother(a, frame) for a in noisy]
    assert dtssd(smoothed, true) < 0.6 * dtssd(noisy, true)


def test_smoothing_does_not_smear_a_moving_edge():
    """A bright square moving 3 px a frame: the smoothed alpha's edge stays within a pixel of the true edge."""
    smoother = MotionGatedSmoother(0.9)
    for i in range(10):
        alpha = np.zeros((32, 64), np.float32)
        alpha[:, : 10 + 3 * i] = 1.0
        frame = 0.2 + 0.6 * alpha
        out = smoother(alpha, frame)
        edge = (out[16] > 0.5).sum()  # columns inside the person on one row
        assert abs(edge - (10 + 3 * i)) <= 1
    # and without the motion gate (threshold huge) the same EMA does smear
    ema = MotionGatedSmoother(0.9, threshold=1e9)
    for i in range(10):
        alpha = np.zeros((32, 64), np.float32)
        alpha[:, : 10 + 3 * i] = 1.0
        out = ema(alpha, 0.2 + 0.6 * alpha)
    assert abs((out[16] > 0.5).sum() - 37) > 3


def test_guided_upsample_follows_image_edges():
    big = np.zeros((64, 64), np.float32)
    big[:, 29:] = 1.0  # an edge that does not sit on the 4x grid
    frame = np.repeat((40 + 180 * big)[..., None], 3, axis=2).astype(np.uint8)
    import cv2

    small = cv2.resize(big, (16, 16), interpolation=cv2.INTER_AREA)
    bilinear = cv2.resize(small, (64, 64), interpolation=cv2.INTER_LINEAR)
    guided = guided_upsample(small, frame)
    assert guided.shape == (64, 64) and guided.dtype == np.float32
    assert np.abs(guided - big).mean() < 0.5 * np.abs(bilinear - big).mean()
