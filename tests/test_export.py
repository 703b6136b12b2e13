import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from wsshm_rt.models import create_model, list_models
from wsshm_rt.weights import load_weights


def random_model(name: str, seed: int = 0):
    """An untrained registered model whose BatchNorms hold non-trivial statistics, so folding them is tested."""
    torch.manual_seed(seed)
    model = create_model(name)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            for t, lo, hi in ((m.weight, 0.5, 1.5), (m.bias, -0.2, 0.2), (m.running_mean, -0.2, 0.2),
                              (m.running_var, 0.5, 2.0)):
                t.data.uniform_(lo, hi)
    return model.eval()


MODELS = [pytest.param(n, marks=pytest.mark.slow) if n in ("r101", "r18") else n for n in list_models()]  # r18-0.5: fast lane


@pytest.mark.parametrize("name", MODELS)
def test_onnx_parity_with_eager_for_every_model(name, tmp_path):
    """Every registered model exports (BatchNorm folded) and computes what eager PyTorch computes, at a batch and
    a size the export was not traced at."""
    from wsshm_rt.export.onnx import export_onnx

    model = random_model(name)
    path = export_onnx(model, tmp_path / f"{name}.onnx", sample_hw=(64, 64))
    x = torch.randn(2, 3, 70, 45, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        pha, bnd = model(x)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got_pha, got_bnd = sess.run(["alpha", "boundary"], {"image": x.numpy()})
    tol = 5e-4 if name == "r101" else 1e-4  # fp32 rounding over 100+ layers, BatchNorm folded into the convs
    assert np.abs(got_pha - pha.numpy()).max() <= tol
    assert np.abs(got_bnd - bnd.numpy()).max() <= tol


def test_fp16_weights_halve_the_file_and_still_compute_in_fp32(tiny_weights, tiny_onnx, tmp_path):
    from wsshm_rt.export.onnx import export_onnx

    state, meta = load_weights(tiny_weights)
    half = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    model = create_model("r18-0.5").eval()
    model.load_state_dict(half)  # the reference: fp32 compute on fp16-rounded weights
    path = export_onnx(model, tmp_path / "half.onnx", meta, fp16_weights=True)
    assert path.stat().st_size < 0.55 * tiny_onnx.stat().st_size
    proto = onnx.load(str(path))
    big_fp32 = [i.name for i in proto.graph.initializer if i.data_type == onnx.TensorProto.FLOAT and
                np.prod(i.dims) >= 64]
    assert not big_fp32
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    x = torch.randn(1, 3, 64, 96, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        pha, _ = model(x)
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(["alpha"], {"image": x.numpy()})[0]
    assert got.dtype == np.float32
    assert np.abs(got - pha.numpy()).max() <= 2e-3  # BatchNorm folded into the convs, then rounded to fp16 again


def test_onnx_graph_is_clean(tiny_onnx):
    proto = onnx.load(str(tiny_onnx))
    assert max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")) >= 17
    assert not [n for n in proto.graph.node if n.op_type == "BatchNormalization"]
    assert [o.name for o in proto.graph.output] == ["alpha", "boundary"]
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param for d in dims] == ["batch", "", "height", "width"] and dims[1].dim_value == 3
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["architecture"] == "r18-0.5" and "mean" in meta


def test_export_to_a_folder_or_an_unwritable_place_is_one_sentence(tmp_path, capsys):
    """Refused before the network is built, instead of a traceback from the exporter's file write."""
    from wsshm_rt.cli import main

    (tmp_path / "blocker").write_text("a file where a folder should be")
    for out, message in ((tmp_path, "is a folder"), (tmp_path / "blocker" / "m.onnx", "cannot write to output folder")):
        with pytest.raises(SystemExit) as exc:
            main(["export", "--model", "r18-0.5", "-o", str(out)])
        err = capsys.readouterr().err.strip().splitlines()
        assert exc.value.code == 2 and len(err) == 1 and message in err[0], err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocker"]


def test_export_api_refuses_a_folder_before_building(tmp_path):
    """The Python API gets the same check as the CLI: it lives in export_model, not in the command."""
    from wsshm_rt.errors import WsshmError
    from wsshm_rt.export.api import export_model

    with pytest.raises(WsshmError, match="is a folder"):
        export_model(tmp_path, model="r18-0.5")
    assert list(tmp_path.iterdir()) == []


def test_a_full_disk_during_export_is_one_sentence_and_leaves_nothing(tmp_path, capsys, file_size_limit):
    """A write that fails part-way (here a real OS file-size limit) ends the export with one sentence."""
    from wsshm_rt.cli import main

    out = tmp_path / "m.onnx"
    with file_size_limit(100_000), pytest.raises(SystemExit) as exc:
        main(["export", "--model", "r18-0.5", "-o", str(out)])  # ~13 MB of fp32 weights: fails part-way
    err = capsys.readouterr().err.strip().splitlines()
    assert exc.value.code == 2 and len(err) == 1 and "cannot write" in err[0] and "File too large" in err[0], err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name, extra, needle", [
    ("m.txt", [], "-o {out} must end in .onnx (the export writes an ONNX file), e.g. {dir}/m.onnx"),
    ("m", [], "-o {out} must end in .onnx (the export writes an ONNX file), e.g. {dir}/m.onnx"),
    ("m.engine", [], "must end in .onnx"),
    ("m.onnx", ["--format", "tensorrt"], "-o {out} must end in .engine (--format tensorrt writes a TensorRT engine)"),
    ("m.engine", ["--quantize", "int8", "--calibration", "{dir}"], "must end in .onnx (--quantize int8 writes"),
], ids=["txt", "no-suffix", "engine-as-onnx", "onnx-as-engine", "int8-as-engine"])
def test_an_output_suffix_that_does_not_match_the_format_is_refused_before_any_work(name, extra, needle, tmp_path,
                                                                                      capsys, monkeypatch):
    from wsshm_rt.cli import main
    from wsshm_rt.export import api

    monkeypatch.setattr(api, "export_onnx_file", lambda *a, **k: pytest.fail("exported before checking -o"))
    out = tmp_path / name
    with pytest.raises(SystemExit) as exc:
        main(["export", "--model", "r18-0.5", "-o", str(out), *[a.format(dir=tmp_path) for a in extra]])
    err = capsys.readouterr().err.strip().splitlines()
    assert exc.value.code == 2 and len(err) == 1, err
    assert err[0].startswith("wsshm-rt: error: ") and needle.format(out=out, dir=tmp_path) in err[0], err
    assert list(tmp_path.iterdir()) == []


def test_export_api_checks_the_format_and_accepts_its_suffix_in_any_case(tmp_path, monkeypatch):
    from wsshm_rt.errors import WsshmValueError
    from wsshm_rt.export import api

    calls = []
    monkeypatch.setattr(api, "export_onnx_file", lambda out, *a: calls.append(out) or out)
    with pytest.raises(WsshmValueError, match="must end in .onnx"):
        api.export_model(tmp_path / "m.txt", model="r18-0.5")
    with pytest.raises(WsshmValueError, match="--format must be onnx or tensorrt, not 'tflite'"):
        api.export_model(tmp_path / "m.onnx", model="r18-0.5", fmt="tflite")
    assert calls == []
    out = tmp_path / "m.ONNX"
    assert api.export_model(out, model="r18-0.5") == out and calls == [out]
