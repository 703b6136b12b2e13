"""Tiny generated training data (no ../shared): ellipse 'people' on random textures, soft-edged mattes."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pytest


def _ellipse(h: int, w: int, rng) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    cy, cx = h * rng.uniform(0.5, 0.65), w * rng.uniform(0.4, 0.6)
    return (((yy - cy) / (h * 0.4)) ** 2 + ((xx - cx) / (w * 0.28)) ** 2).astype(np.float32)


def _texture(h: int, w: int, rng) -> np.ndarray:
    small = rng.integers(0, 255, (h // 8 + 1, w // 8 + 1, 3), dtype=np.uint8)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def _write(path: Path, arr: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), arr[..., ::-1] if arr.ndim == 3 else arr)


def make_seg(root: Path, n: int = 8, h: int = 80, w: int = 64, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    for i in range(n):
        mask = _ellipse(h, w, rng) < 1.0
        rgb = np.where(mask[..., None], _texture(h, w, rng) // 2 + 120, _texture(h, w, rng))
        _write(root / "images" / f"s{i:02d}.jpg", rgb.astype(np.uint8))
        _write(root / "masks" / f"s{i:02d}.png", mask.astype(np.uint8) * 255)
    return root


def make_matte(root: Path, n: int = 6, h: int = 80, w: int = 64, seed: int = 1) -> Path:
    rng = np.random.default_rng(seed)
    for i in range(n):
        alpha = np.clip((1.15 - _ellipse(h, w, rng)) / 0.3, 0, 1)  # a soft edge a few px wide
        _write(root / "fg" / f"m{i:02d}.jpg", (_texture(h, w, rng) // 2 + 110).astype(np.uint8))
        _write(root / "alpha" / f"m{i:02d}.png", (alpha * 255 + 0.5).astype(np.uint8))
    return root


def make_backgrounds(root: Path, n: int = 3, seed: int = 2) -> Path:
    rng = np.random.default_rng(seed)
    for i in range(n):
        _write(root / f"b{i}.jpg", _texture(60 + 10 * i, 90, rng))
    return root


def relayout(root: Path, images: str, labels: str) -> Path:
    """make_matte's fg/ + alpha/ renamed to another dataset's folder names (``a/b`` nests them)."""
    for old, new in (("fg", images), ("alpha", labels)):
        (root / new).parent.mkdir(parents=True, exist_ok=True)
        (root / old).rename(root / new)
    return root


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("data")
    return {"seg": make_seg(root / "seg"), "matte": make_matte(root / "matte"),
            "bg": make_backgrounds(root / "bg")}


# Flags that keep a run to seconds on 2 CPU cores.
TINY = ["--crop-min", "64", "--crop-max", "64", "--batch-size", "2", "--workers", "0", "--val-short-side", "64",
        "--no-progress", "--device", "cpu", "--log-every", "1"]


def warnings_of(caplog) -> list[str]:
    """The warnings logged so far (``logging``: what a terminal shows on stderr), as their messages."""
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
