"""The guided refinement (wsshm_rt.refine): the colour guided filter and the sure interior it keeps."""

from __future__ import annotations

import cv2
import numpy as np

from wsshm_rt.frames import guided_upsample


def test_colour_guide_follows_an_edge_the_grey_guide_cannot_see():
    """Red person, green background of the same brightness: only the colour guided filter can snap to the edge."""
    from wsshm_rt.frames import grey
    from wsshm_rt.refine import colour_guided_upsample

    frame = np.empty((192, 256, 3), np.uint8)
    frame[:, :140], frame[:, 140:] = (200, 60, 60), (45, 142, 40)
    assert abs(grey(frame[:1, 139:141])[0, 0] - grey(frame[:1, 139:141])[0, 1]) < 0.005  # isoluminant
    true = np.zeros((192, 256), np.float32)
    true[:, :140] = 1.0
    x = np.arange(128, dtype=np.float32)
    small = np.tile(np.clip((71.5 - x) / 3.0 + 0.5, 0, 1), (96, 1))  # edge 4 px off at full size, soft
    colour = colour_guided_upsample(small, frame, 5, 3e-3)
    grey_only = guided_upsample(small, frame, 5, 3e-3)
    err = {name: float(np.mean((a - true) ** 2)) for name, a in (("colour", colour), ("grey", grey_only))}
    assert err["colour"] < 0.5 * err["grey"], err
    # At the frame's own size it is the plain (one-scale) guided filter and keeps a flat region's value.
    same = colour_guided_upsample(np.full((192, 256), 0.3, np.float32), frame, 5, 3e-3)
    assert same.shape == (192, 256) and np.allclose(same, 0.3, atol=1e-4)


def test_refinement_keeps_the_sure_interior_and_still_snaps_the_edge():
    """The network's alpha is kept well inside the regions it is sure of, and the edge is still the filter's: an
    edge a few px off is moved to the photo's edge."""
    from wsshm_rt.refine import guided_refine, refine_radius, sure_interior

    frame = np.full((384, 512, 3), (40, 90, 160), np.uint8)  # blue background
    frame[:, :300] = (200, 160, 130)  # skin-coloured person on the left, edge at x = 300
    small_frame = cv2.resize(frame, (256, 192), interpolation=cv2.INTER_AREA)
    x = np.arange(256, dtype=np.float32)
    small = np.tile(np.clip((153.5 - x) / 1.5 + 0.5, 0, 1), (192, 1))  # network edge at 153.5 (307 px): 7 px off
    keep = sure_interior(small, refine_radius(*small.shape))
    assert keep[:, :130].min() > 0.99 and keep[:, 200:].min() > 0.99  # deep inside either side: kept
    assert keep[:, 151:157].max() < 0.1  # at the edge: the filter's
    refined = guided_refine(small, frame, small_frame)
    edge = int(np.argmax(refined[100] < 0.5))  # first background pixel
    assert abs(edge - 300) <= 2, edge  # the photo's edge, not the network's (307)


def test_colour_guided_filter_matches_a_float64_solve_on_a_grey_photo():
    """A grey photo (r = g = b) makes the filter's 3x3 systems nearly singular; at a small eps float32 cofactors
    cancel (alphas were off by 0.66 at eps 3e-5). The result must match numpy's float64 solve of the same systems."""
    from wsshm_rt.refine import colour_guided_upsample

    rng = np.random.default_rng(0)
    g = cv2.GaussianBlur(rng.integers(0, 256, (96, 128)).astype(np.float32), (0, 0), 1.5)
    frame = np.repeat(np.clip((g - g.mean()) * 8 + 128, 0, 255).astype(np.uint8)[..., None], 3, axis=2)
    alpha = np.clip(cv2.GaussianBlur(rng.random((96, 128)).astype(np.float32), (0, 0), 3) * 3 - 1, 0, 1)
    radius, eps = 6, 3e-5

    def box(x):
        return cv2.boxFilter(x, -1, (2 * radius + 1,) * 2, borderType=cv2.BORDER_REFLECT)

    guide, p = frame / 255.0, alpha.astype(np.float64)
    mean_i, mean_p = box(guide), box(p)
    cov = box(guide * p[..., None]) - mean_i * mean_p[..., None]
    sigma = np.stack([np.stack([box(guide[..., i] * guide[..., j]) - mean_i[..., i] * mean_i[..., j]
                                + (eps if i == j else 0.0) for j in range(3)], -1) for i in range(3)], -2)
    coef = np.linalg.solve(sigma, cov[..., None])[..., 0]
    expected = np.clip((box(coef) * guide).sum(-1) + box(mean_p - (coef * mean_i).sum(-1)), 0, 1)
    out = colour_guided_upsample(alpha, frame, radius, eps)
    assert np.abs(out - expected).max() < 1e-3, np.abs(out - expected).max()
