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


def _head_input_is_dequantized(path) -> bool:
    graph = onnx.load(str(path)).graph
    made_by = {o: n.op_type for n in graph.node for o in n.output}
    head = next(n for n in graph.node if n.name.startswith("/head/") and n.op_type == "Conv")
    return made_by.get(head.input[0]) == "DequantizeLinear"


def test_every_layer_is_int8_by_default_and_the_tail_can_stay_fp32(tiny_onnx, int8_onnx, photo_dir, tmp_path):
    assert _head_input_is_dequantized(int8_onnx)
    excluded = head_nodes(tiny_onnx)
    assert {"/head/Conv", "/refine/refine.0/Conv", "/Sigmoid", "/Concat_2", "/Resize"} <= set(excluded)
    assert not any(n.startswith(("/decoder", "/encoder", "/aspp")) for n in excluded)
    kept = quantize_int8(tiny_onnx, tmp_path / "q.onnx", photo_dir, QuantOptions(size=64, larger=None,
                                                                                 exclude_head=True))
    assert not _head_input_is_dequantized(kept)
    assert "exclude_head=True" in {p.key: p.value for p in onnx.load(str(kept)).metadata_props}["quantization"]


def test_calibration_reader_gives_both_sizes_a_chunk_at_a_time(tiny_onnx, photo_dir):
    from wsshm_rt.export.quantize import ImageCalibrationReader, _stride

    reader = ImageCalibrationReader(photo_dir, tiny_onnx, size=64, larger=1.6)
    assert len(reader) == 8  # 4 photos at 64 and at 96 (1.6 x 64, to a multiple of 32)
    shapes = [reader.get_next()["image"].shape for _ in range(8)]
    assert shapes == [(1, 3, 64, 64)] * 4 + [(1, 3, 96, 96)] * 4 and reader.get_next() is None
    reader.set_range(2, 5)
    got = []
    while (item := reader.get_next()) is not None:
        got.append(item["image"].shape[-1])
    assert got == [64, 64, 96]
    reader.rewind()
    assert len([reader.get_next() for _ in range(8)]) == 8 and reader.get_next() is None
    assert [_stride(n) for n in (64, 8, 12, 7, 1)] == [8, 8, 6, 7, 1]


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


def test_export_cli_quantises_the_exported_model(tiny_weights, photo_dir, tmp_path, monkeypatch):
    """`wsshm-rt export --weights w --quantize int8 --calibration photos/ -o x.onnx` -> quantize_int8(fp32 of w)."""
    from wsshm_rt.cli import main
    from wsshm_rt.export import quantize

    calls = []

    def fake_quantize(fp32, out, calibration, skipped=None):
        meta = {p.key: p.value for p in onnx.load(str(fp32)).metadata_props}
        calls.append((meta["architecture"], meta.get("trained"), out, calibration))
        out.write_bytes(b"int8")
        return out

    monkeypatch.setattr(quantize, "quantize_int8", fake_quantize)
    out = tmp_path / "q.onnx"
    with pytest.raises(SystemExit) as done:
        main(["export", "--weights", str(tiny_weights), "--quantize", "int8", "--calibration", str(photo_dir),
              "-o", str(out)])
    assert done.value.code == 0 and calls == [("r18-0.5", None, out, photo_dir)]


@pytest.fixture
def mixed_dir(photo_dir, tmp_path):
    """The 4 photos, and before them (in name order) a text file, a cut-off PNG and an empty JPEG."""
    import shutil

    folder = tmp_path / "mixed"
    shutil.copytree(photo_dir, folder)
    (folder / "a-text.jpg").write_text("not an image")
    (folder / "b-cut.png").write_bytes(cv2.imencode(".png", make_portrait(64, 64)[0])[1].tobytes()[:300])
    (folder / "c-empty.jpg").write_bytes(b"")
    return folder


def test_unreadable_calibration_images_are_reported_and_skipped(tiny_onnx, mixed_dir, tmp_path, caplog):
    """As predict does: one line each, the first ``max_images`` readable images are used, the model is written."""
    from wsshm_rt.export.quantize import ImageCalibrationReader

    reader = ImageCalibrationReader(mixed_dir, tiny_onnx, size=64, max_images=4)
    bad = [str(mixed_dir / n) for n in ("a-text.jpg", "b-cut.png", "c-empty.jpg")]
    assert sorted(reader.skipped) == bad and "is empty" in reader.skipped[bad[2]]
    assert [path.name for path, _ in reader.items] == [f"p{i}.jpg" for i in range(4)]  # 4 readable, not 1
    assert [reader.get_next()["image"].shape for _ in range(4)] == [(1, 3, 64, 64)] * 4
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert [w.split(": ")[2] for w in warned] == [f"skipped {b}" for b in bad]
    caplog.clear()
    skipped = {}
    out = quantize_int8(tiny_onnx, tmp_path / "q.onnx", mixed_dir, QuantOptions(size=64, larger=None),
                        skipped=skipped)
    assert sorted(skipped) == bad and any(n.op_type == "QuantizeLinear" for n in onnx.load(str(out)).graph.node)


def test_a_calibration_folder_with_nothing_readable_is_one_sentence(tiny_onnx, tmp_path):
    (tmp_path / "bad").mkdir()
    for name in ("x.jpg", "y.png"):
        (tmp_path / "bad" / name).write_bytes(b"junk")
    with pytest.raises(WsshmError, match=r"^none of the 2 images in --calibration .*bad could be read$"):
        quantize_int8(tiny_onnx, tmp_path / "q.onnx", tmp_path / "bad")
    assert not (tmp_path / "q.onnx").exists()


def test_export_cli_skips_unreadable_calibration_images_with_exit_code_1(tiny_weights, mixed_dir, tmp_path,
                                                                          capsys):
    """The int8 model is written, calibrated on the readable images; the run says how many were skipped."""
    from wsshm_rt.cli import main

    out = tmp_path / "q.onnx"
    with pytest.raises(SystemExit) as done:
        main(["export", "--weights", str(tiny_weights), "--quantize", "int8", "--calibration", str(mixed_dir),
              "--short-side", "64", "-o", str(out)])
    captured = capsys.readouterr()
    assert done.value.code == 1, captured.err
    assert captured.out.strip().splitlines()[-1] == f"wrote {out} (3 unreadable calibration images skipped)"
    assert any(n.op_type == "QuantizeLinear" for n in onnx.load(str(out)).graph.node)


@pytest.mark.parametrize("extra", [[], ["--calibration", "{missing}"], ["--format", "tensorrt"],
                                   ["--quantize", "int4"]])
def test_export_cli_bad_quantize_flags_fail_before_exporting(tiny_weights, tmp_path, capsys, monkeypatch, extra):
    from wsshm_rt.cli import main
    from wsshm_rt.export import api

    monkeypatch.setattr(api, "export_onnx_file", lambda *a, **k: pytest.fail("exported before checking the flags"))
    args = ["export", "--weights", str(tiny_weights), "-o", str(tmp_path / "q.onnx")]
    args += ["--quantize", "int8"] if "--quantize" not in extra else []
    with pytest.raises(SystemExit) as done:
        main(args + [a.format(missing=tmp_path / "missing") for a in extra])
    err = capsys.readouterr().err.strip().splitlines()
    assert done.value.code == 2 and len(err) == 1 and err[0].startswith("wsshm-rt: error: --")
    assert not (tmp_path / "q.onnx").exists()
