"""``Matter``: load a model file once, pick an engine, and predict alpha mattes.

>>> matter = Matter()                       # the bundled default model, best engine available
>>> alpha = matter.predict("photo.jpg")     # float32 Shape(H, W) in [0, 1] at the photo's size
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

import numpy as np

from . import preprocess
from . import tta as tta_mod
from .engines import open_engine
from .errors import ModelError, WsshmError, WsshmTypeError, WsshmValueError, check_int, check_number
from .images import load_image
from .model_checks import MIN_SHORT_SIDE, check_alpha, check_model_path
from .refine import check_refine

log = logging.getLogger("wsshm_rt")

ASSETS = Path(__file__).parent / "assets"
DEFAULT_MODEL = "wsshm-r18-0.5.onnx"


def default_model_path() -> Path:
    """The model that ships inside the package."""
    path = ASSETS / DEFAULT_MODEL
    if not path.is_file():
        raise WsshmError(f"the bundled default model {path.name} is missing from this install; pass a model path")
    return path


class Matter:
    """A matting session: one engine, reused across calls, safe to share between threads.

    model: path to ``.onnx``, ``.safetensors`` (torch engine) or ``.engine`` (TensorRT); None = bundled default.
    engine: "auto" | "onnxruntime" | "tensorrt" | "torch".  device: "auto" | "cpu" | "cuda".
    short_side: the shorter side the image is resized to before inference; None = the model's own
        recommendation (its ``short_side`` metadata), else the paper's 512.
    threads: CPU threads for inference (None = the engine's default).
    precision: "fp32" (default) | "bf16" | "fp16", torch engine only: bf16 on a CPU with native bf16
        (AVX512-BF16 or AMX) or a GPU, fp16 on a GPU.
    refine: "guided" (default): the alpha is brought back to the image's size with a guided filter that follows
        the image's edges (better edges and masks on our held-out split, docs/model-card.md); "none": a plain
        bilinear resize, the network's own output.
    tta: "flip+scale" (default): test-time augmentation in two ways: the network also sees the image mirrored
        left-right (the two alphas averaged), and once more at 1.4x the inference size, averaged in where it agrees
        with the first (finer hair and soft edges on our held-out split; about 4x one pass's time, see
        docs/model-card.md); "flip": the mirror pass only (2x); "none": one pass, for real-time use (the video and
        webcam commands' default). A ``stream()`` of a "flip+scale" session runs "flip": its frames are already
        downscaled, so the larger pass would see no more detail.
    """

    def __init__(self, model=None, engine: str = "auto", device: str = "auto", short_side: int | None = None,
                 threads: int | None = None, max_long_side: int = 2048, precision: str = "fp32",
                 refine: str = "guided", tta: str = "flip+scale"):
        from .weights import check_model_metadata, check_short_side, normalisation, recommended_short_side

        self.refine = check_refine(refine)
        self.tta = tta_mod.check_tta(tta)
        # Every argument is checked here, before the model is opened: a wrong one is a sentence naming it.
        short_side = None if short_side is None else check_short_side(short_side)
        threads = check_int("threads", threads, 1, 1024, none_ok=True)
        self.max_long_side = check_int("max_long_side", max_long_side, MIN_SHORT_SIDE, MAX_LONG_SIDE)
        self.model_path = _model_path(model)
        self.engine = open_engine(self.model_path, engine, device, threads, precision)
        check_model_metadata(self.engine.metadata, self.model_path)
        self.short_side = recommended_short_side(self.engine.metadata) if short_side is None else short_side
        self.mean, self.std = normalisation(self.engine.metadata)
        log.info("wsshm-rt: %s", self.info)

    @property
    def info(self) -> str:
        """Which engine and device were taken, e.g. 'onnxruntime on cpu (CPUExecutionProvider)'."""
        return f"{self.engine.name} on {self.engine.device} ({self.engine.detail})"

    @property
    def metadata(self) -> dict:
        return self.engine.metadata

    def predict(self, image, channels: str = "RGB", refine: str | None = None, tta: str | None = None) -> np.ndarray:
        """Alpha matte of ``image`` (path, PIL image, uint8/uint16/float array, encoded bytes or a binary file
        object): float32 Shape(H, W) in [0, 1].

        refine, tta: as the session's, for this call; None = the session's.
        """
        return self._alphas([load_image(image, channels)], refine, tta)[0]

    def predict_batch(self, images, channels: str = "RGB", refine: str | None = None,
                      tta: str | None = None) -> list[np.ndarray]:
        """Alpha mattes of several images in one engine call per pass and size (images may differ in size)."""
        return self._alphas([load_image(im, channels, f"images[{i}]") for i, im in enumerate(_image_list(images))],
                            refine, tta)

    def _alphas(self, rgbs: list[np.ndarray], refine: str | None, tta: str | None) -> list[np.ndarray]:
        guided = check_refine(self.refine if refine is None else refine) == "guided"
        mode = tta_mod.check_tta(self.tta if tta is None else tta)
        if not rgbs:
            return []
        return tta_mod.tta_alphas(lambda smalls: [a[0] for a in self._run(smalls)], rgbs, self.short_side, mode,
                                     guided, self.max_long_side)

    def network_shape(self, height: int, width: int) -> tuple[int, int]:
        """The padded (H', W') the network sees for an image of (height, width): images with the same network shape
        share one engine call in ``predict_batch`` (a server groups concurrent requests by it)."""
        th, tw = preprocess.target_size(height, width, self.short_side, self.max_long_side)
        return th + (-th) % 32, tw + (-tw) % 32

    def _run(self, smalls: list[np.ndarray]) -> list[np.ndarray]:
        """Images at the inference size -> the engine's alphas, each Shape(1, H', W') padded to a multiple of 32.

        Only images of the same padded size share an engine call: padding one image to another's size would change
        its matte everywhere (the ASPP's global pooling sees the padding), so a batch of mixed sizes is one call
        per size, and every image gets the matte it gets alone.
        """
        nets = [preprocess.to_network(s, 32, self.mean, self.std) for s in smalls]
        groups: dict[tuple, list[int]] = {}
        for i, x in enumerate(nets):
            groups.setdefault(x.shape, []).append(i)
        out: list = [None] * len(nets)
        for idx in groups.values():
            alphas = self._engine_run(np.stack([nets[i] for i in idx]))
            for i, alpha in zip(idx, alphas):
                out[i] = alpha
        return out

    def _engine_run(self, batch: np.ndarray) -> np.ndarray:
        """The engine's alphas for ``batch``, refused (ModelError) where the model fails to run or gives no matte."""
        try:
            alphas = self.engine.run(batch)
        except WsshmError:
            raise
        except Exception as exc:  # noqa: BLE001 - ONNX Runtime, TensorRT and torch each raise their own types
            lines = str(exc).strip().splitlines() or [type(exc).__name__]
            raise ModelError(f"{self.model_path.name} failed to run on an input of Shape{tuple(batch.shape)} "
                             f"({lines[0][:200]})") from None
        check_alpha(alphas, self.model_path.name)
        return alphas

    def stream(self, smooth: bool = True, strength: float = 0.7):
        """A per-stream matter for consecutive video or camera frames: ``alpha = stream(frame)``.

        The same matte ``video`` and ``webcam`` compute: the frame is downscaled once, and with ``smooth`` the alpha
        is smoothed over time where the picture does not move (less flicker, no smear where it does; ``strength``
        in [0, 1) is how much of the past a still pixel keeps). Keep one per stream and feed its frames in order;
        ``stream.reset()`` at a scene cut. For real time use a session with ``tta="none"`` (one network pass).
        """
        from .frames import FrameMatter

        return FrameMatter(self, bool(smooth), check_number("strength", strength, 0.0, 1.0, high_open=True))

    def cutout(self, image, channels: str = "RGB") -> np.ndarray:
        """RGBA cut-out (uint8 Shape(H, W, 4)) with foreground colours estimated."""
        from .compose import cutout_rgba

        rgb = load_image(image, channels)
        return cutout_rgba(rgb, self.predict(rgb))

    def replace_background(self, image, background, channels: str = "RGB") -> np.ndarray:
        """Composite ``image`` over ``background`` (an image, a colour like '#00ff00', or 'blur'): uint8 RGB."""
        from .compose import parse_background, replace_background

        rgb = load_image(image, channels)
        return replace_background(rgb, self.predict(rgb), parse_background(background))

    def __repr__(self) -> str:
        return f"Matter({str(self.model_path)!r}, {self.info})"


MAX_LONG_SIDE = 8192  # bounds the memory one inference can take


def _model_path(model) -> Path:
    """The model file ``model`` names (None: the bundled one), checked to be a regular file before it is opened."""
    if model is None:
        return default_model_path()
    if not isinstance(model, (str, os.PathLike)):
        raise WsshmTypeError(f"model must be a path (str or os.PathLike) or None, not a {type(model).__name__}")
    if not str(model).strip():
        raise WsshmValueError("the model path is empty; pass None (or nothing) for the bundled model")
    path = Path(model)
    if path.is_dir() or not (path.suffix or path.exists()):
        from .weights import resolve_weights_path

        # The trainer's short names (runs/x/best, a run folder), as eval takes them; where none fits, the model
        # path's own check below says what is wrong with the path as given.
        with contextlib.suppress(WsshmError):
            path = resolve_weights_path(path)
    check_model_path(path)
    return path


def _image_list(images) -> list:
    """``predict_batch``'s images as a list: one image (a path, bytes, an HxW[xC] array) is refused, not iterated."""
    if isinstance(images, (str, bytes, bytearray, os.PathLike)) or (isinstance(images, np.ndarray)
                                                                   and images.ndim != 4):
        raise WsshmTypeError(f"images must be a list of images, not one {type(images).__name__}; use predict() for "
                             "one image")
    try:
        return list(images)
    except TypeError:
        raise WsshmTypeError(f"images must be a list of images, not {type(images).__name__}") from None
