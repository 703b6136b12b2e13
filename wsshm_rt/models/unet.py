"""U-Net + ASPP on timm ResNet features, stem max-pool removed; matte and boundary at input resolution.

forward(src) -> (pred_pha, pred_bnd_logit): encoder -> ASPP -> decoder -> head, nothing else.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def conv_bn_relu(cin: int, cout: int, k: int = 3, dilation: int = 1) -> nn.Sequential:
    pad = dilation * (k // 2)
    return nn.Sequential(nn.Conv2d(cin, cout, k, padding=pad, dilation=dilation, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling on the deepest feature (Chen et al., DeepLabv3)."""

    def __init__(self, cin: int, cout: int, rates=(3, 6, 9)):
        super().__init__()
        self.branches = nn.ModuleList([conv_bn_relu(cin, cout, 1)] + [conv_bn_relu(cin, cout, 3, r) for r in rates])
        # No BatchNorm on the pooled branch: it sees one value per channel, which breaks BN at batch size 1.
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(cin, cout, 1), nn.ReLU(inplace=True))
        self.project = conv_bn_relu(cout * (len(rates) + 2), cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = self.pool(x).expand(-1, -1, x.shape[2], x.shape[3])
        return self.project(torch.cat([b(x) for b in self.branches] + [pooled], dim=1))


class UpBlock(nn.Module):
    """Upsample to the skip's size, concat a 1x1-reduced skip, one 3x3 conv."""

    def __init__(self, cin: int, cskip: int, cskip_reduced: int, cout: int):
        super().__init__()
        self.reduce = conv_bn_relu(cskip, cskip_reduced, 1)
        self.conv = conv_bn_relu(cin + cskip_reduced, cout, 3)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        return self.conv(torch.cat([x, self.reduce(skip)], dim=1))


class MattingNet(nn.Module):
    """Trimap-free matting network with two heads (the paper's network).

    Input: normalised RGB, Shape(B, 3, H, W), any H, W >= 32.
    Output: pred_pha in [0, 1], Shape(B, 1, H, W); pred_bnd logit, Shape(B, 1, H, W).
    """

    def __init__(self, encoder: nn.Module, enc_channels: list[int], aspp_channels: int,
                 dec_channels: tuple[int, ...], skip_channels: tuple[int, ...], head_channels: int,
                 aspp_rates=(3, 6, 9)):
        super().__init__()
        self.encoder = encoder  # yields features at strides 2, 4, 8, 16
        self.aspp = ASPP(enc_channels[-1], aspp_channels, aspp_rates)
        ups, cin = [], aspp_channels
        for cskip, cred, cout in zip(reversed(enc_channels[:-1]), skip_channels, dec_channels):
            ups.append(UpBlock(cin, cskip, cred, cout))
            cin = cout
        self.decoder = nn.ModuleList(ups)
        # Full resolution: the image itself is the skip, so fine hair edges can follow real pixels.
        self.refine = conv_bn_relu(cin + 3, head_channels, 3)
        self.head = nn.Conv2d(head_channels, 2, 1)

    def forward(self, src: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feats = self.encoder(src)
        x = self.aspp(feats[-1])
        for up, skip in zip(self.decoder, reversed(feats[:-1])):
            x = up(x, skip)
        x = F.interpolate(x, size=src.shape[-2:], mode="bilinear", align_corners=False)
        out = self.head(self.refine(torch.cat([x, src], dim=1)))
        return torch.sigmoid(out[:, :1]), out[:, 1:]
