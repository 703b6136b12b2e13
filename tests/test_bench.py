"""Throughput benchmark: FLOP counting against hand-computed values, and a tiny end-to-end bench run."""

import json

import numpy as np
import pytest
import torch
from torch import nn

from wsshm_rt.bench.flops import count_flops, count_params
from wsshm_rt.bench.throughput import BenchConfig, format_report, parse_torch_variant, run_bench
from wsshm_rt.bench.timing import summarise, time_interleaved, time_runs
from wsshm_rt.errors import WsshmError


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, stride=2, padding=1,
                                                                                            groups=4))
        self.head = nn.Linear(8, 2)

    def forward(self, x):
        return self.head(self.encoder(x).mean((2, 3)))


def test_flops_match_hand_count():
    x = torch.zeros(2, 3, 16, 16)
    flops = count_flops(Tiny(), x, {"encoder": "enc", "head": "dec"})
    conv1 = 2 * (2 * 8 * 16 * 16) * (3 * 3 * 3)        # 2 x outputs x (Cin x k x k)
    conv2 = 2 * (2 * 8 * 8 * 8) * (8 // 4 * 3 * 3)     # grouped: Cin/groups per output
    linear = 2 * (2 * 2) * 8
    assert flops == {"enc": conv1 + conv2, "dec": linear, "total": conv1 + conv2 + linear}


def test_params_per_part():
    params = count_params(Tiny())
    assert params["encoder"] == (8 * 3 * 9 + 8) + (8 * 2 * 9 + 8)
    assert params["head"] == 8 * 2 + 2 and params["total"] == params["encoder"] + params["head"]


def test_timing_summary_and_runs():
    s = summarise([4.0, 2.0, 3.0], batch=2)
    assert s == {"median_ms": 3.0, "min_ms": 2.0, "max_ms": 4.0, "runs": 3, "fps": pytest.approx(2000 / 3)}
    calls = []
    assert len(time_runs(lambda: calls.append(1), runs=5, warmup=2)) == 5 and len(calls) == 7
    times = time_interleaved({"a": lambda: None, "b": lambda: None}, runs=3, warmup=1)
    assert set(times) == {"a", "b"} and all(len(v) == 3 for v in times.values())


def test_defaults_warm_up_then_time_at_least_20_runs():
    import inspect

    from wsshm_rt.cli.bench import bench

    flags = inspect.signature(bench).parameters
    assert flags["runs"].default.default >= 20 and flags["warmup"].default.default >= 1
    assert BenchConfig().runs >= 20 and BenchConfig().warmup >= 1 and BenchConfig().size == (512, 512)


@pytest.mark.parametrize("given, models", [
    ([], ["r101", "r18", "r18-0.5"]),
    (["q.onnx"], ["r101", "r18", "r18-0.5", "q.onnx"]),      # ONNX files are benchmarked beside the defaults
    (["r18-0.5", "q.onnx"], ["r18-0.5", "q.onnx"]),           # naming an architecture picks the list exactly
])
def test_bench_cli_model_list(monkeypatch, given, models):
    from wsshm_rt.bench import throughput
    from wsshm_rt.cli import main

    seen = []
    monkeypatch.setattr(throughput, "run_bench", lambda cfg, log: seen.append(cfg) or {})
    monkeypatch.setattr(throughput, "format_report", lambda report: "")
    with pytest.raises(SystemExit) as done:
        main(["bench", *given])
    assert done.value.code == 0 and seen[0].models == models and seen[0].runs >= 20


def test_torch_variant_parsing():
    assert parse_torch_variant("eager") == frozenset()
    assert parse_torch_variant("fp16+channels_last") == {"fp16", "channels_last"}
    for bad in ("fp17", "fp16+bf16", ""):
        with pytest.raises(WsshmError):
            parse_torch_variant(bad)


def _check_row(row):
    for key in ("median_ms", "min_ms", "max_ms", "fps", "ms_per_image"):
        assert row[key] > 0, key
    assert row["min_ms"] <= row["median_ms"] <= row["max_ms"] and row["runs"] == 2


@pytest.mark.slow
def test_bench_cli_json_and_plot(tmp_path, capsys):
    from wsshm_rt.cli import main

    out, png = tmp_path / "bench.json", tmp_path / "bench.png"
    with pytest.raises(SystemExit) as done:
        main(["bench", "r18-0.5", "--size", "64", "--runs", "2", "--warmup", "1", "--engines", "onnxruntime,torch",
              "--torch-variants", "eager,fp16", "--batch", "1,2", "--json", str(out), "--plot", str(png)])
    assert done.value.code == 0
    report = json.loads(out.read_text())
    assert set(report) == {"machine", "config", "models", "reference", "results", "skipped"}
    assert png.stat().st_size > 1000
    model = report["models"]["r18-0.5"]
    assert model["paper_fps"] == {"v100": 328.9, "xeon_gold_5120": 43.7}
    assert set(model["gflops"]) == {"encoder", "aspp", "decoder", "total"} and model["gflops"]["total"] > 0
    assert model["params_m"]["total"] == pytest.approx(3.39, abs=0.01)
    rows = {(r["engine"], r["variant"], r["mode"], r["batch"]) for r in report["results"]}
    assert rows == {("onnxruntime", "cpu", "model_only", 1), ("onnxruntime", "cpu", "model_only", 2),
                    ("onnxruntime", "cpu", "end_to_end", 1), ("torch", "eager", "model_only", 1),
                    ("torch", "eager", "model_only", 2), ("torch", "eager", "end_to_end", 1)}
    for row in report["results"]:
        _check_row(row)
    e2e = next(r for r in report["results"] if r["mode"] == "end_to_end")
    assert set(e2e["stages_ms"]) == {"decode", "preprocess", "infer", "postprocess"}
    assert [(s["variant"], "GPU-only" in s["reason"]) for s in report["skipped"]] == [("fp16", True)]
    text = capsys.readouterr().out
    assert "no --reference: no ratios" in text and "paper Xeon" in text and "574" not in text
    assert report["reference"] is None and all(r["vs_reference"] is None for r in report["results"])


def test_bench_onnx_path_and_tensorrt_skip_on_cpu(tiny_onnx):
    cfg = BenchConfig(models=[str(tiny_onnx)], engines=("onnxruntime", "tensorrt"), size=(64, 64), runs=2,
                      warmup=1, end_to_end=False, costs=False)
    report = run_bench(cfg, log=lambda _: None)
    assert [r["model"] for r in report["results"]] == ["r18-0.5"] and report["results"][0]["arch"] == "r18-0.5"
    assert {s["engine"] for s in report["skipped"]} == {"tensorrt"}
    assert all("GPU" in s["reason"] for s in report["skipped"])
    assert "tensorrt/fp16" in format_report(report)


@pytest.mark.parametrize("given, size", [("64", (64, 64)), ("64x96", (64, 96)), (" 64 X 96 ", (64, 96))])
def test_bench_size_is_s_or_hxw(monkeypatch, given, size):
    from wsshm_rt.bench import throughput
    from wsshm_rt.cli import main

    seen = []
    monkeypatch.setattr(throughput, "run_bench", lambda cfg, log: seen.append(cfg) or {})
    monkeypatch.setattr(throughput, "format_report", lambda report: "")
    with pytest.raises(SystemExit) as done:
        main(["bench", "r18-0.5", "--size", given])
    assert done.value.code == 0 and seen[0].size == size


@pytest.mark.parametrize("given", ["abc", "100x", "x100", "1,8", "64x96x3", "-64", ""])
def test_bench_bad_size_is_its_own_one_line_error(given, capsys):
    from wsshm_rt.cli import main

    with pytest.raises(SystemExit) as done:
        main(["bench", "r18-0.5", "--size", given])
    assert done.value.code == 2
    assert capsys.readouterr().err == (f"wsshm-rt: error: --size takes S (a square) or HxW, e.g. 512 or 512x768, "
                                       f"not {given!r}\n")


def test_bench_with_nothing_timed_says_why(monkeypatch, capsys):
    # No GPU here, or an onnxruntime without its CUDA provider: --device cuda can time nothing at all.
    import onnxruntime

    from wsshm_rt.cli import main

    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: ["CPUExecutionProvider"])
    with pytest.raises(SystemExit) as done:
        main(["bench", "r18-0.5", "--device", "cuda", "--size", "64", "--runs", "1", "--warmup", "0", "--model-only"])
    assert done.value.code == 2
    out = capsys.readouterr()
    assert "measured in this run" not in out.out  # no empty table
    error = out.err.splitlines()[-1]
    assert error.startswith("wsshm-rt: error: nothing could be timed on cuda: every variant was skipped (")
    assert "onnxruntime/cuda-ep: this onnxruntime has no CUDAExecutionProvider" in error
    assert "onnxruntime/tensorrt-ep: this onnxruntime has no TensorrtExecutionProvider" in error


