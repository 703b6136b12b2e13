"""How much a matted video flickers: the dtSSD metric (benchmarks and tests). The temporal smoothing that lowers it
is runtime code, ``wsshm_rt.frames.MotionGatedSmoother``.
"""

from __future__ import annotations

import numpy as np


def dtssd(pred_seq, true_seq) -> float:
    """Temporal flicker (Erofeev et al. 2015, as in RobustVideoMatting's evaluation), scaled by 100.

    pred_seq, true_seq: sequences of alphas Shape(H, W) in [0, 1] (uint8 is divided by 255), same length >= 2.
    Per frame t >= 1: sqrt(mean(((pred_t - pred_{t-1}) - (true_t - true_{t-1}))^2)); the mean over frames x 100.
    0 when the prediction changes exactly as the ground truth does, whatever its per-frame error.
    """
    pred, true = _as_unit_stack(pred_seq), _as_unit_stack(true_seq)
    if pred.shape != true.shape:
        raise ValueError(f"prediction {pred.shape} and ground truth {true.shape} sequences differ in shape")
    if len(pred) < 2:
        raise ValueError("dtSSD needs at least two frames")
    err = np.diff(pred, axis=0) - np.diff(true, axis=0)
    per_frame = np.sqrt(np.mean(err * err, axis=(1, 2)))
    return float(per_frame.mean() * 100.0)


def _as_unit_stack(seq) -> np.ndarray:
    arr = np.stack([np.asarray(a) for a in seq])
    if arr.dtype == np.uint8:
        return arr.astype(np.float64) / 255.0
    return arr.astype(np.float64)
