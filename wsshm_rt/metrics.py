"""Matting and segmentation metrics (the paper's evaluation), numpy + OpenCV only.

Inputs are float alpha mattes in [0, 1] at the same size, Shape(H, W): ``pred`` and ``gt``. uint8 mattes are
divided by 255. Sums run in float64.

Conventions, chosen to compare with the P3M evaluation code (which follows DIM / Rhemann et al.):
- MSE and MAD are means over the region, returned RAW; reports multiply MSE by 1e3 (``REPORT_SCALE``).
- SAD is the sum of |pred - gt| over the region / 1000.
- Grad, P3M convention (default): derivative-of-Gaussian filters as scipy's ``gaussian_filter(sigma=1.4,
  order=1)`` (truncated at 4 sigma, reflect border), gradient magnitudes of pred and gt, the sum of their
  squared differences / 10 (P3M divides by 10, not 1000, because its unit-sum kernels give ~100x smaller
  gradients than DIM's). ``convention="dim"`` gives the DIM MATLAB/Python one instead: the L2-normalised
  Gaussian-derivative kernel (cut where the Gaussian density falls below 0.01), replicate border, / 1000.
- Conn, P3M convention: thresholds 0, 0.1 .. 1; at each level the largest 4-connected component of
  (pred >= t) & (gt >= t); a pixel's level is the last threshold before it leaves that component;
  phi = 1 - d * (d >= 0.15) with d = alpha - level; the sum of |phi_pred - phi_gt| / 1000.
- Boundary metrics use the region 0.05 < gt < 0.95. Grad and Conn are cheap enough (a few filters, 10 connected
  component passes) that ``matte_metrics`` reports both whole and boundary versions; their error maps are
  always computed on the whole image and then summed over the region (as DIM does over the trimap).
- A mean over an empty region is NaN (undefined); a sum over an empty region is 0. ``MetricAccumulator``
  skips NaN values and reports how many images each key was averaged over.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from .errors import WsshmError

REPORT_SCALE = {"mse": 1e3, "mse_boundary": 1e3, "mse_far": 1e3}  # MSE is reported x1e3, as the paper reports it


# ---------------------------------------------------------------- regions


def boundary_mask(gt: np.ndarray, lo: float = 0.05, hi: float = 0.95) -> np.ndarray:
    """The transition region lo < gt < hi, bool Shape(H, W)."""
    gt = _unit(gt)
    return (gt > lo) & (gt < hi)


def far_from_edge_mask(mask: np.ndarray, far_px: float = 10) -> np.ndarray:
    """Pixels more than ``far_px`` px (Euclidean) from the edge of the binary mask (mask > 0.5), bool Shape(H, W).

    A pixel next to the edge is 1 px from it, on either side. With no edge at all, every pixel is far.
    """
    inside = (_unit(mask) > 0.5).astype(np.uint8)
    if inside.all() or not inside.any():
        return np.ones(inside.shape, bool)
    dist_in = cv2.distanceTransform(inside, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    dist_out = cv2.distanceTransform(1 - inside, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return np.where(inside == 1, dist_in, dist_out) > far_px


# ---------------------------------------------------------------- pixel errors


def mse(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean squared error over ``mask`` (default everywhere), raw (reports x1e3); NaN on an empty mask."""
    d = _diff(pred, gt)
    return _mean(d * d, mask)


