import math

import numpy as np
import pytest

from wsshm_rt import metrics as M
from wsshm_rt.errors import WsshmError

GT = np.array([[0, 0, 1, 1],
               [0, 0.5, 1, 1],
               [0, 0.2, 0.8, 1],
               [0, 0, 1, 1]])


def _pred():
    pred = GT.copy()
    pred[1, 1] = 0.7   # d = +0.2, in the boundary region
    pred[0, 0] = 0.1   # d = +0.1
    pred[3, 3] = 0.6   # d = -0.4
    return pred


def _smooth_matte(seed, shape=(40, 48)):
    rng = np.random.default_rng(seed)
    small = rng.random((5, 6))
    import cv2

    return np.clip(cv2.resize(small, shape[::-1], interpolation=cv2.INTER_CUBIC) * 1.4 - 0.2, 0, 1)


def test_pixel_errors_hand_computed():
    pred = _pred()
    assert M.mse(pred, GT) == pytest.approx((0.04 + 0.01 + 0.16) / 16)
    assert M.sad(pred, GT) == pytest.approx(0.7 / 1000)
    assert M.mad(pred, GT) == pytest.approx(0.7 / 16)


def test_boundary_mask_and_boundary_errors():
    region = M.boundary_mask(GT)
    assert region.sum() == 3 and region[1, 1] and region[2, 1] and region[2, 2]
    assert not M.boundary_mask(np.array([[0.05, 0.95]])).any()  # open interval
    pred = _pred()
    assert M.mse(pred, GT, region) == pytest.approx(0.04 / 3)
    assert M.sad(pred, GT, region) == pytest.approx(0.2 / 1000)
    assert M.mad(pred, GT, region) == pytest.approx(0.2 / 3)


def test_empty_region_mean_is_nan_sum_is_zero():
    empty = np.zeros(GT.shape, bool)
    assert math.isnan(M.mse(_pred(), GT, empty))
    assert M.sad(_pred(), GT, empty) == 0.0


def test_uint8_inputs_are_scaled():
    assert M.mad(np.full((2, 2), 255, np.uint8), np.zeros((2, 2))) == pytest.approx(1.0)


def test_identical_mattes_give_zero_everywhere():
    gt = _smooth_matte(0)
    out = M.matte_metrics(gt, gt.copy())
    assert set(out) == {"mse", "sad", "mad", "grad", "conn", "mse_boundary", "sad_boundary", "mad_boundary",
                        "grad_boundary", "conn_boundary"}
    assert all(v == 0.0 for v in out.values())


def test_shifted_matte_has_larger_gradient_error():
    gt = np.zeros((32, 32))
    gt[8:24, 8:24] = 1.0
    shifted = np.roll(gt, 3, axis=1)
    assert M.gradient_error(gt, gt) == 0.0
    assert M.gradient_error(shifted, gt) > 0.0
    assert M.gradient_error(shifted, gt, convention="dim") > 0.0
    with pytest.raises(WsshmError):
        M.gradient_error(gt, gt, convention="nope")


def test_connectivity_error_of_a_disconnected_blob_is_its_area():
    gt = np.zeros((20, 20))
    gt[2:10, 2:10] = 1.0
    pred = gt.copy()
    pred[14:17, 14:17] = 1.0  # a 3x3 blob the truth does not have: each pixel costs |0 - 1| (phi 0 vs 1)
    assert M.connectivity_error(gt, gt) == 0.0
    assert M.connectivity_error(pred, gt) == pytest.approx(9 / 1000)


def test_seg_metrics_hand_computed():
    mask = np.zeros((30, 30))
    mask[:, :15] = 1.0
    far = M.far_from_edge_mask(mask, 10)
    # inside, col c is 15 - c px from the first outside column; outside, c - 14 px from the last inside one
    assert far[:, :5].all() and far[:, 25:].all() and not far[:, 5:25].any()
    pred = mask.copy()
    pred[0, 0] = 0.5   # far from the edge, error 0.5, no longer > 0.5
    pred[0, 14] = 0.0  # next to the edge, error 1
    out = M.seg_metrics(pred, mask, far_px=10)
    assert out["iou"] == pytest.approx(448 / 450)
    assert out["mse"] == pytest.approx(1.25 / 900)
    assert out["mse_far"] == pytest.approx(0.25 / 300)


def test_seg_metrics_empty_union_and_no_edge():
    zeros = np.zeros((8, 8))
    out = M.seg_metrics(zeros, zeros)
    assert out == {"iou": 1.0, "bf": 1.0, "mse": 0.0, "mse_far": 0.0}
    assert M.far_from_edge_mask(np.ones((8, 8))).all()


def test_boundary_f_score_known_values():
    a = np.zeros((100, 100), bool)
    a[20:80, 20:80] = True
    shifted = np.roll(a, 1, axis=0)           # 1 px off: within the tolerance (0.0075 x diagonal = 1.06 px)
    assert M.boundary_f(a, a) == 1.0 and M.boundary_f(a, shifted) == 1.0
    inner = np.zeros_like(a)
    inner[30:70, 30:70] = True               # 10 px inside: no boundary pixel matches
    assert M.boundary_f(a, inner) == 0.0
    assert M.boundary_f(a, np.zeros_like(a)) == 0.0
    # The prediction is the true square's left half. Its boundary: 176 px, of which the right column's rows 22..77
    # (56 px) lie more than 1 px from the true boundary. The true boundary: 236 px, of which the left column (60)
    # and the top and bottom rows out to column 50 (30 each beyond the corner, with the 1 px tolerance) are found.
    half = np.zeros_like(a)
    half[20:80, 20:50] = True
    assert (M.mask_boundary(a).sum(), M.mask_boundary(half).sum()) == (236, 176)
    precision, recall = (176 - 56) / 176, (60 + 30 + 30) / 236
    assert M.boundary_f(half, a) == pytest.approx(2 * precision * recall / (precision + recall))
    assert M.seg_metrics(half.astype(float), a.astype(float))["bf"] == pytest.approx(0.5825, abs=1e-4)


