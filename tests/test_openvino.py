"""OpenVINO engine: the same ONNX file gives ONNX Runtime's alpha (fp32) or a close one (bf16, where native)."""

import sys

import numpy as np
import pytest

from conftest import make_portrait
from wsshm_rt import Matter
from wsshm_rt.errors import MissingDependency, WsshmError


def test_fp32_matches_onnxruntime(tiny_onnx):
    pytest.importorskip("openvino")
    rgb, _ = make_portrait(80, 120, seed=1)
    ort_matter = Matter(tiny_onnx, engine="onnxruntime", device="cpu", short_side=64, tta="none")
    ov_matter = Matter(tiny_onnx, engine="openvino", short_side=64, tta="none")
    assert ov_matter.info.startswith("openvino on cpu (OpenVINO ") and ov_matter.metadata["architecture"] == "r18-0.5"
    a, b = ort_matter.predict(rgb), ov_matter.predict(rgb)
    assert a.shape == b.shape == (80, 120) and np.abs(a - b).max() < 1e-4
    # dynamic shapes: another size and a batch of two through the same compiled model
    x = np.random.default_rng(0).standard_normal((2, 3, 96, 64)).astype(np.float32)
    assert np.abs(ort_matter.engine.run(x) - ov_matter.engine.run(x)).max() < 1e-4


def test_bf16_is_close_where_the_cpu_has_it(tiny_onnx):
    ov = pytest.importorskip("openvino")
    if "BF16" not in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
        with pytest.raises(WsshmError, match="no native bf16"):
            Matter(tiny_onnx, engine="openvino", precision="bf16")
        return
    x = np.random.default_rng(0).standard_normal((1, 3, 64, 64)).astype(np.float32)
    fp32 = Matter(tiny_onnx, engine="openvino").engine.run(x)
    bf16 = Matter(tiny_onnx, engine="openvino", precision="bf16").engine.run(x)
    assert 0 < np.abs(fp32 - bf16).max() < 0.05  # rounded, not broken


def test_threads_per_call_and_streams():
    from wsshm_rt.engines.openvino import cpu_config

    cores = __import__("os").cpu_count()
    assert cpu_config(1)["NUM_STREAMS"] == cores and cpu_config(1)["INFERENCE_NUM_THREADS"] == cores
    assert cpu_config(None) == {"INFERENCE_PRECISION_HINT": "f32", "NUM_STREAMS": 1, "INFERENCE_NUM_THREADS": cores}
    assert cpu_config(cores, "bf16")["INFERENCE_PRECISION_HINT"] == "bf16"


def test_refusals_are_one_sentence(tiny_onnx, tiny_weights, monkeypatch):
    pytest.importorskip("openvino")
    with pytest.raises(WsshmError, match="runs on the CPU"):
        Matter(tiny_onnx, engine="openvino", device="cuda")
    with pytest.raises(WsshmError, match="reads .onnx models"):
        Matter(tiny_weights, engine="openvino")
    with pytest.raises(WsshmError, match="and bf16 on the openvino engine"):
        Matter(tiny_onnx, engine="openvino", precision="fp16")
    with pytest.raises(WsshmError, match="bf16 on the openvino engine"):
        Matter(tiny_onnx, engine="onnxruntime", precision="bf16")
    monkeypatch.setitem(sys.modules, "openvino", None)  # as if the extra were not installed
    with pytest.raises(MissingDependency, match=r"pip install 'wsshm-rt\[openvino\]'"):
        Matter(tiny_onnx, engine="openvino")
