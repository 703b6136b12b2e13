"""Peer networks for same-run speed comparisons: a MODNet-architecture network, random weights, speed only.

    python -m wsshm_rt.bench.peers modnet -o modnet-512.onnx      # fixed Shape(1, 3, 512, 512) ONNX
    wsshm-rt bench r18-0.5 modnet-512.onnx --reference modnet-512.onnx

Written here from the MODNet paper's description (Ke et al., "MODNet: Real-Time Trimap-Free Portrait Matting via
Objective Decomposition", AAAI 2022, Section 3 and Figure 2), not from its code: a MobileNetV2 encoder; a
low-resolution branch (channel attention on the deepest, 1/32 feature, then two 5x5 convolutions up to 1/8) for
the semantics; a high-resolution branch at 1/2 and 1/4 that takes the image, the encoder's 1/2 and 1/4 features
and the low-resolution branch's output; a fusion branch that brings both to full resolution with the image.
Convolutions are followed by IBNorm (batch norm on half the channels, instance norm on the other half) and ReLU,
as the paper has them. The training-only outputs (semantic and detail predictions) are left out: they are not
computed at inference. The weights are random: the network is for timing, its output means nothing.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

PEER_SIZE = (512, 512)  # the paper's benchmark resolution
HR_CHANNELS = 32        # width of the high-resolution branch (the paper's 32)


class IBNorm(nn.Module):
    """Batch norm on the first half of the channels, instance norm on the second (the paper's IBNorm)."""

    def __init__(self, channels: int):
        super().__init__()
        self.half = channels // 2
        self.bn = nn.BatchNorm2d(self.half)
        self.inorm = nn.InstanceNorm2d(channels - self.half, affine=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.bn(x[:, :self.half]), self.inorm(x[:, self.half:])], dim=1)


def conv_ib(cin: int, cout: int, k: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), IBNorm(cout), nn.ReLU(inplace=True))


class ChannelAttention(nn.Module):
    """Squeeze-and-excitation: global pooling, a bottleneck of two 1x1 layers, a sigmoid gate per channel."""

    def __init__(self, channels: int, reduction: int = 4):
        super().__init__()
        self.gate = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(channels, channels // reduction, 1),
                                  nn.ReLU(inplace=True), nn.Conv2d(channels // reduction, channels, 1), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)


def _up(x: torch.Tensor, like: torch.Tensor | None = None, factor: float = 2.0) -> torch.Tensor:
    if like is not None:
        return F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False)
    return F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)


class MobileNetV2Features(nn.Module):
    """timm's MobileNetV2 (width 1.0): features at strides 2 and 4, and the 1280-channel feature at stride 32."""

    def __init__(self):
        super().__init__()
        import timm

        net = timm.create_model("mobilenetv2_100", pretrained=False)
        self.stem = nn.Sequential(net.conv_stem, net.bn1)
        self.blocks, self.head = net.blocks, nn.Sequential(net.conv_head, net.bn2)
        self.channels = (net.blocks[0][-1].conv_pw.out_channels, net.blocks[1][-1].conv_pwl.out_channels,
                         net.conv_head.out_channels)

    def forward(self, x: torch.Tensor):
        x = self.stem(x)
        enc2 = self.blocks[0](x)
        enc4 = self.blocks[1](enc2)
        deep = enc4
        for stage in self.blocks[2:]:
            deep = stage(deep)
        return enc2, enc4, self.head(deep)


class LowResBranch(nn.Module):
    """Semantics: attention on the 1/32 feature, then 5x5 convolutions at 1/16 (96 channels) and 1/8 (32)."""

    def __init__(self, cin: int):
        super().__init__()
        self.attend = ChannelAttention(cin)
        self.at16, self.at8 = conv_ib(cin, 96, 5), conv_ib(96, 32, 5)

    def forward(self, deep: torch.Tensor) -> torch.Tensor:
        return self.at8(_up(self.at16(_up(self.attend(deep)))))