def test_a_run_whose_every_row_is_skipped_is_an_error_but_a_skip_beside_timed_rows_is_not(tiny_onnx, fixed_peer):
    kw = dict(size=(64, 64), runs=1, warmup=0, end_to_end=False, costs=False)
    with pytest.raises(WsshmError, match=r"nothing could be timed on cpu: every variant was skipped "
                                         r"\(onnxruntime/cpu: its input has a fixed batch of 1\)$"):
        run_bench(BenchConfig(models=[str(fixed_peer)], batches=(2,), **kw), log=lambda _: None)
    report = run_bench(BenchConfig(models=[str(tiny_onnx), str(fixed_peer)], batches=(2,), **kw), log=lambda _: None)
    assert [(r["model"], r["batch"]) for r in report["results"]] == [("r18-0.5", 2)]
    assert [(s["model"], s["reason"]) for s in report["skipped"]] == [("peer", "its input has a fixed batch of 1")]


def test_plot_keeps_its_title_and_legend_whole(tmp_path):
    import cv2

    from wsshm_rt.bench.report import plot_report

    for names in (["r18-0.5"], ["r101", "r18", "r18-0.5"]):  # one model: the narrowest axes
        models = {m: {"paper_fps": {"v100": 328.9, "xeon_gold_5120": 43.7}} for m in names}
        rows = [{"model": m, "engine": "onnxruntime", "variant": "cpu", "mode": "model_only", "batch": 1, "fps": 30.0}
                for m in names]
        report = {"models": models, "results": rows, "config": {"size": [512, 512]},
                  "reference": {"model": names[0], "engine": "onnxruntime", "variant": "cpu", "fps": 30.0}}
        grey = cv2.imread(str(plot_report(report, tmp_path / "bench.png")), cv2.IMREAD_GRAYSCALE)
        # Nothing drawn reaches an edge of the picture: the title (once cut to "m-rt throughput") and the legend
        # beside the axes are inside it, with a white margin around them.
        for edge in (grey[:, :3], grey[:, -3:], grey[:3], grey[-3:]):
            assert edge.min() == 255


