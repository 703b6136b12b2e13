"""Checkpoints: atomic state writes, keep the last K, and best.safetensors follows the best validation value."""

import pytest

torch = pytest.importorskip("torch")

from wsshm_rt.errors import WsshmError  # noqa: E402
from wsshm_rt.training import checkpoint as ckpt  # noqa: E402
from wsshm_rt.training import loop  # noqa: E402
from wsshm_rt.training.config import resolve_config  # noqa: E402
from wsshm_rt.training.distributed import Dist  # noqa: E402
from wsshm_rt.training.records import Recorder, read_jsonl  # noqa: E402
from wsshm_rt.training.stages import Stage, ValSet  # noqa: E402
from wsshm_rt.weights import read_metadata  # noqa: E402


def test_a_failed_state_write_keeps_the_old_state(tmp_path, file_size_limit):
    path = tmp_path / "state.pt"
    ckpt.save_state(path, {"step": 3})
    with file_size_limit(4096), pytest.raises(WsshmError, match=r"cannot write .*state\.pt \(File too large\)"):
        ckpt.save_state(path, {"step": 6, "weights": torch.zeros(100_000)})  # ~400 KB: fails part-way, for real
    assert ckpt.load_state(path)["step"] == 3 and [p.name for p in tmp_path.iterdir()] == ["state.pt"]


def test_prune_keeps_the_last_k_steps(tmp_path):
    for step in (1000, 3000, 2000, 4000):
        (tmp_path / f"step_{step:07d}.safetensors").write_bytes(b"")
    ckpt.prune(tmp_path, keep=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step_0003000.safetensors", "step_0004000.safetensors"]


def test_best_weights_follow_the_lowest_validation_value(tmp_path, monkeypatch):
    model = torch.nn.Conv2d(3, 1, 1)
    model.arch_name = "tiny"
    values = iter([0.5, 0.3, 0.4, 0.2])
    monkeypatch.setattr(loop, "evaluate", lambda *a: {"mse_far": next(values), "iou": 0.9})
    cfg = resolve_config("pretrain", overrides={"out": str(tmp_path)})
    stage = Stage(model, None, None, [ValSet("val_seg", "seg", ["a.jpg"])], ("val_seg/mse_far",))
    rec, best, best_steps = Recorder(tmp_path), None, []
    for step in (10, 20, 30, 40):
        with torch.no_grad():
            model.weight.fill_(step)
        best = loop.validate(cfg, stage, Dist(0, 1, torch.device("cpu")), rec, step, best)
        best_steps.append(read_metadata(tmp_path / "best.safetensors")["step"])
    assert best == 0.2 and best_steps == ["10", "20", "20", "40"]
    assert [r["mse_far"] for r in read_jsonl(tmp_path / "metrics.jsonl")] == [0.5, 0.3, 0.4, 0.2]
