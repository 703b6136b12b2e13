"""Weight averaging (training.average, `wsshm-rt average`): the weighted mean of every tensor, BatchNorm statistics
included; models of different architectures refused with one sentence."""

import pytest

torch = pytest.importorskip("torch")

from wsshm_rt.errors import WsshmError  # noqa: E402
from wsshm_rt.preprocess import IMAGENET_MEAN, IMAGENET_STD  # noqa: E402
from wsshm_rt.training.average import average_states, average_weights  # noqa: E402
from wsshm_rt.weights import load_weights, make_metadata, save_weights  # noqa: E402


def tiny_state(value: float, steps: int) -> dict:
    """A conv + BatchNorm state dict whose every float tensor is ``value`` (so the mean is known by hand)."""
    bn = torch.nn.BatchNorm2d(2)
    state = dict(torch.nn.Sequential(torch.nn.Conv2d(1, 2, 1), bn).state_dict())
    state = {k: torch.full_like(v, value) if v.is_floating_point() else torch.tensor(steps) for k, v in state.items()}
    return state


def save_tiny(path, value, steps, arch="tiny"):
    return save_weights(tiny_state(value, steps), path, make_metadata(arch, IMAGENET_MEAN, IMAGENET_STD))


def test_the_average_is_the_hand_computed_mean(tmp_path):
    a, b = save_tiny(tmp_path / "a.safetensors", 1.0, 10), save_tiny(tmp_path / "b.safetensors", 5.0, 20)
    out = average_weights([a, b], tmp_path / "avg.safetensors")
    state, meta = load_weights(out)
    assert set(state) == set(tiny_state(0, 0))
    for k in ("0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var"):
        assert torch.equal(state[k], torch.full_like(state[k], 3.0)), k  # (1 + 5) / 2
    assert int(state["1.num_batches_tracked"]) == 20  # integers: the last model's
    assert meta["architecture"] == "tiny" and "a.safetensors (1)" in meta["note"]
    weighted, _ = load_weights(average_weights([a, b], tmp_path / "w.safetensors", weights=[3, 1]))
    assert torch.equal(weighted["1.running_var"], torch.full((2,), 2.0))  # (3 * 1 + 1 * 5) / 4


def test_average_keeps_the_last_models_dtype():
    half = {k: v.half() if v.is_floating_point() else v for k, v in tiny_state(2.0, 1).items()}
    out = average_states([tiny_state(1.0, 1), half])
    assert out["0.weight"].dtype == torch.float16 and float(out["0.weight"][0, 0]) == 1.5


def test_mismatched_models_are_refused_with_one_sentence(tmp_path):
    a = save_tiny(tmp_path / "a.safetensors", 1.0, 1)
    other_arch = save_tiny(tmp_path / "b.safetensors", 1.0, 1, arch="r18")
    with pytest.raises(WsshmError, match=r"of different architectures \(r18, tiny\) and cannot be averaged"):
        average_weights([a, other_arch], tmp_path / "o.safetensors")
    wide = {k: torch.zeros(3, *v.shape[1:]) if k == "0.weight" else v for k, v in tiny_state(1.0, 1).items()}
    with pytest.raises(WsshmError, match="do not share one architecture"):
        average_states([tiny_state(1.0, 1), wide])
    with pytest.raises(WsshmError, match="takes 2 non-negative numbers"):
        average_weights([a, a], tmp_path / "o.safetensors", weights=[1, 2, 3])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.safetensors", "b.safetensors"]
    run = tmp_path / "run"
    save_tiny(run / "last.safetensors", 2.0, 1)
    before = (run / "last.safetensors").read_bytes()
    with pytest.raises(WsshmError, match="is one of the models to average; write the mean to a new file"):
        average_weights([a, run], run / "last.safetensors")  # named as a run folder, written to as a file
    assert (run / "last.safetensors").read_bytes() == before


def test_average_into_an_onnx_bundle_reads_back(tmp_path):
    """-o x.onnx writes the average as the bundle is written (BatchNorm kept, fp16): its weights read back."""
    from wsshm_rt.models import create_model

    states = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        states.append(create_model("r18-0.5").state_dict())
    meta = make_metadata("r18-0.5", IMAGENET_MEAN, IMAGENET_STD)
    paths = [save_weights(s, tmp_path / f"{i}.safetensors", meta) for i, s in enumerate(states)]
    got, _ = load_weights(average_weights(paths, tmp_path / "soup.onnx"))
    want = average_states(states)
    key = "encoder.layer1.0.conv1.weight"
    assert torch.equal(got[key].float(), want[key].half().float())


