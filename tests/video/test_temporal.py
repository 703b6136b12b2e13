"""The dtSSD flicker metric (wsshm_rt.video.temporal)."""

from __future__ import annotations

import numpy as np
import pytest

from wsshm_rt.video.temporal import dtssd


def test_dtssd_known_values():
    true = [np.zeros((4, 4)), np.full((4, 4), 0.5), np.full((4, 4), 0.5)]
    assert dtssd(true, true) == 0.0
    offset = [a + 0.2 for a in true]  # a constant error does not flicker
    assert dtssd(offset, true) == pytest.approx(0.0, abs=1e-9)
    pred = [np.zeros((4, 4)), np.full((4, 4), 0.6), np.full((4, 4), 0.5)]  # changes of +0.6, -0.1 vs +0.5, 0
    assert dtssd(pred, true) == pytest.approx(100 * (0.1 + 0.1) / 2)


def test_dtssd_flickering_worse_than_stable():
    rng = np.random.default_rng(0)
    true = [np.full((8, 8), 0.5)] * 6
    stable = [t + 0.05 for t in true]
    flicker = [t + rng.normal(0, 0.05, t.shape) for t in true]
    assert dtssd(flicker, true) > dtssd(stable, true) + 1.0
