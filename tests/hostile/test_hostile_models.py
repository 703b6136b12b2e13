"""Model files that are broken, truncated or not ours, through the API and predict / export / eval: one sentence
that names the file and what is wrong; a model that gives NaN is refused, never written as black PNGs."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from wsshm_rt import Matter
from wsshm_rt.errors import ModelError, WsshmError

from .conftest import api_error, assert_error, assert_no_partial_files, encode, make_fifo, no_hang, portrait, run_cli

torch = pytest.importorskip("torch")
st = pytest.importorskip("safetensors.torch")


def _split(path):
    """(header dict, tensor bytes) of a safetensors file."""
    data = path.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8:8 + n]), data[8 + n:]


def _join(header, body=b"") -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + body


def _tensors(tiny_weights, change):
    state = st.load_file(str(tiny_weights))
    meta = _split(tiny_weights)[0]["__metadata__"]
    change(state)
    return st.save(state, metadata=meta)


def _meta(tiny_weights, **values):
    state = st.load_file(str(tiny_weights))
    meta = dict(_split(tiny_weights)[0]["__metadata__"])
    meta.update(values)
    return st.save(state, metadata={k: v for k, v in meta.items() if v is not None})


def _first(state):
    return next(iter(state))


def _nan(state):
    for value in state.values():
        if value.is_floating_point():
            value[:] = float("nan")


# name -> (bytes from the tiny_weights file, a substring of the one-sentence error)
SAFETENSORS = {
    "truncated": (lambda w: w.read_bytes()[: len(w.read_bytes()) // 2], "is truncated"),
    "header-only": (lambda w: _join(_split(w)[0]), "is truncated"),
    "empty": (lambda w: b"", "too short"),
    "random-bytes": (lambda w: np.random.default_rng(0).bytes(4096), "not a safetensors weights file"),
    "pickle": (lambda w: b"\x80\x04\x95" + bytes(64), "pickle"),
    "zip-pickle": (lambda w: b"PK\x03\x04" + bytes(64), "pickle"),
    "header-is-a-list": (lambda w: _join([1, 2, 3]), "not a table"),
    "bad-offsets": (lambda w: _join({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 3]},
                                     "__metadata__": _split(w)[0]["__metadata__"]}, bytes(16)), "malformed"),
    "tensor-missing": (lambda w: _tensors(w, lambda s: s.pop(_first(s))), "are missing"),
    "tensor-extra": (lambda w: _tensors(w, lambda s: s.update(extra=torch.zeros(3))), "does not have"),
    "tensor-renamed": (lambda w: _tensors(w, lambda s: s.update(renamed=s.pop(_first(s)))), "are missing"),
    "wrong-shape": (lambda w: _tensors(w, lambda s: s.update({_first(s): torch.zeros(2, 2)})), "has shape [2, 2]"),
    "not-ours": (lambda w: st.save({"weight": torch.zeros(3)}), "not a wsshm-rt model"),
    "mean-not-json": (lambda w: _meta(w, mean="[0.5, 0.5"), "mean must be a JSON list"),
    "std-zero": (lambda w: _meta(w, std="[0, 1, 1]"), "std must be a JSON list of 3 positive"),
    "short-side-text": (lambda w: _meta(w, short_side="large"), "short_side must be a whole number"),
    "short-side-zero": (lambda w: _meta(w, short_side="0"), "short_side must be from 32"),
    "short-side-huge": (lambda w: _meta(w, short_side="100000"), "short_side must be from 32"),
    "split-seed-text": (lambda w: _meta(w, split_seed="abc"), "split_seed"),
    "unknown-architecture": (lambda w: _meta(w, architecture="r999"), "unknown model 'r999'"),
    "no-architecture": (lambda w: _meta(w, architecture=None), "does not name its architecture"),
}


@pytest.mark.parametrize("name", list(SAFETENSORS))
def test_broken_safetensors(name, tiny_weights, tmp_path):
    make, expected = SAFETENSORS[name]
    path = tmp_path / f"{name}.safetensors"
    path.write_bytes(make(tiny_weights))
    with pytest.raises(WsshmError) as info:
        Matter(path)
    api_error(info, str(path), expected)


def _onnx_bytes(nodes, inits=()):
    onnx = pytest.importorskip("onnx")
    h = onnx.helper
    graph = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["n", 3, "h", "w"])],
                         [h.make_tensor_value_info("alpha", onnx.TensorProto.FLOAT, ["n", 1, "h", "w"])],
                         initializer=list(inits))
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def _nan_model():
    onnx = pytest.importorskip("onnx")
    nan = onnx.numpy_helper.from_array(np.array([np.nan], np.float32), "nan")
    return _onnx_bytes([onnx.helper.make_node("ReduceMean", ["x"], ["m"], axes=[1], keepdims=1),
                        onnx.helper.make_node("Mul", ["m", "nan"], ["alpha"])], [nan])


def _logits_model():
    onnx = pytest.importorskip("onnx")
    ten = onnx.numpy_helper.from_array(np.array([10.0], np.float32), "ten")
    return _onnx_bytes([onnx.helper.make_node("ReduceMean", ["x"], ["m"], axes=[1], keepdims=1),
                        onnx.helper.make_node("Mul", ["m", "ten"], ["alpha"])], [ten])


def _failing_model():
    onnx = pytest.importorskip("onnx")
    shape = onnx.numpy_helper.from_array(np.array([1, 1, 7, 7], np.int64), "shape")
    return _onnx_bytes([onnx.helper.make_node("ReduceMean", ["x"], ["m"], axes=[1], keepdims=1),
                        onnx.helper.make_node("Reshape", ["m", "shape"], ["alpha"])], [shape])


def _bundled_with(**meta):
    onnx = pytest.importorskip("onnx")
    from wsshm_rt.matter import default_model_path

    model = onnx.load(str(default_model_path()))
    props = {p.key: p.value for p in model.metadata_props}
    props.update(meta)
    del model.metadata_props[:]
    for k, v in props.items():
        model.metadata_props.add(key=k, value=v)
    return model.SerializeToString()


def _bundled_cut():
    from wsshm_rt.matter import default_model_path

    data = default_model_path().read_bytes()
    return data[: len(data) // 3]


# name -> (bytes, where it fails: "load" or "predict", a substring of the one-sentence error)
ONNX = {
    "truncated": (_bundled_cut, "load", "not a loadable ONNX model"),
    "random-bytes": (lambda: np.random.default_rng(1).bytes(2048), "load", "not a loadable ONNX model"),
    "empty": (lambda: b"", "load", "not a loadable ONNX model"),
    "short-side-text": (lambda: _bundled_with(short_side="abc"), "load", "short_side must be a whole number"),
    "mean-two-values": (lambda: _bundled_with(mean="[0.5, 0.5]"), "load", "mean must be a JSON list of 3"),
    "nan-output": (_nan_model, "predict", "NaN or infinite alpha"),
    "logits-output": (_logits_model, "predict", "not in [0, 1]"),
    "fails-at-run": (_failing_model, "predict", "failed to run"),
}


@pytest.mark.parametrize("name", list(ONNX))
def test_broken_onnx(name, tmp_path):
    make, where, expected = ONNX[name]
    path = tmp_path / f"{name}.onnx"
    path.write_bytes(make())
    with pytest.raises(WsshmError) as info:
        Matter(path, short_side=64).predict(portrait())
    if where == "predict":
        assert isinstance(info.value, ModelError)
    api_error(info, expected)


def test_nan_weights_are_refused_not_written_as_black(tiny_weights, tmp_path):
    path = tmp_path / "nan.safetensors"
    path.write_bytes(_tensors(tiny_weights, _nan))
    with pytest.raises(ModelError) as info:
        Matter(path, short_side=64).predict(portrait())
    api_error(info, "nan.safetensors", "NaN")


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "folder"])
def test_model_paths_that_are_not_files(kind, tmp_path):
    path = {"fifo": lambda: make_fifo(tmp_path / "m.onnx"), "dev-zero": lambda: "/dev/zero",
            "folder": lambda: tmp_path}[kind]()
    with no_hang(), pytest.raises(WsshmError) as info:
        Matter(path)
    api_error(info, "folder" if kind == "folder" else "not a regular file")


# ---------------------------------------------------------------- the same through the command line


@pytest.fixture
def photos(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(2):
        (folder / f"p{i}.png").write_bytes(encode(portrait(seed=i)))
    return folder


@pytest.mark.parametrize("name", ["truncated", "wrong-shape", "short-side-text", "tensor-missing"])
def test_predict_with_a_broken_model_is_one_line(name, tiny_weights, photos, tmp_path, capfd):
    model = tmp_path / f"{name}.safetensors"
    model.write_bytes(SAFETENSORS[name][0](tiny_weights))
    res = run_cli(capfd, "predict", photos, "-o", tmp_path / "out", "--model", model, "--tta", "none")
    assert_error(res, str(model), SAFETENSORS[name][1])
    assert not (tmp_path / "out").exists()  # a run that wrote nothing leaves nothing


@pytest.mark.parametrize("model", ["nan.safetensors", "nan-output.onnx"])
def test_predict_with_a_nan_model_writes_nothing(model, tiny_weights, photos, tmp_path, capfd):
    path = tmp_path / model
    path.write_bytes(_tensors(tiny_weights, _nan) if model.endswith(".safetensors") else _nan_model())
    res = run_cli(capfd, "predict", photos, "-o", tmp_path / "out", "--model", path, "--tta", "none",
                  "--short-side", 64)
    assert_error(res, "NaN")
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


@pytest.mark.parametrize("args, needle", [
    (["--model", "r18-0.5", "--opset", "99"], "the exporter writes opsets 17 to 20"),
    (["--model", "r18-0.5", "--opset", "16"], "the exporter writes opsets 17 to 20"),
    (["--model", "r999"], "unknown model 'r999'"),
    (["--weights", "{truncated}"], "is truncated"),
    (["--weights", "{wrong-shape}"], "has shape"),
    (["--weights", "{mean-not-json}"], "mean must be"),
    (["--weights", "{missing}"], "does not exist"),
], ids=["opset-99", "opset-16", "unknown-model", "truncated", "wrong-shape", "bad-metadata", "missing"])
def test_export_refuses_with_one_line(args, needle, tiny_weights, tmp_path, capfd):
    for name, (make, _) in SAFETENSORS.items():
        if any(f"{{{name}}}" in a for a in args):
            (tmp_path / f"{name}.safetensors").write_bytes(make(tiny_weights))
    args = [a.replace("{", str(tmp_path) + "/").replace("}", ".safetensors") for a in args]
    res = run_cli(capfd, "export", *args, "-o", tmp_path / "out.onnx")
    assert_error(res, needle)
    assert not (tmp_path / "out.onnx").exists()
    assert_no_partial_files(tmp_path)


def _seg_folder(root, n=3):
    import cv2

    for sub in ("images", "masks"):
        (root / sub).mkdir(parents=True)
    for i in range(n):
        rgb = portrait(seed=i)
        cv2.imwrite(str(root / "images" / f"{i}.png"), rgb[..., ::-1])
        cv2.imwrite(str(root / "masks" / f"{i}.png"), ((rgb[..., 0] > 128) * 255).astype(np.uint8))
    return root


@pytest.mark.parametrize("name", ["truncated", "wrong-shape", "unknown-architecture"])
def test_eval_with_a_broken_model_is_one_line(name, tiny_weights, tmp_path, capfd):
    model = tmp_path / f"{name}.safetensors"
    model.write_bytes(SAFETENSORS[name][0](tiny_weights))
    res = run_cli(capfd, "eval", "--model", model, "--data", _seg_folder(tmp_path / "seg"), "--kind", "seg",
                  "--tta", "none", "--refine", "none", "--short-side", 64)
    assert_error(res, SAFETENSORS[name][1])
