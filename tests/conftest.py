"""Shared fixtures: a tiny exported model and generated portrait-like images (no external data)."""

from __future__ import annotations

import contextlib
import sys

import numpy as np
import pytest


def make_portrait(h: int = 96, w: int = 72, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A synthetic 'portrait': a textured ellipse person on a textured background. Returns (rgb, mask)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    mask = (((yy - h * 0.6) / (h * 0.45)) ** 2 + ((xx - w / 2) / (w * 0.3)) ** 2) < 1.0
    bg = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    fg = np.full((h, w, 3), (200, 150, 120), np.uint8) + rng.integers(0, 40, (h, w, 3), dtype=np.uint8)
    rgb = np.where(mask[..., None], fg, bg).astype(np.uint8)
    return rgb, mask.astype(np.uint8) * 255


def all_person_model(path):
    """The bundled model's weights with the alpha logit's bias raised by 30: alpha 1 everywhere, whatever the photo.
    For tests of what is done with a model's output (scores, labels), not of how good the model is."""
    from wsshm_rt.matter import default_model_path
    from wsshm_rt.weights import load_weights, save_weights

    state, meta = load_weights(default_model_path())
    state["head.bias"] = state["head.bias"].clone()
    state["head.bias"][0] += 30.0
    return save_weights(state, path, meta)


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory):
    """An untrained r18-0.5 saved as wsshm-rt safetensors (seeded, so results are reproducible)."""
    import torch

    from wsshm_rt.models import create_model
    from wsshm_rt.preprocess import IMAGENET_MEAN, IMAGENET_STD
    from wsshm_rt.weights import make_metadata, save_weights

    torch.manual_seed(0)
    model = create_model("r18-0.5")
    path = tmp_path_factory.mktemp("weights") / "r18-0.5.safetensors"
    save_weights(model.state_dict(), path, make_metadata("r18-0.5", IMAGENET_MEAN, IMAGENET_STD))
    return path


@pytest.fixture(scope="session")
def tiny_onnx(tiny_weights, tmp_path_factory):
    """The same untrained r18-0.5 exported to ONNX."""
    from wsshm_rt.export.onnx import export_weights

    return export_weights(tiny_weights, tmp_path_factory.mktemp("onnx") / "r18-0.5.onnx")


@pytest.fixture
def portrait():
    return make_portrait()


def set_file_size_limit(n_bytes: int) -> None:
    """Make every write past n bytes of a file fail for real, with the OS error a full disk gives a program (EFBIG
    "File too large" instead of ENOSPC). In-process through the fixture below, or as a subprocess's preexec_fn."""
    import resource
    import signal

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # else the kernel's signal ends the process outright
    resource.setrlimit(resource.RLIMIT_FSIZE, (n_bytes, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))


@pytest.fixture
def file_size_limit():
    """``with file_size_limit(n):`` applies set_file_size_limit(n) in this process; lifted on leaving."""
    if sys.platform == "win32":
        pytest.skip("RLIMIT_FSIZE is POSIX")
    import resource
    import signal

    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.getsignal(signal.SIGXFSZ)

    @contextlib.contextmanager
    def limit(n_bytes: int):
        set_file_size_limit(n_bytes)
        try:
            yield
        finally:
            resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))

    yield limit
    signal.signal(signal.SIGXFSZ, old_handler)