def test_shape_mismatch_is_a_user_error():
    with pytest.raises(WsshmError):
        M.mse(np.zeros((4, 4)), np.zeros((4, 5)))


def test_accumulator_means_skip_nan_and_count():
    acc = M.MetricAccumulator()
    acc.add({"mse": 0.1, "mse_boundary": math.nan})
    acc.add({"mse": 0.3, "mse_boundary": 0.5})
    assert acc.mean() == pytest.approx({"mse": 0.2, "mse_boundary": 0.5})
    assert acc.counts() == {"mse": 2, "mse_boundary": 1}
    assert acc.summary()["n"] == 2


def test_format_table_scales_and_aligns():
    table = M.format_table({"r18": {"mse": 0.004391, "sad": 12.5}, "modnet": {"mse": 0.009692}},
                           scale=M.REPORT_SCALE)
    lines = table.splitlines()
    assert lines[0].split() == ["name", "mse", "x1000", "sad"]
    assert "4.391" in lines[2] and "12.5" in lines[2]
    assert lines[3].split() == ["modnet", "9.692", "-"]


# ---- parity with the reference evaluation code (scipy / scikit-image, dev extra only)


def test_gradient_matches_p3m_and_dim_reference_code():
    ndimage = pytest.importorskip("scipy.ndimage")
    pred, gt = _smooth_matte(1), _smooth_matte(2)

    def p3m(pd, gt):
        mags = [np.sqrt(ndimage.gaussian_filter(x, 1.4, order=[1, 0]) ** 2
                        + ndimage.gaussian_filter(x, 1.4, order=[0, 1]) ** 2) for x in (pd, gt)]
        return np.sum((mags[0] - mags[1]) ** 2) / 10

    def dim(pd, gt, sigma=1.4):
        half = int(np.ceil(sigma * np.sqrt(-2 * np.log(np.sqrt(2 * np.pi) * sigma * 1e-2))))
        u = np.arange(-half, half + 1)
        g = np.exp(-u ** 2 / (2 * sigma ** 2)) / (sigma * np.sqrt(2 * np.pi))
        hx = np.outer(g, -u * g / sigma ** 2)
        hx /= np.sqrt(np.sum(hx ** 2))
        mags = [np.hypot(ndimage.convolve(x, hx, mode="nearest"), ndimage.convolve(x, hx.T, mode="nearest"))
                for x in (pd, gt)]
        return np.sum((mags[0] - mags[1]) ** 2) / 1000

    assert M.gradient_error(pred, gt) == pytest.approx(p3m(pred, gt), rel=1e-6)
    assert M.gradient_error(pred, gt, convention="dim") == pytest.approx(dim(pred, gt), rel=1e-6)


def test_connectivity_matches_p3m_reference_code():
    measure = pytest.importorskip("skimage.measure")
    pred, gt = _smooth_matte(3), _smooth_matte(4)
    pred[30:35, 2:6] = 0.9  # a detached blob

    def p3m(pd, gt, step=0.1):
        steps = np.arange(0, 1.1, step)
        l_map = -np.ones(pd.shape)
        for i in range(1, steps.size):
            regions = measure.regionprops(measure.label((pd >= steps[i]) & (gt >= steps[i]), connectivity=1))
            if not regions:
                continue
            omega = np.zeros(pd.shape)
            coords = max(regions, key=lambda r: r.area).coords
            omega[coords[:, 0], coords[:, 1]] = 1
            l_map[(l_map == -1) & (omega == 0)] = steps[i - 1]
        l_map[l_map == -1] = 1
        phis = [1 - (x - l_map) * ((x - l_map) >= 0.15) for x in (pd, gt)]
        return np.sum(np.abs(phis[0] - phis[1])) / 1000

    assert M.connectivity_error(pred, gt) == pytest.approx(p3m(pred, gt), rel=1e-9)
    assert M.connectivity_error(pred, gt) > 0


def test_matte_metrics_agree_with_the_single_metrics():
    pred, gt = _smooth_matte(5), _smooth_matte(6)
    out = M.matte_metrics(pred, gt)
    region = M.boundary_mask(gt)
    assert out["mse"] == pytest.approx(M.mse(pred, gt)) and out["sad"] == pytest.approx(M.sad(pred, gt))
    assert out["mad_boundary"] == pytest.approx(M.mad(pred, gt, region))
    assert out["grad"] == pytest.approx(M.gradient_error(pred, gt))
    assert out["grad_boundary"] == pytest.approx(M.gradient_error(pred, gt, region))
    assert out["conn"] == pytest.approx(M.connectivity_error(pred, gt))
    assert out["conn_boundary"] == pytest.approx(M.connectivity_error(pred, gt, region))
