"""All three stages end to end on tiny generated data, then ONNX export of the student and `wsshm-rt eval`."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from wsshm_rt.cli import main  # noqa: E402
from wsshm_rt.refine import REFINE_EPS  # noqa: E402
from wsshm_rt.training.records import read_jsonl  # noqa: E402
from wsshm_rt.weights import load_weights  # noqa: E402

from .conftest import TINY  # noqa: E402


@pytest.fixture(autouse=True)
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def cli(*args):
    try:
        main(["train", *args, *TINY] if args[0] in ("pretrain", "teacher", "student") else list(args))
    except SystemExit as exc:  # typer's standalone mode exits 0 on success
        assert exc.code in (0, None), exc.code


@pytest.fixture(scope="module")
def runs(tiny_data, tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    d = {k: str(v) for k, v in tiny_data.items()}
    cli("pretrain", "--seg", d["seg"], "--model", "r18-0.5", "--out", f"{root}/pre", "--iters", "3",
        "--val-every", "2")
    cli("teacher", "--matte", d["matte"], "--backgrounds", d["bg"], "--init", f"{root}/pre/last",
        "--out", f"{root}/teacher", "--iters", "3")
    cli("student", "--seg", d["seg"], "--teacher", f"{root}/teacher/last", "--out", f"{root}/student",
        "--iters", "3", "--band-px", "4", "--matte", d["matte"], "--backgrounds", d["bg"])
    return root


@pytest.mark.parametrize("stage", ["pre", "teacher", "student"])
def test_stage_outputs(runs, stage):
    out = runs / stage
    for name in ("last.safetensors", "best.safetensors", "state.pt", "config.yaml", "metrics.jsonl",
                 "metrics.csv", "curves.png"):
        assert (out / name).is_file(), name
    rows = read_jsonl(out / "metrics.jsonl")
    assert [r["step"] for r in rows if r["kind"] == "train"] == [1, 2, 3]
    # Validated at step 0 when it starts from weights (the teacher from --init, the student from its teacher), so the
    # record shows where it started; pretraining from random init first validates at step 2 (--val-every 2).
    val_steps = sorted({r["step"] for r in rows if r["kind"].startswith("val_")})
    assert val_steps == ([2, 3] if stage == "pre" else [0, 3])
    _, meta = load_weights(out / "last")
    assert meta["architecture"] == "r18-0.5" and meta["step"] == "3"
    # The resolved config (stage defaults < flags) is saved beside the checkpoints and matches the resume state.
    from wsshm_rt.training.config import load_yaml

    saved = load_yaml(out / "config.yaml")
    assert saved["stage"] == {"pre": "pretrain"}.get(stage, stage) and saved["iters"] == 3
    assert saved["lr"] == (1e-4 if stage == "pre" else 5e-5) and saved["crop_min"] == 64
    assert saved == torch.load(out / "state.pt", weights_only=True)["config"]


def test_student_learns_from_teacher_by_ema(runs):
    teacher_file, _ = load_weights(runs / "teacher" / "last")
    state = torch.load(runs / "student" / "state.pt", weights_only=True)
    assert state["config"]["band_px"] == 4
    ema_teacher = state["teacher"]
    changed = [k for k in teacher_file if not torch.equal(teacher_file[k], ema_teacher[k])]
    assert changed  # the EMA moved the teacher towards the student
    kinds = {r["kind"] for r in read_jsonl(runs / "student" / "metrics.jsonl")}
    assert {"train", "val_seg", "val_matte"} <= kinds


def test_student_exports_to_onnx_and_runs(runs, tmp_path):
    onnx_mod = pytest.importorskip("wsshm_rt.export.onnx", reason="the lead's ONNX exporter is not there yet")
    ort = pytest.importorskip("onnxruntime")
    from wsshm_rt.models import create_model

    state, meta = load_weights(runs / "student" / "last")
    model = create_model(meta["architecture"])
    model.load_state_dict(state)
    path = onnx_mod.export_onnx(model.eval(), tmp_path / "student.onnx", metadata=meta)
    x = np.random.default_rng(0).standard_normal((1, 3, 64, 96)).astype(np.float32)
    pha, bnd = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"image": x})
    with torch.no_grad():
        ref = model(torch.from_numpy(x))[0].numpy()
    assert pha.shape == (1, 1, 64, 96) and np.abs(pha - ref).max() < 1e-4


def test_eval_command_writes_json(runs, tiny_data, tmp_path, capsys):
    out = tmp_path / "eval.json"
    cli("eval", "--weights", str(runs / "student" / "best"), "--data", str(tiny_data["matte"]),
        "--backgrounds", str(tiny_data["bg"]), "--json", str(out), "--short-side", "64", "--device", "cpu")
    result = json.loads(out.read_text())
    assert result["kind"] == "matte" and result["images"] == 6 and "mse_boundary" in result
    header, _, row = capsys.readouterr().out.splitlines()[-3:]
    assert "mse x1000" in header and f"{result['mse'] * 1e3:.4g}" in row.split()  # the table reports MSE x1e3


@pytest.mark.slow
def test_eval_scores_an_exported_onnx_as_its_weights_and_defaults_to_the_bundled_model(runs, tiny_data, tmp_path):
    onnx = tmp_path / "student.onnx"
    cli("export", "--weights", str(runs / "student" / "best"), "-o", str(onnx))
    results = {}
    for name, model in (("torch", ["--weights", str(runs / "student" / "best")]), ("onnx", ["--model", str(onnx)]),
                        ("bundled", [])):
        out = tmp_path / f"{name}.json"
        cli("eval", *model, "--data", str(tiny_data["seg"]), "--json", str(out), "--device", "cpu",
            *([] if name == "bundled" else ["--short-side", "64"]))
        results[name] = json.loads(out.read_text())
    torch_r, onnx_r, bundled = results["torch"], results["onnx"], results["bundled"]
    assert torch_r["engine"] == "torch on cpu" and onnx_r["engine"].startswith("onnxruntime on cpu")
    # The same network through the same preprocessing, refinement and flip: the same scores up to fp32 rounding.
    assert onnx_r["short_side"] == torch_r["short_side"] == 64 and onnx_r["images"] == torch_r["images"]
    for key in ("iou", "mse", "mse_far"):
        assert onnx_r[key] == pytest.approx(torch_r[key], rel=1e-3, abs=1e-5), key
    # No model: the bundled one, at its own recommended size.
    assert bundled["weights"] == "wsshm-r18-0.5.onnx" and bundled["short_side"] == 320
    assert bundled["iou"] != pytest.approx(torch_r["iou"], abs=1e-6)


@pytest.mark.parametrize("args, message", [
    (["train", "pretrain", "--seg", "/no/such/dir"], "does not exist"),
    (["train", "student", "--seg", "SEG"], "--teacher"),
    (["train", "teacher", "--matte", "MATTE"], "--backgrounds"),
    (["train", "student", "--seg", "SEG", "--teacher", "SEG/masks/s00.png"], "not a safetensors"),
    (["eval", "--weights", "/no/such.safetensors", "--data", "SEG"], "does not exist"),
    (["eval", "--weights", "SEG/masks/s00.png", "--data", "SEG", "--split", "test"],
     "split must be all, val or train, not 'test'"),
    (["eval", "--weights", "SEG/masks/s00.png", "--data", "SEG", "--kind", "photos"],
     "kind must be seg, matte, photo or auto, not 'photos'"),
    (["eval", "--weights", "SEG/masks/s00.png", "--data", "SEG", "--device", "gpu"],
     "device must be auto, cpu or cuda, not 'gpu'"),
    (["eval", "--weights", "SEG/masks/s00.png", "--data", "SEG", "--short-side", "10"],
     "--short-side must be at least 32, not 10"),  # scored IoU 0.43 on real weights before, without a word
])
def test_bad_input_is_one_sentence(args, message, tiny_data, capsys):
    args = [a.replace("SEG", str(tiny_data["seg"])).replace("MATTE", str(tiny_data["matte"])) for a in args]
    with pytest.raises(SystemExit) as exc:
        main(args)
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and message in err and "Traceback" not in err and len(err.splitlines()) == 1


def test_ema_is_off_across_architectures(tiny_data, runs):
    from wsshm_rt.training.config import resolve_config
    from wsshm_rt.training.stages import build_student

    cfg = resolve_config("student", overrides={"seg": str(tiny_data["seg"]), "teacher": str(runs / "teacher" / "last"),
                                               "model": "r18"})
    stage = build_student(cfg, torch.device("cpu"))
    assert stage.model.arch_name == "r18" and stage.teacher.arch_name == "r18-0.5"
    assert not stage.teacher.training and not any(p.requires_grad for p in stage.teacher.parameters())
    before = {k: v.clone() for k, v in stage.teacher.state_dict().items()}
    stage.after_step(stage.model)  # a no-op: the teacher stays as loaded
    assert all(torch.equal(before[k], v) for k, v in stage.teacher.state_dict().items())


def test_eval_scores_real_photos_as_they_are(runs, tmp_path):
    """P3M-500 / PPM-100 protocol: predict on the photo itself and compare with its alpha, no compositing."""
    from wsshm_rt.metrics import MetricAccumulator, matte_metrics
    from wsshm_rt.models import create_model
    from wsshm_rt.training import data
    from wsshm_rt.training.evaluate import predict_alpha

    from .conftest import make_matte

    root = make_matte(tmp_path / "ppm", n=2, seed=5)
    (root / "fg").rename(root / "image")
    (root / "alpha").rename(root / "matte")
    state, meta = load_weights(runs / "student" / "last")
    model = create_model(meta["architecture"]).eval()
    model.load_state_dict(state)
    results = {}
    # guided + flip+scale: as Matter.predict returns the alpha (the defaults); none + none: the network's own output.
    for refine, tta in (("guided", "flip+scale"), ("none", "none")):
        out = tmp_path / f"photo-{refine}.json"
        cli("eval", "--weights", str(runs / "student" / "last"), "--data", str(root), "--json", str(out),
            "--short-side", "64", "--device", "cpu", *(["--refine", refine, "--tta", tta] if refine == "none" else []))
        result = results[refine] = json.loads(out.read_text())
        acc = MetricAccumulator()
        for pair in data.find_pairs(root, "matte"):
            rgb, pha = data.read_pair(pair)
            acc.add(matte_metrics(predict_alpha(model, rgb, torch.device("cpu"), 64, refine, tta), pha))
        assert result["kind"] == "photo" and result["images"] == 2
        assert (result["refine"], result["tta"]) == (refine, tta)
        assert (result["refine_settings"] is None) == (refine == "none")  # which guided filter scored it
        assert result["refine_settings"] is None or result["refine_settings"]["eps"] == REFINE_EPS
        assert result["mse"] == pytest.approx(acc.mean()["mse"]) and result["sad_boundary"] == pytest.approx(
            acc.mean()["sad_boundary"])
    assert results["guided"]["mse"] != pytest.approx(results["none"]["mse"])


def test_eval_val_split_scores_only_held_out_images(runs, tiny_data, tmp_path):
    from wsshm_rt.training import data
    from wsshm_rt.weights import read_metadata, resolve_weights_path

    out = tmp_path / "val.json"
    cli("eval", "--weights", str(runs / "student" / "best"), "--data", str(tiny_data["seg"]), "--split", "val",
        "--val-fraction", "0.25", "--json", str(out), "--device", "cpu")
    result = json.loads(out.read_text())
    _, val = data.split(data.find_pairs(tiny_data["seg"], "segmentation"), 0.25, 0)
    assert result["split"] == "val" and result["images"] == len(val) == 2
    # Without --short-side, eval uses the size the model was validated at (saved in its metadata).
    meta = read_metadata(resolve_weights_path(runs / "student" / "best"))
    assert result["short_side"] == int(meta["short_side"])


@pytest.mark.slow
def test_worker_processes_give_the_same_run_across_epochs(tiny_data, tmp_path):
    """DataLoader workers (from a fork server) across several epochs: same weights as loading in-process."""
    flags = [f for f in TINY if f not in ("--workers", "0")]
    for workers in ("0", "1"):
        try:
            main(["train", "pretrain", "--seg", str(tiny_data["seg"]), "--model", "r18-0.5", "--iters", "7",
                  "--out", str(tmp_path / workers), "--val-every", "0", "--deterministic", *flags,
                  "--workers", workers])
        except SystemExit as exc:
            assert exc.code in (0, None), exc.code
    a, _ = load_weights(tmp_path / "0" / "last")
    b, _ = load_weights(tmp_path / "1" / "last")
    assert json.loads((tmp_path / "1" / "summary.json").read_text())["step"] == 7  # 7 steps = 2+ epochs of 3
    assert all(torch.equal(a[k], b[k]) for k in a)


def _meta_side(path) -> int:
    return int(load_weights(path)[1]["short_side"])


def test_weights_recommend_the_size_of_the_model_they_start_from(runs, tiny_data, tmp_path, capsys):
    """--val-short-side unset: a fine-tune keeps the inference size its starting model recommends (the bundled model's
    320, not 512 or a preset's validation size), a student from random init takes its teacher's, a run from scratch
    the paper's 512; set, it wins. A rerun of a finished run says there is nothing to do."""
    from wsshm_rt.matter import default_model_path

    i = TINY.index("--val-short-side")
    flags = TINY[:i] + TINY[i + 2:]
    seg, teacher = str(tiny_data["seg"]), f"{runs}/teacher/last"  # the teacher recommends 64 (TINY's size)

    def student(out, *extra):
        with pytest.raises(SystemExit) as exc:
            main(["train", "student", "--seg", seg, "--teacher", teacher, "--out", str(tmp_path / out),
                  "--iters", "1", "--val-limit", "1", *extra, *flags])
        assert exc.value.code in (0, None)
        return _meta_side(tmp_path / out / "last")

    assert _meta_side(teacher) == 64
    assert student("from-teacher") == 64
    assert "weights in" in capsys.readouterr().err
    assert student("from-bundled", "--init", str(default_model_path())) == 320
    assert student("told", "--val-short-side", "96") == 96
    assert student("scratch", "--model", "r18") == 64  # another architecture, random init: its teacher's size
    with pytest.raises(SystemExit):
        main(["train", "pretrain", "--seg", seg, "--model", "r18-0.5", "--out", str(tmp_path / "pre"), "--iters", "1",
              "--val-limit", "1", *flags])
    assert _meta_side(tmp_path / "pre" / "last") == 512
    capsys.readouterr()
    assert student("from-teacher") == 64
    assert "already finished its 1 steps: nothing to train" in capsys.readouterr().err


def _state(path) -> dict:
    return load_weights(path)[0]


def _is_bn_statistic(name: str) -> bool:
    return name.endswith(("running_mean", "running_var", "num_batches_tracked"))


@pytest.fixture(scope="module")
def fine_tunes(runs, tiny_data, tmp_path_factory):
    """Students fine-tuned from their teacher: (lr 0, --freeze-bn), (lr 0), (the stage's lr, --freeze-bn); validated
    every step, so evaluate() puts the model back in train mode between steps."""
    root = tmp_path_factory.mktemp("fine")
    for name, extra in (("frozen-lr0", ["--lr", "0", "--freeze-bn"]), ("lr0", ["--lr", "0"]),
                        ("frozen", ["--freeze-bn"])):
        cli("student", "--seg", str(tiny_data["seg"]), "--teacher", f"{runs}/teacher/last", "--out", f"{root}/{name}",
            "--iters", "3", "--val-every", "1", *extra)
    return root


def test_freeze_bn_at_lr_0_keeps_the_model_bit_identical_and_best_is_the_start(runs, fine_tunes, tiny_data, capsys):
    start = _state(runs / "teacher" / "last")
    out = fine_tunes / "frozen-lr0"
    for name in ("last", "best"):
        end = _state(out / name)
        assert end.keys() == start.keys() and all(torch.equal(end[k], start[k]) for k in start), name
    assert load_weights(out / "best")[1]["step"] == "0"  # nothing beat the start, so best is the start
    vals = [r for r in read_jsonl(out / "metrics.jsonl") if r["kind"] == "val_seg"]
    assert [r["step"] for r in vals] == [0, 1, 2, 3] and all(r == {**vals[0], "step": r["step"]} for r in vals)
    # Going on from its state does not validate step 0 again; the end line says best is the starting model.
    capsys.readouterr()
    cli("student", "--seg", str(tiny_data["seg"]), "--teacher", f"{runs}/teacher/last", "--out", str(out),
        "--iters", "4", "--val-every", "1", "--lr", "0", "--freeze-bn")
    assert "best.safetensors (the model it started from" in capsys.readouterr().err
    steps = [r["step"] for r in read_jsonl(out / "metrics.jsonl") if r["kind"] == "val_seg"]
    assert steps == [0, 1, 2, 3, 4]


def test_without_freeze_bn_lr_0_still_changes_the_batchnorm_statistics(runs, fine_tunes):
    """What a new user met: fine-tuning at lr 0 re-estimated the running statistics on small batches, nothing else."""
    start, end = _state(runs / "teacher" / "last"), _state(fine_tunes / "lr0")
    changed = {k for k in start if not torch.equal(start[k], end[k])}
    assert changed and all(_is_bn_statistic(k) for k in changed)


def test_freeze_bn_trains_the_batchnorm_weights_but_not_its_statistics(runs, fine_tunes):
    start, end = _state(runs / "teacher" / "last"), _state(fine_tunes / "frozen")
    changed = {k for k in start if not torch.equal(start[k], end[k])}
    assert not any(_is_bn_statistic(k) for k in changed)
    assert any(k.endswith("bn1.weight") for k in changed) and any(k.endswith("conv1.weight") for k in changed)


def test_pretrain_from_weights_takes_their_architecture(runs, tiny_data, tmp_path):
    """Like the teacher stage: --init names the architecture, so --model may be left out (it used to build an r101
    and refuse the r18-0.5 weights)."""
    cli("pretrain", "--seg", str(tiny_data["seg"]), "--init", f"{runs}/pre/last", "--out", f"{tmp_path}/pre2",
        "--iters", "1")
    assert load_weights(tmp_path / "pre2" / "last")[1]["architecture"] == "r18-0.5"

