"""CPU int8: static quantisation of a tiny exported model, calibrated on generated images."""

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest

from conftest import make_portrait
from wsshm_rt.errors import WsshmError
from wsshm_rt.export.quantize import QuantOptions, calibration_batch, head_nodes, quantize_int8
from wsshm_rt.preprocess import prepare


@pytest.fixture(scope="module")
def photo_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    for i in range(4):
        rgb, _ = make_portrait(80 + 8 * i, 64, seed=i)
        assert cv2.imwrite(str(folder / f"p{i}.jpg"), rgb[:, :, ::-1])
    return folder


@pytest.fixture(scope="module")
def int8_onnx(tiny_onnx, photo_dir, tmp_path_factory):
    return quantize_int8(tiny_onnx, tmp_path_factory.mktemp("q") / "int8.onnx", photo_dir, QuantOptions(size=64))


def _run(path, x):
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(["alpha"], {"image": x})[0]


def test_int8_is_valid_close_to_fp32_and_keeps_metadata(tiny_onnx, int8_onnx, photo_dir):
    proto = onnx.load(str(int8_onnx))
    onnx.checker.check_model(proto)
    assert any(n.op_type == "QuantizeLinear" for n in proto.graph.node)
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["architecture"] == "r18-0.5" and meta["mean"].startswith("[0.485") and "std" in meta
    assert meta["quantization"].startswith("int8 qdq")
    x = calibration_batch(make_portrait(70, 90, seed=9)[0], 64, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    ref, got = _run(tiny_onnx, x), _run(int8_onnx, x)
    assert got.shape == ref.shape == (1, 1, 64, 64)
    assert float(np.mean((ref - got) ** 2)) < 1e-3


def test_head_stays_fp32(tiny_onnx, int8_onnx):
    excluded = head_nodes(tiny_onnx)
    assert "/head/Conv" in excluded and "/refine/refine.0/Conv" in excluded and "/Sigmoid" in excluded
    graph = onnx.load(str(int8_onnx)).graph
    made_by = {o: n.op_type for n in graph.node for o in n.output}
    head = next(n for n in graph.node if n.name.startswith("/head/") and n.op_type == "Conv")
    assert made_by.get(head.input[0]) != "DequantizeLinear"


def test_calibration_batch_is_prepare_cropped():
    rgb, _ = make_portrait(96, 128)
    mean, std = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)
    x = calibration_batch(rgb, 64, mean, std)
    full, _ = prepare(rgb, 64, 32, mean, std, max_long_side=None)
    left = (full.shape[2] - 64) // 2
    assert x.shape == (1, 3, 64, 64) and np.array_equal(x[0], full[:, :, left:left + 64])


def test_quant_report_compares_speed_and_mse(tiny_onnx, int8_onnx, photo_dir):
    from wsshm_rt.bench.quant_report import compare_int8, format_report

    r = compare_int8(tiny_onnx, int8_onnx, photo_dir, size=64, runs=2, warmup=1)
    assert r["images"] == 4 and 0 <= r["alpha_mse_mean"] < 1e-3 and r["speedup"] > 0
    assert r["fp32_speed"]["median_ms"] > 0 and r["int8_speed"]["fps"] > 0
    assert "speed-up" in format_report(r)


def test_bad_calibration_folder_and_options(tiny_onnx, tmp_path):
    with pytest.raises(WsshmError, match="not a folder"):
        quantize_int8(tiny_onnx, tmp_path / "q.onnx", tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(WsshmError, match="holds no images"):
        quantize_int8(tiny_onnx, tmp_path / "q.onnx", tmp_path / "empty")
    rgb, _ = make_portrait()
    cv2.imwrite(str(tmp_path / "a.png"), rgb)
    with pytest.raises(WsshmError, match="quant_format"):
        quantize_int8(tiny_onnx, tmp_path / "q.onnx", tmp_path, QuantOptions(size=64, quant_format="int4"))
    assert not (tmp_path / "q.onnx").exists()
