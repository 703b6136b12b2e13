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
    assert np.array_equal(matter.predict((tmp_path / "p.png").read_bytes()), ref)  # an upload held in memory


def test_predict_batch_matches_single(matter, portrait):
    rgb, _ = portrait
    other = np.ascontiguousarray(rgb[::-1])
    batch = matter.predict_batch([rgb, other])
    assert np.abs(batch[0] - matter.predict(rgb)).max() < 1e-5
    assert np.abs(batch[1] - matter.predict(other)).max() < 1e-5
    small = matter.predict_batch([rgb, rgb[:40, :50]])
    assert small[1].shape == (40, 50)


def test_a_batch_of_mixed_sizes_gives_each_image_its_own_matte():
    """Padding a smaller image to a larger one's size would change its matte (global pooling sees the padding)."""
    from wsshm_rt.matter import ASSETS, default_model_path

    m = Matter(default_model_path(), short_side=96, threads=1, tta="none", refine="none")
    photo = np.asarray(Image.open(ASSETS / "astronaut.jpg").convert("RGB"))
    wide, tall, wide2 = photo[:300, :400], photo[:450, :300], photo[100:400, 50:450]
    batch = m.predict_batch([wide, tall, wide2])
    for image, alpha in zip((wide, tall, wide2), batch):
        assert alpha.shape == image.shape[:2] and np.abs(alpha - m.predict(image)).max() < 1e-4


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
    with pytest.raises(WsshmError, match="model path is empty"):
        Matter("")  # Path("") is the current folder: the error named "." before
    # A valid ONNX file that is not a matting model: one input of the wrong rank.
    g = onnx.helper.make_graph([onnx.helper.make_node("Identity", ["x"], ["y"])], "g",
                               [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [4])],
                               [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [4])])
    onnx.save(onnx.helper.make_model(g, opset_imports=[onnx.helper.make_opsetid("", 17)]), tmp_path / "id.onnx")
    with pytest.raises(WsshmError, match="not a wsshm-rt matting model"):
        Matter(tmp_path / "id.onnx")
    with pytest.raises(WsshmError, match="engine must be"):
        Matter(tiny_onnx, engine="tflite")


