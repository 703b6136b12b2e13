"""Matte Label Blending (the paper's stage 3): teacher detail where it sees boundary, the mask elsewhere."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def dilate(mask: torch.Tensor, px: int) -> torch.Tensor:
    """Binary dilation by a (2px+1)^2 square, Shape(B, 1, H, W)."""
    return F.max_pool2d(mask, 2 * px + 1, stride=1, padding=px)


def erode(mask: torch.Tensor, px: int) -> torch.Tensor:
    return -F.max_pool2d(-mask, 2 * px + 1, stride=1, padding=px)


def edge_band(seg: torch.Tensor, px: int) -> torch.Tensor:
    """1 within ``px`` pixels (chessboard distance) of the edge of the binary mask ``seg``, else 0."""
    m = (seg > 0.5).to(seg.dtype)
    return dilate(m, px) - erode(m, px)


def blend_labels(pha_t: torch.Tensor, bnd_t: torch.Tensor, seg: torch.Tensor, band_px: int = 0,
                 threshold: float = 0.0) -> torch.Tensor:
    """a_blend = b_t * a_t + (1 - b_t) * S, with b_t = sigmoid(teacher boundary logit) in [0, 1].

    band_px > 0: zero b_t farther than band_px from the edge of S (teacher boundaries far from the person are noise).
    threshold > 0: binarise b_t (b_t > threshold), so a pixel takes all of one label or all of the other.
    """
    b = bnd_t
    if band_px > 0:
        b = b * edge_band(seg, band_px)
    if threshold > 0:
        b = (b > threshold).to(pha_t.dtype)
    return b * pha_t + (1 - b) * seg
