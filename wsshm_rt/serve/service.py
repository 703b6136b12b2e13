"""One model session behind a batcher: what every request and live frame of a server process is matted with."""

from __future__ import annotations

import numpy as np

from .batcher import Batcher
from .config import ServeConfig
from .metrics import Metrics


class MatteService:
    """A ``Matter`` whose calls from concurrent requests are batched: requests whose images the network sees at
    the same padded size (and with the same tta and refine) share one ``predict_batch``."""

    def __init__(self, config: ServeConfig, metrics: Metrics):
        from ..matter import Matter

        self.matter = Matter(config.model, **config.matter_kwargs())
        self.batcher = Batcher(self._run, config.max_batch, config.max_wait_ms / 1000.0, on_batch=metrics.batch)

    def _run(self, key, rgbs: list[np.ndarray]) -> list[np.ndarray]:
        _, tta, refine = key
        return self.matter.predict_batch(rgbs, refine=refine, tta=tta)

    def submit(self, rgb: np.ndarray, tta: str, refine: str):
        """A concurrent.futures.Future of the alpha of uint8 RGB ``rgb``: float32 Shape(H, W)."""
        key = (self.matter.network_shape(*rgb.shape[:2]), tta, refine)
        return self.batcher.submit(key, rgb)

    def stream(self, tta: str, refine: str):
        """A ``FrameMatter`` for one live stream (smoothed over time) whose network passes go through the batcher,
        so frames of several streams share engine calls."""
        from ..frames import FrameMatter

        return FrameMatter(_BatchedMatter(self, tta, refine), smooth=True)

    def close(self) -> None:
        """Finish every queued request, then stop."""
        self.batcher.close()


class _BatchedMatter:
    """What ``FrameMatter`` needs of a Matter, with ``predict`` sent through the service's batcher."""

    def __init__(self, service: MatteService, tta: str, refine: str):
        matter = service.matter
        self.service, self.tta, self.refine = service, tta, refine
        self.short_side, self.max_long_side = matter.short_side, matter.max_long_side

    def predict(self, rgb: np.ndarray, channels: str = "RGB", refine: str | None = None,
                tta: str | None = None) -> np.ndarray:
        return self.service.submit(rgb, tta or self.tta, refine or self.refine).result()


def render(rgb: np.ndarray, alpha: np.ndarray, output: str, background=None, fmt: str = ".png") -> bytes:
    """The encoded answer: the alpha (grey), the RGBA cut-out, or the composite over ``background``."""
    from ..compose import alpha_to_uint8, cutout_rgba, replace_background
    from ..images import encode_image

    if output == "alpha":
        return encode_image(alpha_to_uint8(alpha), fmt)
    if output == "rgba":
        return encode_image(cutout_rgba(rgb, alpha), fmt)
    return encode_image(replace_background(rgb, alpha, background), fmt)