def _onnx_model(path, in_shape, out_shape, nodes, in_type=onnx.TensorProto.FLOAT):
    """A one-input, one-output ONNX graph ``x -> ... -> alpha``, for models that are wrong in one way."""
    g = onnx.helper.make_graph(nodes, "g", [onnx.helper.make_tensor_value_info("x", in_type, in_shape)],
                               [onnx.helper.make_tensor_value_info("alpha", in_type, out_shape)])
    model = onnx.helper.make_model(g, opset_imports=[onnx.helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def _grey(out="alpha"):
    return onnx.helper.make_node("ReduceMean", ["x"], [out], axes=[1], keepdims=1)


@pytest.mark.parametrize("in_shape, out_shape, nodes, in_type, message", [
    (["n", 3, "h", "w"], ["n", 3, "h", "w"], [onnx.helper.make_node("Identity", ["x"], ["alpha"])],
     onnx.TensorProto.UINT8, "one float image input"),
    ([1, 3, 224, 224], [1, 1, 224, 224], [_grey()], onnx.TensorProto.FLOAT, "fixed input Shape"),
    (["n", 3, "h", "w"], ["n", 3, "h", "w"], [onnx.helper.make_node("Identity", ["x"], ["alpha"])],
     onnx.TensorProto.FLOAT, "no 'alpha' output"),
], ids=["uint8 input", "fixed size", "3-channel output"])
def test_models_with_wrong_inputs_or_outputs_are_refused_on_load(tmp_path, in_shape, out_shape, nodes, in_type,
                                                                  message):
    path = _onnx_model(tmp_path / "wrong.onnx", in_shape, out_shape, nodes, in_type)
    with pytest.raises(WsshmError, match=message):
        Matter(path)


def test_a_model_that_shrinks_the_image_is_refused(tmp_path, portrait):
    """Its output shape is only known when it runs; a half-size alpha must not be stretched into a matte."""
    nodes = [_grey("g"), onnx.helper.make_node("MaxPool", ["g"], ["alpha"], kernel_shape=[2, 2], strides=[2, 2])]
    matter = Matter(_onnx_model(tmp_path / "half.onnx", ["n", 3, "h", "w"], ["n", 1, "h2", "w2"], nodes),
                    short_side=64)
    with pytest.raises(WsshmError, match=r"returns Shape\(1, 1, 32, 32\)"):
        matter.predict(portrait[0][:64, :64])


def test_a_model_with_batch_fixed_at_one_still_predicts_batches(tmp_path, portrait):
    rgb, _ = portrait
    nodes = [_grey("m"), onnx.helper.make_node("Sigmoid", ["m"], ["alpha"])]  # an alpha in [0, 1], as ours
    matter = Matter(_onnx_model(tmp_path / "b1.onnx", [1, 3, "h", "w"], [1, 1, "h", "w"], nodes), short_side=64)
    alphas = matter.predict_batch([rgb, rgb[:40, :50]])
    assert [a.shape for a in alphas] == [rgb.shape[:2], (40, 50)]
    assert np.array_equal(alphas[0], matter.predict(rgb))


@pytest.mark.slow
def test_torch_bf16_session_is_close_to_fp32(tiny_weights, portrait, monkeypatch):
    pytest.importorskip("torch")
    import wsshm_rt.models as models

    monkeypatch.setattr(models, "cpu_has_native_bf16", lambda: True)  # bf16 also computes (slowly) without it
    fp32 = Matter(tiny_weights, short_side=64, device="cpu")
    bf16 = Matter(tiny_weights, short_side=64, device="cpu", precision="bf16")
    assert "bf16" in bf16.info and "bf16" not in fp32.info
    rgb, _ = portrait
    a, b = fp32.predict(rgb), bf16.predict(rgb)
    assert a.shape == b.shape and 0 < np.abs(a - b).max() < 0.05  # rounded, not broken


def test_reduced_precision_picks_the_torch_engine_for_an_onnx_file(tiny_onnx, monkeypatch):
    """engine="auto" with bf16: the engine that runs it (torch reads the bundled .onnx file's initializers), not a
    refusal; an export whose BatchNorms are folded cannot be, and says what to pass instead."""
    pytest.importorskip("torch")
    import wsshm_rt.models as models

    monkeypatch.setattr(models, "cpu_has_native_bf16", lambda: True)
    matter = Matter(short_side=64, device="cpu", precision="bf16")
    assert matter.info.startswith("torch") and "bf16" in matter.info
    assert Matter(short_side=64, device="cpu").info.startswith("onnxruntime")
    with pytest.raises(WsshmError, match="pass the .safetensors it was exported from"):
        Matter(tiny_onnx, device="cpu", precision="bf16")


def test_weights_are_found_by_the_trainers_short_names(tiny_weights, tmp_path):
    """``runs/x/best`` (no suffix) and a run folder name weights as in `eval` and `export`."""
    pytest.importorskip("torch")
    import shutil

    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(tiny_weights, run / "last.safetensors")
    shutil.copy(tiny_weights, run / "best.safetensors")
    assert Matter(run / "best", device="cpu").model_path == run / "best.safetensors"
    assert Matter(str(run), device="cpu").model_path == run / "last.safetensors"
    with pytest.raises(WsshmError, match="does not exist"):
        Matter(run / "worst", device="cpu")


def test_reduced_precision_is_refused_where_it_cannot_run(tiny_weights, tiny_onnx, monkeypatch):
    pytest.importorskip("torch")
    import wsshm_rt.models as models

    with pytest.raises(WsshmError, match="torch engine"):
        Matter(tiny_onnx, engine="onnxruntime", precision="bf16")
    with pytest.raises(WsshmError, match="needs a CUDA GPU"):
        Matter(tiny_weights, device="cpu", precision="fp16")
    with pytest.raises(WsshmError, match="precision must be fp32, bf16 or fp16, not .int4."):
        Matter(tiny_weights, precision="int4")
    monkeypatch.setattr(models, "cpu_has_native_bf16", lambda: False)
    with pytest.raises(WsshmError, match="no native bf16"):
        Matter(tiny_weights, device="cpu", precision="bf16")


def _edge_scene(h=192, w=256, edge=140):
    """A bright person on the left of a vertical edge at x = ``edge``, dark background on the right."""
    rgb = np.full((h, w, 3), 30, np.uint8)
    rgb[:, :edge] = 220
    true = np.zeros((h, w), np.float32)
    true[:, :edge] = 1.0
    return rgb, true


def test_guided_refinement_snaps_a_coarse_alpha_to_the_image_edge():
    from wsshm_rt.preprocess import Geometry, restore

    rgb, true = _edge_scene()
    # A network output at half size whose edge is 2 px (4 px at full size) to the right of the true one, and soft.
    x = np.arange(128, dtype=np.float32)
    small = np.tile(np.clip((71.5 - x) / 3.0 + 0.5, 0, 1), (96, 1))
    geom = Geometry((192, 256), (96, 128))
    plain, guided = restore(small, geom), restore(small, geom, guide=rgb)
    assert guided.shape == plain.shape == true.shape and guided.dtype == np.float32
    assert 0.0 <= guided.min() and guided.max() <= 1.0
    mse_plain, mse_guided = np.mean((plain - true) ** 2), np.mean((guided - true) ** 2)
    assert mse_guided < 0.5 * mse_plain, (mse_plain, mse_guided)  # 0.0117 -> 0.0044
    # Where the image is flat far from the edge, the refined alpha keeps the network's value.
    assert np.allclose(guided[:, :110], plain[:, :110], atol=1e-3) and np.allclose(guided[:, 180:], 0, atol=1e-3)


def test_flip_tta_averages_the_image_and_its_mirror(tiny_onnx, matter, portrait):
    """tta="flip" (the default): the engine also sees the mirrored image; the result is their mean, so mirroring
    the input mirrors the output exactly, which one pass of a network does not."""
    from wsshm_rt import preprocess

    rgb = np.ascontiguousarray(portrait[0][:, 7:])  # 57 px wide at 64: the padding differs for the mirror image
    one = Matter(tiny_onnx, short_side=64, threads=1, refine="none", tta="none")
    small, geom = preprocess.resize_for_inference(rgb, 64)
    a = one.engine.run(preprocess.to_network(small)[None])[0, 0]
    b = one.engine.run(preprocess.to_network(small[:, ::-1].copy())[None])[0, 0]
    th, tw = geom.resized_hw
    expected = preprocess.restore((a[:th, :tw] + b[:th, :tw][:, ::-1]) / 2, geom)
    flip = matter.predict(rgb, refine="none", tta="flip")
    assert np.allclose(flip, expected, atol=1e-6) and flip.dtype == np.float32
    assert np.allclose(one.predict(rgb, tta="flip"), flip, atol=1e-6)
    mirror = np.ascontiguousarray(rgb[:, ::-1])
    for refine in ("none", "guided"):
        a, b = (matter.predict(x, refine=refine, tta="flip") for x in (mirror, rgb))
        assert np.abs(a - b[:, ::-1]).max() < 1e-5
    single = np.abs(one.predict(mirror) - one.predict(rgb)[:, ::-1]).max()
    assert single > 1e-3, single  # the untrained network alone is not mirror-symmetric
    for bad in ("hflip", ""):
        with pytest.raises(WsshmError, match=r"tta must be flip\+scale, flip or none"):
            Matter(tiny_onnx, tta=bad)
    with pytest.raises(WsshmError, match=r"tta must be flip\+scale, flip or none, not 'Flip'"):
        matter.predict(rgb, tta="Flip")


def test_merge_scale_averages_where_the_two_sizes_agree_and_keeps_the_base_elsewhere():
    from wsshm_rt.tta import SCALE_AGREE, merge_scale

    base = np.zeros((300, 300), np.float32)
    base[:, 150:] = 1.0
    large = base.copy()
    large[:, 140:150] = 0.2  # a soft edge the larger pass sees: within SCALE_AGREE of the base, averaged in
    large[:100, :60] = 0.9  # a blob the larger pass alone sees: far from the base, left out
    out = merge_scale(base, large.copy())
    assert np.array_equal(merge_scale(base, large.copy(), rows=7), out)  # row by row (memory), the same result
    assert 0.2 > SCALE_AGREE / 2 and 0.9 > SCALE_AGREE
    assert np.allclose(out[150:, 142:148], 0.1, atol=1e-3)  # the mean of 0 and 0.2
    assert np.abs(out[:80, :40]).max() < 1e-3  # the blob, well inside: the base's 0
    assert np.array_equal(out[150:, 200:], base[150:, 200:])  # both 1: unchanged
    assert out.dtype == np.float32 and 0.0 <= out.min() and out.max() <= 1.0


def test_flip_scale_tta_adds_a_larger_pass_to_flip(tiny_onnx, matter, portrait):
    """tta="flip+scale" (the default): the flip pass at short_side and one pass at 1.4x it, merged by
    ``merge_scale``. A stream of such a session flips: its frames are already downscaled."""
    from wsshm_rt import tta

    rgb = portrait[0]
    assert tta.scale_side(64) == 90 and tta.scale_side(320) == 448
    large = Matter(tiny_onnx, short_side=90, threads=1, tta="none")
    for refine in ("none", "guided"):
        both = matter.predict(rgb, refine=refine)
        flip = matter.predict(rgb, refine=refine, tta="flip")
        assert np.array_equal(both, tta.merge_scale(flip, large.predict(rgb, refine=refine)))
        assert np.abs(both - flip).max() > 1e-3
    batch = matter.predict_batch([rgb, rgb[:50, :40]])
    assert np.abs(batch[0] - matter.predict(rgb)).max() < 1e-5 and batch[1].shape == (50, 40)
    frames = Matter(tiny_onnx, short_side=64, threads=1, tta="flip").stream(smooth=False)
    assert np.array_equal(matter.stream(smooth=False)(rgb), frames(rgb))


@pytest.mark.slow
def test_torch_evaluator_scores_flip_scale_as_matter_returns_it(tiny_weights, tiny_onnx, portrait):
    """``wsshm-rt eval --weights W --tta flip+scale`` (PyTorch) scores the alpha Matter(tta="flip+scale") returns."""
    import torch

    from wsshm_rt.models import create_model
    from wsshm_rt.training.evaluate import predict_alpha
    from wsshm_rt.weights import load_weights

    state, meta = load_weights(tiny_weights)
    model = create_model(meta["architecture"]).eval()
    model.load_state_dict(state)
    rgb = portrait[0]
    ours = predict_alpha(model, rgb, torch.device("cpu"), 64, "guided", "flip+scale")
    assert np.abs(ours - Matter(tiny_onnx, short_side=64, threads=1, tta="flip+scale").predict(rgb)).max() < 1e-4
    assert np.abs(ours - predict_alpha(model, rgb, torch.device("cpu"), 64, "guided", "flip")).max() > 1e-3


def test_refine_option_of_the_session_and_of_a_call(tiny_onnx, matter, portrait):
    from wsshm_rt import preprocess

    rgb, _ = portrait
    raw = Matter(tiny_onnx, short_side=64, threads=1, refine="none", tta="none")
    plain = raw.predict(rgb)
    assert np.array_equal(matter.predict(rgb, refine="none", tta="none"), plain)
    assert np.array_equal(raw.predict(rgb, refine="guided", tta="flip+scale"), matter.predict(rgb))  # the defaults
    assert not np.allclose(matter.predict(rgb, tta="none"), plain, atol=1e-3)
    # refine="none" is the engine's output, plainly resized.
    x, geom = preprocess.prepare(rgb, 64)
    assert np.allclose(plain, preprocess.restore(raw.engine.run(x[None])[0, 0], geom), atol=1e-6)
    for bad in ("sharp", ""):
        with pytest.raises(WsshmError, match="refine must be guided or none"):
            Matter(tiny_onnx, refine=bad)
    with pytest.raises(WsshmError, match="refine must be guided or none"):
        matter.predict(rgb, refine="Guided")


def test_stream_smooths_flicker_on_a_still_scene_and_resets():
    from wsshm_rt.matter import default_model_path

    from conftest import make_portrait

    # Trained (its alpha reacts to noise), frames at the inference size and no refinement: what is compared is the
    # network's alpha and the smoothing alone (a refinement guided by each noisy frame would add its own flicker).
    m = Matter(default_model_path(), short_side=96, threads=1, tta="none", refine="none")
    rgb, _ = make_portrait(96, 128, seed=3)
    rng = np.random.default_rng(0)
    frames = [np.clip(rgb + rng.normal(0, 4, rgb.shape), 0, 255).astype(np.uint8) for _ in range(6)]
    plain, smooth = m.stream(smooth=False), m.stream(smooth=True, strength=0.8)
    raw = [plain(f) for f in frames]
    steady = [smooth(f[:, :, ::-1], channels="BGR") for f in frames]  # OpenCV's order works too
    assert np.array_equal(steady[0], raw[0])  # nothing to smooth with yet
    assert all(a.shape == (96, 128) and a.dtype == np.float32 for a in steady)
    flicker = {name: np.mean([np.abs(b - a).mean() for a, b in zip(seq, seq[1:])])
               for name, seq in (("raw", raw), ("smooth", steady))}
    assert flicker["raw"] > 0 and flicker["smooth"] < 0.5 * flicker["raw"], flicker
    smooth.reset()  # a scene cut: the next frame is taken as it is
    assert np.array_equal(smooth(frames[3]), raw[3])
    with pytest.raises(WsshmError, match="strength"):
        m.stream(strength=1.0)
