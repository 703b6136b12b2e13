"""The model that ships inside the package: small, trained, loadable by every engine, and it mattes."""

import subprocess
import sys

import cv2
import numpy as np
import pytest

from wsshm_rt import Matter
from wsshm_rt.matter import ASSETS, DEFAULT_MODEL, default_model_path

ASTRONAUT = ASSETS / "astronaut.jpg"


@pytest.fixture(scope="module")
def default_matter():
    return Matter(threads=2)


def test_bundled_model_is_one_small_trained_file(default_matter):
    """Issue 28: one weights file per bundled model (the ONNX serves fine-tuning too); issue 4: <= 20 MB."""
    weights = [f for f in ASSETS.iterdir() if f.suffix in (".onnx", ".safetensors", ".pt", ".pth", ".ckpt")]
    assert weights == [default_model_path()]
    assert default_model_path().stat().st_size <= 20_000_000
    meta = default_matter.metadata
    assert meta["architecture"] == "r18-0.5" and meta["trained"] == "true"
    assert default_matter.short_side == int(meta["short_side"])
    assert default_matter.model_path.name == DEFAULT_MODEL


def test_default_model_mattes_the_sample_portrait(default_matter):
    alpha = default_matter.predict(ASTRONAUT)
    assert alpha.shape == (512, 512)
    face, wall = alpha[90:170, 190:260], alpha[10:60, 300:360]
    assert face.mean() > 0.8, face.mean()
    assert wall.mean() < 0.2, wall.mean()


def test_refinement_keeps_the_network_alpha_where_it_is_sure(default_matter):
    """The guided refinement follows colours closely: on the sample portrait, without keeping the network's alpha
    where it is sure, it prints the face's and the suit's texture into the matte (by more than 0.1); with it, the
    alpha there is the network's."""
    from wsshm_rt import preprocess
    from wsshm_rt.images import load_image
    from wsshm_rt.refine import REFINE_EPS, colour_guided_upsample, guided_refine, refine_radius, sure_interior

    rgb = load_image(ASTRONAUT)
    height, width = rgb.shape[:2]
    small, geom = preprocess.resize_for_inference(rgb, default_matter.short_side)
    th, tw = geom.resized_hw
    net = np.clip(default_matter._run([small])[0][0][:th, :tw], 0, 1)
    radius = refine_radius(th, tw)
    inside = cv2.resize(sure_interior(net, radius), (width, height)) > 0.999
    upsampled = cv2.resize(net, (width, height))
    assert inside.mean() > 0.3, inside.mean()
    plain = colour_guided_upsample(net, rgb, radius, REFINE_EPS, small)
    assert np.abs(plain - upsampled)[inside].max() > 0.1
    assert np.abs(guided_refine(net, rgb, small) - upsampled)[inside].max() < 0.01


def test_torch_engine_reads_the_bundled_onnx(default_matter):
    """Fine-tuning and the torch engine read the bundle's weights from its initializers (BatchNorm kept): the same
    fp16-rounded weights ONNX Runtime computes with, so the two alphas agree to float rounding."""
    pytest.importorskip("torch")
    torch_matter = Matter(engine="torch", threads=2)
    assert torch_matter.engine.name == "torch" and torch_matter.short_side == default_matter.short_side
    a_onnx = default_matter.predict(ASTRONAUT, tta="none")
    a_torch = torch_matter.predict(ASTRONAUT, tta="none")
    assert np.abs(a_onnx - a_torch).max() < 1e-4


def test_demo_command_writes_three_images(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "wsshm_rt", "demo", "-o", str(tmp_path)], capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr
    alpha = cv2.imread(str(tmp_path / "astronaut.alpha.png"), cv2.IMREAD_UNCHANGED)
    comp = cv2.imread(str(tmp_path / "astronaut.composite.png"))
    rgba = cv2.imread(str(tmp_path / "astronaut.rgba.png"), cv2.IMREAD_UNCHANGED)
    assert alpha.shape == (512, 512) and comp.shape == (512, 512, 3) and rgba.shape == (512, 512, 4)
    # Where the model says background, the composite shows the demo's blue (#3a7bd5, BGR order here).
    bg = alpha < 10
    assert bg.any() and np.abs(comp[bg].astype(int) - [213, 123, 58]).mean() < 10
