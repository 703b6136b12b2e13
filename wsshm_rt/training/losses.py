"""Losses (the paper's loss) as small pure functions on tensors Shape(B, 1, H, W).

L = L1(a_hat, a) + L_lap(a_hat, a) + lambda * BCE(b_hat, 1[0.05 < a < 0.95]), lambda = 0.01; plain MSE for pre-training.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

BOUNDARY_LOW, BOUNDARY_HIGH = 0.05, 0.95


def boundary_target(pha: torch.Tensor) -> torch.Tensor:
    """B = 1[0.05 < a < 0.95]: the same band the metrics call "boundary"."""
    return ((pha > BOUNDARY_LOW) & (pha < BOUNDARY_HIGH)).to(pha.dtype)


def _gauss_kernel(device, dtype) -> torch.Tensor:
    k = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0], device=device, dtype=dtype) / 16.0
    return (k[:, None] * k[None, :])[None, None]


def _blur(x: torch.Tensor) -> torch.Tensor:
    # Replicate padding keeps a constant image constant, so a flat offset lands only in the last (low-pass) level.
    b, c, h, w = x.shape
    x = F.pad(x.reshape(b * c, 1, h, w), (2, 2, 2, 2), mode="replicate")
    return F.conv2d(x, _gauss_kernel(x.device, x.dtype)).reshape(b, c, h, w)


def laplacian_pyramid(x: torch.Tensor, levels: int = 5) -> list[torch.Tensor]:
    """levels-1 band-pass images (x - up(down(x))) then the low-pass residual; they sum back to x."""
    pyramid = []
    for _ in range(levels - 1):
        down = _blur(x)[:, :, ::2, ::2]
        up = F.interpolate(down, size=x.shape[-2:], mode="bilinear", align_corners=False)
        pyramid.append(x - up)
        x = down
    return pyramid + [x]


def laplacian_loss(pred: torch.Tensor, true: torch.Tensor, levels: int = 5) -> torch.Tensor:
    """Sum over pyramid levels of the mean L1 (unweighted: our choice: the paper does not say)."""
    # In fp32 whatever autocast says: the band-pass levels are small differences that bf16 would round away.
    with torch.autocast(pred.device.type, enabled=False):
        pairs = zip(laplacian_pyramid(pred.float(), levels), laplacian_pyramid(true.float(), levels))
        return sum(F.l1_loss(p, t) for p, t in pairs)


def _mean(x: torch.Tensor, valid: torch.Tensor | None) -> torch.Tensor:
    """Mean of ``x``, over the pixels where ``valid`` is 1 when it is given (a pseudo-label's sure pixels)."""
    if valid is None:
        return x.mean()
    return (x * valid).sum() / valid.sum().clamp(min=1.0)


def matte_loss(pred_pha: torch.Tensor, pred_bnd: torch.Tensor, true_pha: torch.Tensor, bnd_weight: float = 0.01,
               levels: int = 5, valid: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """The paper's loss L; returns its parts and their sum under "loss".

    ``valid`` (Shape(B, 1, H, W), 0 or 1): pixels at 0 carry no label (a pseudo-label's unsure band) and are left
    out. The pyramid is linear, so the Laplacian terms of (pred - true) * valid get no gradient from them either.
    """
    pred_pha, pred_bnd, true_pha = pred_pha.float(), pred_bnd.float(), true_pha.float()
    valid = None if valid is None else valid.float()
    masked = (lambda x: x) if valid is None else (lambda x: x * valid)
    parts = {
        "l1": _mean((pred_pha - true_pha).abs(), valid),
        "lap": laplacian_loss(masked(pred_pha), masked(true_pha), levels),
        "bnd": bnd_weight * _mean(F.binary_cross_entropy_with_logits(pred_bnd, boundary_target(true_pha),
                                                                     reduction="none"), valid),
    }
    parts["loss"] = parts["l1"] + parts["lap"] + parts["bnd"]
    return parts


def seg_loss(pred_pha: torch.Tensor, true_seg: torch.Tensor, valid: torch.Tensor | None = None) -> dict:
    """Pre-training: plain MSE between the matte and the binary mask (over the ``valid`` pixels, if given)."""
    return {"loss": _mean((pred_pha.float() - true_seg.float()) ** 2, None if valid is None else valid.float())}
