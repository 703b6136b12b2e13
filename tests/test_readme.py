"""The README's Python API block, run as written: every line of it must work on the files it names."""

import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import make_portrait

README = Path(__file__).resolve().parent.parent / "README.md"


def api_block() -> str:
    section = README.read_text().split("## Python API", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readme_api_block_runs_as_written(tiny_onnx, tmp_path, monkeypatch):
    """The names the block takes as given (a photo, a frame, an upload, a background, your own model) are made
    here; the block itself is not edited. The torch line needs the [train] extra; bf16 is allowed to compute
    without native support (slowly), as on any CPU."""
    pytest.importorskip("torch")
    import wsshm_rt.models as models

    monkeypatch.setattr(models, "cpu_has_native_bf16", lambda: True)
    monkeypatch.chdir(tmp_path)
    rgb, _ = make_portrait(120, 90)
    cv2.imwrite("photo.jpg", rgb[:, :, ::-1])
    cv2.imwrite("beach.jpg", make_portrait(60, 80, seed=1)[0])
    shutil.copy(tiny_onnx, "student.onnx")
    given = {"frame_bgr": rgb[:, :, ::-1].copy(), "request_body": Path("photo.jpg").read_bytes(),
             "img1": rgb, "img2": rgb[:64, :80], "frames": [rgb[:, :, ::-1].copy()] * 2}
    scope = dict(given)
    exec(compile(api_block(), str(README), "exec"), scope)
    assert scope["alpha"].shape == rgb.shape[:2] and scope["alpha"].dtype == np.float32
    assert [a.shape for a in scope["alphas"]] == [(120, 90), (64, 80)]
    assert scope["rgba"].shape == (120, 90, 4) and scope["out"].shape == (120, 90, 3)
    assert "bf16" in scope["fast"].info and scope["matter"].short_side == 512  # the later Matter(...) line
