import threading

import numpy as np
import onnx
import pytest
from PIL import Image

from wsshm_rt import Matter
from wsshm_rt.errors import WsshmError


@pytest.fixture(scope="module")
def matter(tiny_onnx):
    return Matter(tiny_onnx, short_side=64, threads=1)


def test_predict_shape_range_and_engine(matter, portrait):
    rgb, _ = portrait
    alpha = matter.predict(rgb)
    assert alpha.shape == rgb.shape[:2] and alpha.dtype == np.float32
    assert 0.0 <= alpha.min() and alpha.max() <= 1.0
    assert matter.info == "onnxruntime on cpu (CPUExecutionProvider)"
    assert matter.metadata["architecture"] == "r18-0.5"


def test_inputs_of_every_kind_agree(matter, portrait, tmp_path):
    rgb, _ = portrait
    ref = matter.predict(rgb)
    assert np.array_equal(matter.predict(rgb[:, :, ::-1].copy(), channels="BGR"), ref)
    assert np.array_equal(matter.predict(Image.fromarray(rgb)), ref)
    Image.fromarray(rgb).save(tmp_path / "p.png")
    assert np.array_equal(matter.predict(tmp_path / "p.png"), ref)
    assert np.array_equal(matter.predict(str(tmp_path / "p.png")), ref)


def test_predict_batch_matches_single(matter, portrait):
    rgb, _ = portrait
    other = np.ascontiguousarray(rgb[::-1])
    batch = matter.predict_batch([rgb, other])
    assert np.abs(batch[0] - matter.predict(rgb)).max() < 1e-5
    assert np.abs(batch[1] - matter.predict(other)).max() < 1e-5
    small = matter.predict_batch([rgb, rgb[:40, :50]])
    assert small[1].shape == (40, 50)


def test_short_side_changes_the_inference_size(tiny_onnx, portrait):
    rgb, _ = portrait
    a64 = Matter(tiny_onnx, short_side=64).predict(rgb)
    a128 = Matter(tiny_onnx, short_side=128).predict(rgb)
    assert a64.shape == a128.shape and not np.allclose(a64, a128)


def test_thread_safe_shared_session(matter, portrait):
    rgb, _ = portrait
    ref = matter.predict(rgb)
    results, errors = [], []

    def work():
        try:
            results.append(matter.predict(rgb))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 6
    assert all(np.array_equal(r, ref) for r in results)


def test_torch_engine_matches_onnx(tiny_weights, matter, portrait):
    rgb, _ = portrait
    tm = Matter(tiny_weights, short_side=64)
    assert tm.info.startswith("torch on cpu")
    assert np.abs(tm.predict(rgb) - matter.predict(rgb)).max() < 1e-4


def test_bad_models(tmp_path, tiny_onnx):
    (tmp_path / "notes.onnx").write_text("not a model")
    with pytest.raises(WsshmError, match="not a loadable ONNX model"):
        Matter(tmp_path / "notes.onnx")
    with pytest.raises(WsshmError, match="does not exist"):
        Matter(tmp_path / "missing.onnx")
    # A valid ONNX file that is not a matting model: one input of the wrong rank.
    g = onnx.helper.make_graph([onnx.helper.make_node("Identity", ["x"], ["y"])], "g",
                               [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [4])],
                               [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [4])])
    onnx.save(onnx.helper.make_model(g, opset_imports=[onnx.helper.make_opsetid("", 17)]), tmp_path / "id.onnx")
    with pytest.raises(WsshmError, match="not a wsshm-rt matting model"):
        Matter(tmp_path / "id.onnx")
    with pytest.raises(WsshmError, match="engine must be"):
        Matter(tiny_onnx, engine="tflite")