def sad(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Sum of absolute differences over ``mask`` / 1000."""
    return _sum(np.abs(_diff(pred, gt)), mask) / 1000.0


def mad(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean absolute difference over ``mask``; NaN on an empty mask."""
    return _mean(np.abs(_diff(pred, gt)), mask)


# ---------------------------------------------------------------- gradient error


def gradient_error(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray | None = None, sigma: float = 1.4,
                   convention: str = "p3m") -> float:
    """Rhemann gradient error: squared difference of Gaussian-gradient magnitudes summed over ``mask``.

    convention "p3m" (default): scipy-style kernels, / 10; "dim": DIM's normalised kernels, / 1000.
    """
    err, divisor = _grad_error_map(*_pair(pred, gt), sigma, convention)
    return _sum(err, mask) / divisor


def _grad_error_map(pred: np.ndarray, gt: np.ndarray, sigma: float = 1.4, convention: str = "p3m"):
    """(per-pixel squared gradient-magnitude difference float64 Shape(H, W), the convention's divisor)."""
    if convention not in _GRAD_CONVENTIONS:
        raise WsshmError(f"gradient convention must be one of {sorted(_GRAD_CONVENTIONS)}, not {convention!r}")
    kernels, border, divisor = _GRAD_CONVENTIONS[convention](sigma)
    err = _gradient_magnitude(pred, kernels, border) - _gradient_magnitude(gt, kernels, border)
    return err * err, divisor


def _gradient_magnitude(alpha: np.ndarray, kernels, border: int) -> np.ndarray:
    """|grad alpha| with separable (smooth, derivative) kernels, float64 Shape(H, W)."""
    smooth, deriv = kernels
    gx = cv2.sepFilter2D(alpha, cv2.CV_64F, deriv, smooth, borderType=border)
    gy = cv2.sepFilter2D(alpha, cv2.CV_64F, smooth, deriv, borderType=border)
    return np.sqrt(gx * gx + gy * gy)


def _p3m_kernels(sigma: float):
    """scipy.ndimage.gaussian_filter's kernels: unit-sum Gaussian and its exact derivative, radius 4 sigma."""
    x = np.arange(-int(4 * sigma + 0.5), int(4 * sigma + 0.5) + 1, dtype=np.float64)
    g = np.exp(-0.5 * x * x / (sigma * sigma))
    g /= g.sum()
    return (g, -x / (sigma * sigma) * g), cv2.BORDER_REFLECT, 10.0


def _dim_kernels(sigma: float):
    """DIM's gaussgradient: Gaussian x its derivative, the 2-D kernel scaled to unit L2 norm (separably)."""
    half = math.ceil(sigma * math.sqrt(-2 * math.log(math.sqrt(2 * math.pi) * sigma * 1e-2)))
    x = np.arange(-half, half + 1, dtype=np.float64)
    g = np.exp(-x * x / (2 * sigma * sigma)) / (sigma * math.sqrt(2 * math.pi))
    dg = -x * g / (sigma * sigma)
    return (g / np.linalg.norm(g), dg / np.linalg.norm(dg)), cv2.BORDER_REPLICATE, 1000.0


_GRAD_CONVENTIONS = {"p3m": _p3m_kernels, "dim": _dim_kernels}


# ---------------------------------------------------------------- connectivity error


def connectivity_error(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray | None = None, step: float = 0.1) -> float:
    """Rhemann connectivity error (P3M convention) summed over ``mask`` / 1000."""
    return _sum(_conn_error_map(*_pair(pred, gt), step), mask) / 1000.0


def _conn_error_map(pred: np.ndarray, gt: np.ndarray, step: float = 0.1) -> np.ndarray:
    """|phi_pred - phi_gt| per pixel, float64 Shape(H, W)."""
    level = _connectivity_levels(pred, gt, step)
    return np.abs(_phi(pred, level) - _phi(gt, level))


def _connectivity_levels(pred: np.ndarray, gt: np.ndarray, step: float) -> np.ndarray:
    """Per pixel, the threshold just before it leaves the largest shared 4-connected component, float64 Shape(H, W)."""
    thresholds = np.arange(0.0, 1.0 + step / 2, step)  # 0, 0.1, ... 1.0, the same floats as P3M's arange(0, 1.1, .1)
    level = np.full(pred.shape, -1.0)
    for prev, t in zip(thresholds[:-1], thresholds[1:]):
        both = ((pred >= t) & (gt >= t)).astype(np.uint8)
        count, labels, stats, _ = cv2.connectedComponentsWithStats(both, connectivity=4)
        if count <= 1:
            continue  # P3M skips a level with no component (its pixels get a later level)
        largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        level[(level == -1) & (labels != largest)] = prev
    level[level == -1] = 1.0
    return level


def _phi(alpha: np.ndarray, level: np.ndarray) -> np.ndarray:
    """Degree of connectivity: 1 - d where d = alpha - level is >= 0.15, else 1."""
    d = alpha - level
    return 1.0 - d * (d >= 0.15)


# ---------------------------------------------------------------- bundles


def matte_metrics(pred: np.ndarray, gt: np.ndarray) -> dict[str, float]:
    """All matting metrics, whole image and boundary region (0.05 < gt < 0.95); MSE raw (reports x1e3).

    Keys: mse, sad, mad, grad, conn, mse_boundary, sad_boundary, mad_boundary, grad_boundary, conn_boundary.
    """
    pred, gt = _pair(pred, gt)
    region = boundary_mask(gt)
    abs_d = np.abs(pred - gt)
    out = {}
    for suffix, mask in (("", None), ("_boundary", region)):
        out["mse" + suffix] = _mean(abs_d * abs_d, mask)
        out["sad" + suffix] = _sum(abs_d, mask) / 1000.0
        out["mad" + suffix] = _mean(abs_d, mask)
    grad_map, grad_divisor = _grad_error_map(pred, gt)
    conn_map = _conn_error_map(pred, gt)
    out["grad"], out["grad_boundary"] = _sum(grad_map, None) / grad_divisor, _sum(grad_map, region) / grad_divisor
    out["conn"], out["conn_boundary"] = _sum(conn_map, None) / 1000.0, _sum(conn_map, region) / 1000.0
    return out


def seg_metrics(pred: np.ndarray, mask: np.ndarray, far_px: float = 10) -> dict[str, float]:
    """Metrics against a binary mask (natural photos): iou, bf (boundary F-score), mse (whole) and mse_far.

    iou: (pred > 0.5) vs (mask > 0.5), 1.0 when both are empty. mse_far: MSE over pixels more than
    ``far_px`` px from the mask edge, where a binary label is trustworthy (NaN if there are none).
    """
    pred, mask = _pair(pred, mask)
    p, m = pred > 0.5, mask > 0.5
    union = np.count_nonzero(p | m)
    iou = 1.0 if union == 0 else np.count_nonzero(p & m) / union
    return {"iou": float(iou), "bf": boundary_f(p, m), "mse": mse(pred, mask),
            "mse_far": mse(pred, mask, far_from_edge_mask(mask, far_px))}


def mask_boundary(mask: np.ndarray) -> np.ndarray:
    """The 1-px inner boundary of a bool mask: its pixels with a 4-neighbour outside it (the image border is outside)."""
    m = np.pad(mask, 1)
    inner = m[1:-1, 1:-1] & m[:-2, 1:-1] & m[2:, 1:-1] & m[1:-1, :-2] & m[1:-1, 2:]
    return mask & ~inner


def boundary_f(pred: np.ndarray, gt: np.ndarray, tolerance: float = 0.0075) -> float:
    """Boundary F-score (the DAVIS benchmark's F): precision and recall of the predicted mask's boundary pixels
    against the true one's, a pixel matching when it lies within ``tolerance`` x the image diagonal (at least 1 px)
    of the other boundary. 1.0 when neither mask has a boundary, 0.0 when only one has."""
    bp, bg = mask_boundary(np.asarray(pred, bool)), mask_boundary(np.asarray(gt, bool))
    if not bp.any() and not bg.any():
        return 1.0
    if not bp.any() or not bg.any():
        return 0.0
    d = max(1.0, tolerance * float(np.hypot(*bp.shape)))

    def near(b):  # pixels within d of boundary b (Euclidean)
        return cv2.distanceTransform((~b).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE) <= d

    precision = np.count_nonzero(bp & near(bg)) / np.count_nonzero(bp)
    recall = np.count_nonzero(bg & near(bp)) / np.count_nonzero(bg)
    return 0.0 if precision + recall == 0 else float(2 * precision * recall / (precision + recall))


class MetricAccumulator:
    """Averages per-image metric dicts: the mean over images of each key, skipping NaN values.

    >>> acc = MetricAccumulator(); acc.add({"mse": 0.1}); acc.add({"mse": 0.3}); acc.mean()["mse"]
    0.2
    """

    def __init__(self):
        self.images = 0
        self._sums: dict[str, float] = {}
        self._counts: dict[str, int] = {}

    def add(self, metrics: dict[str, float]) -> None:
        """Add one image's metrics."""
        self.images += 1
        for key, value in metrics.items():
            self._sums.setdefault(key, 0.0)
            self._counts.setdefault(key, 0)
            if value is not None and math.isfinite(value):
                self._sums[key] += float(value)
                self._counts[key] += 1

    def mean(self) -> dict[str, float]:
        """Mean of each key over the images where it was finite (NaN if none)."""
        return {k: (self._sums[k] / n if (n := self._counts[k]) else math.nan) for k in self._sums}

    def counts(self) -> dict[str, int]:
        """How many images each key's mean is over."""
        return dict(self._counts)

    def summary(self) -> dict[str, float]:
        """The means plus ``n``, the number of images added."""
        return {**self.mean(), "n": self.images}


def format_table(rows: dict[str, dict[str, float]], scale: dict[str, float] | None = None, digits: int = 4) -> str:
    """A plain-text table, one row per name, one column per metric key (in first-seen order).

    ``scale`` multiplies the given keys (e.g. REPORT_SCALE for MSE x1e3) and marks them in the header.
    Floats show ``digits`` significant digits, NaN or a missing value shows as '-'.
    """
    scale = scale or {}
    keys = list(dict.fromkeys(k for metrics in rows.values() for k in metrics))
    header = ["name"] + [f"{k} x{scale[k]:g}" if k in scale else k for k in keys]
    body = [[name] + [_cell(metrics.get(k), scale.get(k, 1.0), digits) for k in keys] for name, metrics in rows.items()]
    widths = [max(len(r[i]) for r in [header] + body) for i in range(len(header))]
    lines = [_line(header, widths), _line(["-" * w for w in widths], widths)] + [_line(r, widths) for r in body]
    return "\n".join(lines)


def _cell(value, factor: float, digits: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and factor == 1.0:
        return str(value)
    return f"{float(value) * factor:.{digits}g}"


def _line(cells: list[str], widths: list[int]) -> str:
    return "  ".join([cells[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(cells[1:], widths[1:])]).rstrip()


# ---------------------------------------------------------------- plumbing


def _unit(alpha: np.ndarray) -> np.ndarray:
    """float64 Shape(H, W) in alpha units; uint8 is divided by 255, (H, W, 1) is squeezed."""
    a = np.asarray(alpha)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim != 2:
        raise WsshmError(f"a matte must be a 2-D array (H, W), not shape {a.shape}")
    return a / 255.0 if a.dtype == np.uint8 else a.astype(np.float64, copy=False)


def _pair(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred, gt = _unit(pred), _unit(gt)
    if pred.shape != gt.shape:
        raise WsshmError(f"the prediction is {pred.shape} but the ground truth is {gt.shape}; resize it first")
    return pred, gt


def _diff(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    pred, gt = _pair(pred, gt)
    return pred - gt


def _sum(values: np.ndarray, mask: np.ndarray | None) -> float:
    return float(values.sum() if mask is None else values[np.asarray(mask, bool)].sum())


def _mean(values: np.ndarray, mask: np.ndarray | None) -> float:
    n = values.size if mask is None else int(np.count_nonzero(mask))
    return _sum(values, mask) / n if n else math.nan
