"""Model registry: one factory, ``create_model(name, pretrained=False)``, in the manner of timm."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from ..errors import WsshmError


@dataclass(frozen=True)
class ModelConfig:
    backbone: str                  # timm model name
    stage_channels: tuple | None   # None = the backbone's own widths; else every stage's width (half-width R18)
    aspp_channels: int
    dec_channels: tuple            # decoder widths at strides 8, 4, 2
    skip_channels: tuple           # 1x1-reduced skip widths at strides 8, 4, 2
    head_channels: int             # full-resolution refinement width


# (choice) ASPP and decoder widths: sized so r18-0.5 stays real-time on a 2-core CPU (README, Speed).
_MODELS: dict[str, ModelConfig] = {
    "r101": ModelConfig("resnet101", None, 256, (256, 128, 64), (128, 64, 32), 16),
    "r18": ModelConfig("resnet18", None, 128, (128, 64, 32), (64, 32, 16), 16),
    "r18-0.5": ModelConfig("resnet18", (32, 64, 128, 256), 64, (64, 32, 16), (32, 24, 16), 8),
}


NO_NATIVE_BF16 = "this CPU has no native bf16 (AVX512-BF16 or AMX), where bf16 is slower than fp32"


def cpu_has_native_bf16() -> bool:
    """True where this CPU computes bf16 natively (AVX512-BF16 or AMX): there bf16 is faster than fp32."""
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def list_models() -> list[str]:
    return list(_MODELS)


def model_config(name: str) -> ModelConfig:
    if name not in _MODELS:
        raise WsshmError(f"unknown model {name!r}; choose one of {', '.join(_MODELS)}")
    return _MODELS[name]


def create_model(name: str, pretrained: bool = False) -> nn.Module:
    """Build a registered matting network. ``pretrained=True`` loads ImageNet weights (needs internet)."""
    from .unet import MattingNet

    cfg = model_config(name)
    encoder, channels = _encoder(cfg, pretrained)
    model = MattingNet(encoder, channels, cfg.aspp_channels, cfg.dec_channels, cfg.skip_channels,
                       cfg.head_channels)
    model.arch_name = name
    return model


def _encoder(cfg: ModelConfig, pretrained: bool) -> tuple[nn.Module, list[int]]:
    import timm

    kwargs = {}
    if cfg.stage_channels is not None:
        if pretrained:
            raise WsshmError("no ImageNet weights exist for half-width backbones; use pretrained=False")
        kwargs = dict(channels=cfg.stage_channels)
    try:
        enc = timm.create_model(cfg.backbone, pretrained=pretrained, features_only=True,
                                out_indices=(1, 2, 3, 4), **kwargs)
    except Exception as exc:  # timm raises various errors when the hub cannot be reached
        if pretrained:
            raise WsshmError(f"could not fetch ImageNet weights for {cfg.backbone} ({exc.__class__.__name__}); "
                             "use pretrained=False offline") from None
        raise
    # The paper removes the stem max-pool: features come out at strides 2, 4, 8, 16.
    enc.maxpool = nn.Identity()
    if cfg.stage_channels is not None:
        _narrow_stem(enc, cfg.stage_channels[0])
    return enc, list(enc.feature_info.channels())


def _narrow_stem(enc: nn.Module, width: int) -> None:
    """Halve the stem too (timm fixes it at 64): conv1/bn1 -> ``width``, first block without a projection."""
    from timm.models.resnet import BasicBlock

    enc.conv1 = nn.Conv2d(3, width, 7, stride=2, padding=3, bias=False)
    enc.bn1 = nn.BatchNorm2d(width)
    enc.layer1[0] = BasicBlock(width, width)
