"""Losses (METHOD.md, Losses) as small pure functions on tensors Shape(B, 1, H, W).

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
    """Sum over pyramid levels of the mean L1 (unweighted: our choice, METHOD.md)."""
    # In fp32 whatever autocast says: the band-pass levels are small differences that bf16 would round away.
    with torch.autocast(pred.device.type, enabled=False):
        pairs = zip(laplacian_pyramid(pred.float(), levels), laplacian_pyramid(true.float(), levels))
        return sum(F.l1_loss(p, t) for p, t in pairs)


def matte_loss(pred_pha: torch.Tensor, pred_bnd: torch.Tensor, true_pha: torch.Tensor, bnd_weight: float = 0.01,
               levels: int = 5) -> dict[str, torch.Tensor]:
    """The loss L of METHOD.md; returns its parts and their sum under "loss"."""
    pred_pha, pred_bnd, true_pha = pred_pha.float(), pred_bnd.float(), true_pha.float()
    parts = {
        "l1": F.l1_loss(pred_pha, true_pha),
        "lap": laplacian_loss(pred_pha, true_pha, levels),
        "bnd": bnd_weight * F.binary_cross_entropy_with_logits(pred_bnd, boundary_target(true_pha)),
    }
    parts["loss"] = parts["l1"] + parts["lap"] + parts["bnd"]
    return parts


def seg_loss(pred_pha: torch.Tensor, true_seg: torch.Tensor) -> dict[str, torch.Tensor]:
    """Pre-training: plain MSE between the matte and the binary mask."""
    return {"loss": F.mse_loss(pred_pha.float(), true_seg.float())}
