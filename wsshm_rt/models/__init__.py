"""Matting networks (torch). Build by name: ``create_model("r18-0.5")``."""

from .registry import NO_NATIVE_BF16, cpu_has_native_bf16, create_model, list_models, model_config
from .unet import MattingNet

__all__ = ["NO_NATIVE_BF16", "cpu_has_native_bf16", "create_model", "list_models", "model_config", "MattingNet"]
