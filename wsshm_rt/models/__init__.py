"""Matting networks (torch). Build by name: ``create_model("r18-0.5")``."""

from .registry import cpu_has_native_bf16, create_model, list_models, model_config
from .unet import MattingNet

__all__ = ["cpu_has_native_bf16", "create_model", "list_models", "model_config", "MattingNet"]