def test_bench_bad_input_is_one_clear_error(tmp_path):
    with pytest.raises(WsshmError, match="unknown model"):
        run_bench(BenchConfig(models=["r19"], size=(64, 64)))
    with pytest.raises(WsshmError, match="unknown engine"):
        run_bench(BenchConfig(engines=("openvino-gpu",)))
    with pytest.raises(WsshmError, match="no engine given"):
        run_bench(BenchConfig(engines=()))
    with pytest.raises(WsshmError, match="no model was given"):
        run_bench(BenchConfig(models=[], size=(64, 64), costs=False))
    with pytest.raises(WsshmError, match="does not exist"):
        run_bench(BenchConfig(models=[str(tmp_path / "nope.onnx")], size=(64, 64)))


@pytest.mark.slow
@pytest.mark.parametrize("native", [True, False])
def test_cpu_bf16_runs_only_where_the_cpu_has_it(monkeypatch, native):
    import wsshm_rt.models as models

    monkeypatch.setattr(models, "cpu_has_native_bf16", lambda: native)
    cfg = BenchConfig(models=["r18-0.5"], engines=("torch",), torch_variants=("bf16+channels_last",), size=(64, 64),
                      runs=2, warmup=1, end_to_end=False, costs=False)
    if native:
        report = run_bench(cfg, log=lambda _: None)
        assert [(r["variant"], r["batch"]) for r in report["results"]] == [("bf16+channels_last", 1)]
        _check_row(report["results"][0])
    else:  # the only variant asked for is skipped: nothing was timed, which is an error that says why
        with pytest.raises(WsshmError, match="nothing could be timed on cpu: .*no native bf16"):
            run_bench(cfg, log=lambda _: None)