def test_cli_average(tmp_path, capsys):
    from wsshm_rt.cli import main

    a, b = save_tiny(tmp_path / "a.safetensors", 1.0, 1), save_tiny(tmp_path / "b.safetensors", 4.0, 1)
    with pytest.raises(SystemExit) as exc:
        main(["average", str(a), str(b), "--weights", "2,1", "-o", str(tmp_path / "c.safetensors")])
    assert exc.value.code == 0
    assert torch.equal(load_weights(tmp_path / "c.safetensors")[0]["0.bias"], torch.full((2,), 2.0))
    save_tiny(tmp_path / "d.safetensors", 1.0, 1, arch="r18")
    with pytest.raises(SystemExit) as exc:
        main(["average", str(a), str(tmp_path / "d.safetensors"), "-o", str(tmp_path / "e.safetensors")])
    err = capsys.readouterr().err.strip().splitlines()
    assert exc.value.code == 2 and len(err) == 1 and "different architectures" in err[0], err


def test_module_weights_override_the_mean_for_the_tensors_under_them(tmp_path):
    """--module NAME=W,W: the tensors under a module (a dotted prefix) take their own weights, the longest prefix
    wins, the rest take --weights; a module no tensor is under, or weights of the wrong count, is one sentence."""
    from wsshm_rt.training.average import parse_modules

    a, b = save_tiny(tmp_path / "a.safetensors", 1.0, 1), save_tiny(tmp_path / "b.safetensors", 5.0, 1)
    modules = parse_modules(["1=3,1", "1.running_var=0,1"])
    state, meta = load_weights(average_weights([a, b], tmp_path / "m.safetensors", [1, 1], modules))
    assert torch.equal(state["0.weight"], torch.full_like(state["0.weight"], 3.0))  # --weights 1,1
    assert torch.equal(state["1.weight"], torch.full((2,), 2.0))  # module 1: (3 * 1 + 5) / 4
    assert torch.equal(state["1.running_mean"], torch.full((2,), 2.0))
    assert torch.equal(state["1.running_var"], torch.full((2,), 5.0))  # the longer prefix: b alone
    assert "1: 3,1" in meta["note"] and "1.running_var: 0,1" in meta["note"]
    with pytest.raises(WsshmError, match=r"--module decoder: no tensor of these models is under 'decoder' "
                                         r"\(the top-level modules are 0, 1\)"):
        average_weights([a, b], tmp_path / "x.safetensors", None, {"decoder": [1, 1]})
    with pytest.raises(WsshmError, match=r"--module 1 takes 2 non-negative numbers"):
        average_weights([a, b], tmp_path / "x.safetensors", None, {"1": [1, 1, 1]})
    with pytest.raises(WsshmError, match=r"--module takes NAME=W,W"):
        parse_modules(["decoder"])
    assert not (tmp_path / "x.safetensors").exists()


def test_cli_average_with_module_weights(tmp_path, capsys):
    from wsshm_rt.cli import main

    a, b = save_tiny(tmp_path / "a.safetensors", 1.0, 1), save_tiny(tmp_path / "b.safetensors", 4.0, 1)
    with pytest.raises(SystemExit) as exc:
        main(["average", str(a), str(b), "--module", "0=0,1", "-o", str(tmp_path / "c.safetensors")])
    assert exc.value.code == 0
    state, _ = load_weights(tmp_path / "c.safetensors")
    assert torch.equal(state["0.bias"], torch.full((2,), 4.0)) and torch.equal(state["1.bias"], torch.full((2,), 2.5))
    with pytest.raises(SystemExit) as exc:
        main(["average", str(a), str(b), "--module", "0=x", "-o", str(tmp_path / "d.safetensors")])
    err = capsys.readouterr().err.strip().splitlines()
    assert exc.value.code == 2 and len(err) == 1 and "--module 0: give comma-separated numbers" in err[0], err
