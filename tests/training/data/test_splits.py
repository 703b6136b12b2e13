"""Train/val splits by file name, seeded subsets (label budgets), and the warning when weights were trained on
another split."""

import pytest

from wsshm_rt.training import data

from ..conftest import make_seg, warnings_of


def test_split_is_disjoint_deterministic_and_stable(tmp_path):
    pairs = data.find_pairs(make_seg(tmp_path / "s", n=20), "segmentation")
    train, val = data.split(pairs, 0.1, seed=0)
    assert len(val) == 2 and not {p.image for p in train} & {p.image for p in val}
    assert sorted(train + val) == sorted(pairs)
    assert data.split(pairs, 0.1, seed=0) == (train, val)
    # A subset is seeded and keeps file order.
    assert data.subset(pairs, 5, 1) == data.subset(pairs, 5, 1) and len(data.subset(pairs, 5, 1)) == 5


def test_label_budget_limits_take_a_seeded_subset_of_the_training_side(tiny_data):
    torch = pytest.importorskip("torch")
    from wsshm_rt.training.config import resolve_config
    from wsshm_rt.training.stages import build_pretrain, build_teacher

    def sets(build, stage, **kw):
        cfg = resolve_config(stage, overrides={"seg": str(tiny_data["seg"]), "matte": str(tiny_data["matte"]),
                                               "backgrounds": str(tiny_data["bg"]), "model": "r18-0.5",
                                               "val_fraction": 0.25, **kw})
        s = build(cfg, torch.device("cpu"))
        return [p.image.name for p in s.train_set.pairs], [p.image.name for p in s.val_sets[0].pairs]

    full_train, full_val = sets(build_pretrain, "pretrain")
    train, val = sets(build_pretrain, "pretrain", seg_limit=3)
    assert len(full_train) == 6 and len(train) == 3 and set(train) < set(full_train) and val == full_val
    assert sets(build_pretrain, "pretrain", seg_limit=3, seed=0) == (train, val)
    m_train, m_val = sets(build_teacher, "teacher", matte_limit=2)
    assert len(m_train) == 2 and len(m_val) == 2 and not set(m_train) & set(m_val)
    # --seed moves the split and the subset with it, unless --split-seed holds them: repeats on the same data
    other = sets(build_pretrain, "pretrain", seg_limit=3, seed=1)
    assert other != (train, val)
    assert sets(build_pretrain, "pretrain", seg_limit=3, seed=1, split_seed=0) == (train, val)
    assert sets(build_pretrain, "pretrain", seg_limit=3, seed=0, split_seed=1) == other


def test_split_seed_below_minus_one_is_refused():
    from wsshm_rt.errors import WsshmError
    from wsshm_rt.training.config import TrainConfig, validate

    with pytest.raises(WsshmError, match="split_seed"):
        validate(TrainConfig(split_seed=-2))


def _weights_with_split(tiny_weights, tmp_path, **split):
    from wsshm_rt.weights import load_weights, save_weights

    state, meta = load_weights(tiny_weights)
    return save_weights(state, tmp_path / "w.safetensors", {**meta, **{k: str(v) for k, v in split.items()}})


@pytest.mark.slow
def test_a_run_warns_when_its_init_was_trained_on_another_split(tiny_data, tiny_weights, tmp_path, caplog):
    # Continuing a model on a split drawn with another seed puts its training images among the held-out ones.
    torch = pytest.importorskip("torch")
    from wsshm_rt.training.checkpoint import weights_metadata
    from wsshm_rt.training.config import resolve_config
    from wsshm_rt.training.stages import build_student, build_teacher

    init = _weights_with_split(tiny_weights, tmp_path, split_seed=0, val_fraction=0.1)

    def build(build_fn, stage, **kw):
        caplog.clear()
        cfg = resolve_config(stage, overrides={"seg": str(tiny_data["seg"]), "matte": str(tiny_data["matte"]),
                                               "backgrounds": str(tiny_data["bg"]), **kw})
        stage_ = build_fn(cfg, torch.device("cpu"))
        return cfg, stage_, "\n".join(warnings_of(caplog))

    cfg, stage, err = build(build_teacher, "teacher", init=str(init), seed=2)
    assert "trained on the split of seed 0" in err and "--split-seed 0 --val-fraction 0.1" in err
    # What a run writes records its own split, so the next run (or eval) can check it.
    meta = weights_metadata(stage.model, cfg, 1)
    assert (meta["split_seed"], meta["val_fraction"]) == ("2", "0.1")
    assert build(build_teacher, "teacher", init=str(init), seed=2, split_seed=0)[2] == ""
    assert "seed 0" in build(build_teacher, "teacher", init=str(init), val_fraction=0.2)[2]
    # The student's teacher is checked too, once (it is also the student's start when there is no --init).
    err = build(build_student, "student", teacher=str(init), seed=3)[2]
    assert err.count("trained on the split of seed 0") == 1 and "--teacher" in err
    assert build(build_teacher, "teacher", init=str(tiny_weights), seed=2)[2] == ""  # weights that do not say


def test_eval_of_a_split_warns_when_the_weights_trained_on_another(tiny_data, tiny_weights, tmp_path, caplog):
    pytest.importorskip("torch")
    from wsshm_rt.training.evaluate import run_eval

    w = _weights_with_split(tiny_weights, tmp_path, split_seed=1, val_fraction=0.25)
    run_eval(w, tiny_data["seg"], short_side=64, split="val", seed=0, val_fraction=0.25, device="cpu")
    err = "\n".join(warnings_of(caplog))
    assert "trained on the split of seed 1" in err and "pass --seed 1 --val-fraction 0.25" in err
    caplog.clear()
    run_eval(w, tiny_data["seg"], short_side=64, split="val", seed=1, val_fraction=0.25, device="cpu")
    run_eval(w, tiny_data["seg"], short_side=64, split="all", seed=0, device="cpu")
    assert warnings_of(caplog) == []


def test_eval_records_what_chose_its_images_and_warns_of_backgrounds_it_does_not_use(tiny_data, tiny_weights,
                                                                                      tmp_path, caplog):
    """The JSON says which split (seed, fraction, limit) was scored, so two results can be told comparable or not;
    --backgrounds on a seg folder is not used and says so."""
    pytest.importorskip("torch")
    import json

    from wsshm_rt.training.evaluate import run_eval

    out = tmp_path / "e.json"
    result, _ = run_eval(tiny_weights, tiny_data["seg"], short_side=64, split="val", seed=3, val_fraction=0.5,
                         limit=2, device="cpu", json_out=out, backgrounds=tiny_data["bg"])
    saved = json.loads(out.read_text())
    assert (saved["seed"], saved["val_fraction"], saved["limit"], saved["split"]) == (3, 0.5, 2, "val")
    assert saved["images"] == result["images"] <= 2
    assert any("--backgrounds is for matte folders" in w for w in warnings_of(caplog))