class HighResBranch(nn.Module):
    """Details at 1/4 then 1/2: the image, the encoder's shallow features and the semantics (1/8) together."""

    def __init__(self, c2: int, c4: int, hr: int = HR_CHANNELS):
        super().__init__()
        self.skip2, self.skip4 = conv_ib(c2, hr, 1), conv_ib(c4, hr, 1)
        self.down = conv_ib(hr + 3, hr, 3, stride=2)
        self.mix4 = conv_ib(2 * hr, 2 * hr, 3)
        self.at4 = nn.Sequential(conv_ib(3 * hr + 3, 2 * hr, 3), conv_ib(2 * hr, 2 * hr, 3), conv_ib(2 * hr, hr, 3))
        self.at2 = nn.Sequential(conv_ib(2 * hr + 3, 2 * hr, 3), conv_ib(2 * hr, hr, 3))

    def forward(self, img, enc2, enc4, lr8):
        img2, img4 = _up(img, enc2), _up(img, enc4)
        s2 = self.skip2(enc2)
        x = self.mix4(torch.cat([self.down(torch.cat([s2, img2], 1)), self.skip4(enc4)], 1))
        x = self.at4(torch.cat([x, _up(lr8, x), img4], 1))
        return self.at2(torch.cat([_up(x, s2), s2, img2], 1))


class FusionBranch(nn.Module):
    """Semantics (1/8) up to 1/4 and 1/2, joined with the details, then with the image at full resolution."""

    def __init__(self, hr: int = HR_CHANNELS):
        super().__init__()
        self.at4, self.at2 = conv_ib(32, 16, 5), conv_ib(hr + 16, 32, 3)
        self.out = nn.Sequential(conv_ib(32 + 3, 16, 3), nn.Conv2d(16, 1, 1))

    def forward(self, img, lr8, hr2):
        x = self.at4(_up(lr8))
        x = self.at2(torch.cat([_up(x, hr2), hr2], 1))
        return torch.sigmoid(self.out(torch.cat([_up(x, img), img], 1)))


class MODNetPeer(nn.Module):
    """Input: normalised RGB Shape(B, 3, H, W), H and W multiples of 32. Output: alpha Shape(B, 1, H, W)."""

    def __init__(self):
        super().__init__()
        self.encoder = MobileNetV2Features()
        c2, c4, c32 = self.encoder.channels
        self.low, self.high, self.fusion = LowResBranch(c32), HighResBranch(c2, c4), FusionBranch()

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        enc2, enc4, deep = self.encoder(img)
        lr8 = self.low(deep)
        return self.fusion(img, lr8, self.high(img, enc2, enc4, lr8))


PEERS = {"modnet": MODNetPeer}


def export_peer(name: str, path, size: tuple[int, int] = PEER_SIZE, seed: int = 0) -> Path:
    """Export peer ``name`` with random (seeded) weights to a fixed Shape(1, 3, H, W) ONNX at ``path``."""
    import io
    import warnings

    import onnx

    from ..errors import WsshmError
    from ..files import make_folder, write_atomic

    if name not in PEERS:
        raise WsshmError(f"unknown peer {name!r}; choose from {', '.join(PEERS)}")
    torch.manual_seed(seed)
    model, buf = PEERS[name]().eval(), io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.zeros(1, 3, *size),), buf, input_names=["image"], output_names=["alpha"],
                          opset_version=17, do_constant_folding=True, dynamo=False)
    proto = onnx.load_from_string(buf.getvalue())
    for k, v in {"peer": name, "weights": f"random (seed {seed}): for timing only"}.items():
        proto.metadata_props.add(key=k, value=v)
    path = Path(path)
    write_atomic(make_folder(path.parent) / path.name, proto.SerializeToString())
    return path


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m wsshm_rt.bench.peers", description=__doc__.splitlines()[0])
    p.add_argument("name", choices=sorted(PEERS))
    p.add_argument("-o", "--out", type=Path, required=True, help="the .onnx file to write")
    p.add_argument("--size", type=int, nargs=2, default=PEER_SIZE, metavar=("H", "W"))
    a = p.parse_args(argv)
    print(f"wrote {export_peer(a.name, a.out, tuple(a.size))}")


if __name__ == "__main__":
    main()
