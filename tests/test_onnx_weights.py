"""Weights read back from an ONNX file's initializers: one bundled file serves inference and fine-tuning."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from test_export import MODELS, random_model

from wsshm_rt.errors import WsshmError
from wsshm_rt.export.onnx import export_onnx
from wsshm_rt.models import create_model
from wsshm_rt.preprocess import IMAGENET_MEAN, IMAGENET_STD
from wsshm_rt.weights import load_weights, make_metadata, read_metadata, save_weights


def _half(state):
    return {k: v.half() if v.is_floating_point() else v for k, v in state.items()}


def _assert_same_state(got, want):
    assert set(got) == set(want)
    for k, v in want.items():
        if k.endswith("num_batches_tracked"):
            continue  # not in the graph; read back as 0
        assert got[k].shape == v.shape and torch.equal(got[k].float(), v.float()), k


@pytest.mark.parametrize("name", MODELS)
def test_keep_bn_export_gives_the_state_dict_back_for_every_model(name, tmp_path):
    """Every tensor of every registered model, BatchNorm statistics included, comes back bit for bit from an fp16
    bundle-style export, and ONNX Runtime computes what eager PyTorch computes on those weights."""
    model = random_model(name)
    model.load_state_dict(_half(model.state_dict()))  # fp32 compute on fp16-rounded weights, as a bundle
    meta = make_metadata(name, IMAGENET_MEAN, IMAGENET_STD)
    path = export_onnx(model, tmp_path / "m.onnx", meta, sample_hw=(64, 64), fp16_weights=True, keep_bn=True)
    state, got_meta = load_weights(path)
    _assert_same_state(state, model.state_dict())
    assert got_meta == read_metadata(path) and got_meta["architecture"] == name
    x = torch.randn(1, 3, 64, 96, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        pha, _ = model(x)
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(["alpha"], {"image": x.numpy()})
    assert np.abs(got[0] - pha.numpy()).max() <= 1e-4


@pytest.fixture(scope="module")
def bundled(tmp_path_factory):
    """A tiny bundle (export.bundle) of a model with non-trivial BatchNorms, and the safetensors it came from."""
    from wsshm_rt.export.bundle import bundle

    folder = tmp_path_factory.mktemp("bundle")
    state = random_model("r18-0.5").state_dict()
    # Two equal tensors, as in the real bundle: the exporter stores one and an Identity node for the other.
    state["encoder.layer2.0.downsample.1.bias"] = state["encoder.layer2.0.bn2.bias"].clone()
    source = save_weights(state, folder / "src.safetensors", make_metadata("r18-0.5", IMAGENET_MEAN, IMAGENET_STD))
    return bundle(source, folder / "assets", short_side=96, note="test"), source


def test_bundle_writes_one_file_whose_weights_are_the_fp16_rounded_source(bundled):
    path, source = bundled
    assert [p.name for p in path.parent.iterdir()] == [path.name]
    stored = {i.name.removesuffix(".fp16") for i in onnx.load(str(path)).graph.initializer}
    assert "encoder.layer2.0.bn2.bias" in stored and "encoder.layer2.0.downsample.1.bias" not in stored
    state, meta = load_weights(path)
    _assert_same_state(state, _half(load_weights(source)[0]))
    assert meta["short_side"] == "96" and meta["note"] == "test" and meta["trained"] == "true"


def test_torch_engine_on_the_onnx_matches_the_safetensors(bundled, portrait):
    from wsshm_rt import Matter

    path, source = bundled
    half_source = save_weights(_half(load_weights(source)[0]), path.parent.parent / "half.safetensors",
                               load_weights(path)[1])
    from_onnx = Matter(path, engine="torch", threads=1)
    assert from_onnx.engine.name == "torch"
    rgb = portrait[0]
    a = from_onnx.predict(rgb, tta="none")
    assert np.array_equal(a, Matter(half_source, threads=1).predict(rgb, tta="none"))
    assert np.abs(a - Matter(path, threads=1).predict(rgb, tta="none")).max() < 1e-4  # ONNX Runtime


def test_fine_tuning_and_export_read_the_onnx(bundled, tmp_path):
    """--init/--teacher (training.stages) and `wsshm-rt export --weights` take the bundle's .onnx."""
    from wsshm_rt.export.api import export_model
    from wsshm_rt.training.checkpoint import load_model_weights
    from wsshm_rt.training.stages import _arch_of

    path, _ = bundled
    assert _arch_of(path, "--init") == "r18-0.5"
    model = create_model("r18-0.5")
    assert load_model_weights(model, path, "--init")["short_side"] == "96"
    _assert_same_state(model.state_dict(), load_weights(path)[0])
    out = export_model(tmp_path / "re.onnx", weights=path)
    proto = onnx.load(str(out))
    assert not [n for n in proto.graph.node if n.op_type == "BatchNormalization"]  # an inference export again
    assert {p.key: p.value for p in proto.metadata_props}["short_side"] == "96"


def test_an_inference_export_or_a_foreign_file_is_one_sentence(tiny_onnx, tmp_path):
    """A folded export has lost its BatchNorm tensors: refused, naming what to pass instead; so are files that are
    not wsshm-rt ONNX models, for training and for the torch engine alike."""
    from wsshm_rt import Matter

    with pytest.raises(WsshmError, match="BatchNorm folded.*pass the .safetensors"):
        load_weights(tiny_onnx)
    with pytest.raises(WsshmError, match="BatchNorm folded"):
        Matter(tiny_onnx, engine="torch")
    (tmp_path / "notes.onnx").write_text("not a model")
    with pytest.raises(WsshmError, match="not a readable ONNX file"):
        load_weights(tmp_path / "notes.onnx")
    g = onnx.helper.make_graph([onnx.helper.make_node("Identity", ["x"], ["y"])], "g",
                               [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [4])],
                               [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [4])])
    onnx.save(onnx.helper.make_model(g), tmp_path / "foreign.onnx")
    with pytest.raises(WsshmError, match="not a wsshm-rt model"):
        read_metadata(tmp_path / "foreign.onnx")