# ---------------------------------------------------------------- peers timed in the same run


class FixedPeer(nn.Module):
    """A stand-in for another project's network: one input of a fixed shape, one output, no wsshm-rt metadata."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 1, 1))

    def forward(self, x):
        return torch.sigmoid(self.body(x))


@pytest.fixture(scope="module")
def fixed_peer(tmp_path_factory):
    import warnings

    path = tmp_path_factory.mktemp("peer") / "peer.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's deprecation notices
        torch.onnx.export(FixedPeer().eval(), (torch.zeros(1, 3, 48, 80),), str(path), input_names=["input"],
                          output_names=["out"], opset_version=17, dynamo=False)
    return path


@pytest.mark.slow
def test_fixed_shape_peer_is_timed_at_its_shape_and_is_the_reference(tiny_onnx, fixed_peer, capsys):
    from wsshm_rt.cli import main

    with pytest.raises(SystemExit) as done:
        main(["bench", str(tiny_onnx), "--size", "64", "--runs", "3", "--warmup", "1", "--batch", "1,2",
              "--reference", str(fixed_peer)])  # the reference is added to the models when not among them
    assert done.value.code == 0
    text = capsys.readouterr().out
    peer = [line for line in text.splitlines() if line.startswith("peer ") and "model_only" in line]
    assert len(peer) == 1 and "1x3x48x80" in peer[0] and "x1.00 vs ref" in peer[0]
    ours = [line for line in text.splitlines() if line.startswith("r18-0.5 ") and "model_only" in line]
    assert [("1x3x64x64" in line, "2x3x64x64" in line) for line in ours] == [(True, False), (False, True)]
    assert all(" vs ref" in line for line in ours)
    assert "fixed 1x3x48x80" in text and "ratios (x vs ref) are FPS against peer onnxruntime/cpu at 1x3x48x80" in text
    assert "skipped peer onnxruntime/cpu: its input has a fixed batch of 1" in text


def test_ratios_are_the_reference_time_over_each_rows(tiny_onnx, fixed_peer):
    cfg = BenchConfig(models=[str(tiny_onnx), str(fixed_peer)], size=(64, 64), runs=3, warmup=1, end_to_end=False,
                      reference=str(fixed_peer))
    report = run_bench(cfg, log=lambda _: None)
    ref, ours = report["reference"], report["results"][0]
    assert (ref["model"], ref["shape"]) == ("peer", [1, 3, 48, 80]) and ours["model"] == "r18-0.5"
    assert ours["vs_reference"] == pytest.approx(ref["ms_per_image"] / ours["ms_per_image"])
    assert report["models"]["peer"]["fixed_shape"] == [1, 3, 48, 80]
    # the peer's FLOPs come from its graph: 2 x (3 x 3 x 3 x 8 + 8 x 1) per output pixel
    assert report["models"]["peer"]["gflops"]["total"] * 1e9 == pytest.approx(2 * 48 * 80 * (27 * 8 + 8))


def test_onnx_flops_match_the_torch_count(tiny_onnx):
    from wsshm_rt.bench.flops import onnx_flops
    from wsshm_rt.models import create_model

    torch_count = count_flops(create_model("r18-0.5").eval(), torch.zeros(1, 3, 64, 96))["total"]
    assert onnx_flops(tiny_onnx, (1, 3, 64, 96)) == torch_count


@pytest.mark.slow
def test_modnet_peer_exports_a_fixed_shape_onnx(tmp_path):
    import onnxruntime as ort

    from wsshm_rt.bench.flops import onnx_flops
    from wsshm_rt.bench.peers import MODNetPeer, export_peer

    path = export_peer("modnet", tmp_path / "modnet.onnx", size=(64, 96))
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert sess.get_inputs()[0].shape == [1, 3, 64, 96] and sess.get_modelmeta().custom_metadata_map["peer"] == "modnet"
    x = np.random.default_rng(0).standard_normal((1, 3, 64, 96)).astype(np.float32)
    torch.manual_seed(0)
    model = MODNetPeer().eval()
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    got = sess.run(None, {"image": x})[0]
    assert got.shape == (1, 1, 64, 96) and np.abs(got - ref).max() < 1e-4  # the seeded weights, exported as is
    assert count_params(model)["total"] == pytest.approx(6.4e6, rel=0.05)   # MODNet's 6.5M parameters
    assert onnx_flops(path, (1, 3, 64, 96)) == count_flops(model, torch.zeros(1, 3, 64, 96))["total"]


def test_openvino_rows_beside_onnxruntime(tiny_onnx, fixed_peer):
    pytest.importorskip("openvino")
    cfg = BenchConfig(models=[str(tiny_onnx), str(fixed_peer)], engines=("onnxruntime", "openvino"), size=(64, 64),
                      runs=2, warmup=1, end_to_end=False, costs=False, reference=str(fixed_peer))
    report = run_bench(cfg, log=lambda _: None)
    timed = {(r["model"], r["engine"], r["variant"]) for r in report["results"]}
    assert {("r18-0.5", "openvino", "fp32"), ("peer", "openvino", "fp32"), ("peer", "onnxruntime", "cpu")} <= timed
    skipped_bf16 = {s["model"] for s in report["skipped"] if s["variant"] == "bf16"}
    assert ("r18-0.5", "openvino", "bf16") in timed or "r18-0.5" in skipped_bf16


def test_onnxruntime_sessions_do_not_spin_and_peers_get_the_same_options():
    import onnxruntime as ort

    from wsshm_rt.engines.onnxruntime import session_options

    opts = session_options(ort, 2)
    assert opts.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert (opts.intra_op_num_threads, opts.inter_op_num_threads) == (2, 1)
    assert session_options(ort).intra_op_num_threads == 0  # ONNX Runtime's own default


def test_peak_matmul_rows_and_best_per_precision():
    from wsshm_rt.bench.peak import measure, peaks

    rows = measure(sizes=(32, 64), threads=1, runs=2, warmup=1, log=lambda _: None)
    assert {("torch", "fp32", 32), ("torch", "fp32", 64)} <= {(r["runtime"], r["precision"], r["size"]) for r in rows}
    for r in rows:
        assert r["gflops_per_s"] == pytest.approx(2 * r["size"] ** 3 / r["median_ms"] / 1e6)
    best = peaks(rows)
    assert best["fp32"]["gflops_per_s"] == max(r["gflops_per_s"] for r in rows if r["precision"] == "fp32")


def test_photo_bench_times_every_tta_mode_per_path(tiny_onnx, tmp_path):
    import cv2

    from conftest import make_portrait
    from wsshm_rt.bench.photo_bench import matters, time_photo

    rgb, _ = make_portrait(90, 70)
    cv2.imwrite(str(tmp_path / "p.png"), rgb[:, :, ::-1])
    sessions = matters(tiny_onnx, ["onnxruntime", "onnxruntime:fp16"], threads=1)  # fp16 is left out on a CPU
    assert list(sessions) == ["onnxruntime fp32"]
    times = time_photo(tmp_path / "p.png", sessions, runs=2, warmup=1)
    assert list(times) == [f"onnxruntime fp32, tta={t}" for t in ("flip+scale", "flip", "none")]
    assert all(v > 0 for v in times.values())
