from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from wsshm_rt.errors import WsshmError
from wsshm_rt.training import data
from wsshm_rt.training.config import TrainConfig
from wsshm_rt.training.data import SampleKey
from wsshm_rt.training.sampler import MultiScaleBatchSampler, crop_sides

from .conftest import make_matte, make_seg


def test_pairs_layouts_and_bad_files(tmp_path, capsys):
    root = make_seg(tmp_path / "p3m", n=4)
    (root / "images").rename(root / "blurred_image")
    (root / "masks").rename(root / "mask")
    (root / "blurred_image" / "orphan.jpg").write_bytes((root / "blurred_image" / "s00.jpg").read_bytes())
    (root / "blurred_image" / "s03.jpg").write_bytes(b"not a jpeg")
    pairs = data.find_pairs(root, "segmentation")
    assert [p.image.stem for p in pairs] == ["s00", "s01", "s02"]
    err = capsys.readouterr().err
    assert err.count("warning") == 1 and "1 unpaired and 1 unreadable" in err

    ppm = make_matte(tmp_path / "ppm", n=2)
    (ppm / "fg").rename(ppm / "image")
    (ppm / "alpha").rename(ppm / "matte")
    assert len(data.find_pairs(ppm, "matte")) == 2


def _relayout(root: Path, images: str, labels: str) -> Path:
    """make_matte's fg/ + alpha/ renamed to another dataset's folder names (``a/b`` nests them)."""
    for old, new in (("fg", images), ("alpha", labels)):
        (root / new).parent.mkdir(parents=True, exist_ok=True)
        (root / old).rename(root / new)
    return root


@pytest.mark.parametrize("images, labels", [
    ("original", "mask"),                     # AM-2k (train/ and validation/)
    ("blurred_image", "mask"),                # P3M-10k train, P3M-500-P
    ("original_image", "mask"),               # P3M-500-NP
    ("image", "matte"),                       # PPM-100
    ("Train/FG", "Train/Alpha"),              # Human-2K style: capitalised folders, a train/ level
])
def test_public_matting_layouts_are_read(tmp_path, images, labels):
    from wsshm_rt.training.evaluate import _detect_kind

    root = _relayout(make_matte(tmp_path / "set", n=3), images, labels)
    pairs = data.find_pairs(root, "matte")
    assert [(p.image.parent.name, p.label.parent.name, p.image.stem) for p in pairs] == \
        [(Path(images).name, Path(labels).name, f"m{i:02d}") for i in range(3)]
    # Benchmark layouts of real photos are scored as they are; fg/alpha folders need compositing.
    assert _detect_kind(root) == ("matte" if images.endswith("FG") else "photo")


def test_p3m_mattes_are_binarised_as_segmentation_labels(tmp_path):
    root = _relayout(make_matte(tmp_path / "p3m", n=2), "original_image", "mask")
    pairs = data.find_pairs(root, "segmentation")
    s = data.SegDataset(pairs, _cfg())[SampleKey(0, 32, (0,))]
    assert len(pairs) == 2 and set(np.unique(s["true_seg"])) == {0.0, 1.0}


def test_masks_as_class_indices_and_mattes_as_cut_outs_are_read_as_labels(tmp_path):
    import cv2

    mask = np.zeros((40, 30), np.uint8)
    mask[10:30, 5:25] = 1  # a person as class 1, the way many segmentation sets store it
    assert cv2.imwrite(str(tmp_path / "index.png"), mask) and cv2.imwrite(str(tmp_path / "grey.png"), mask * 255)
    assert cv2.imwrite(str(tmp_path / "empty.png"), mask * 0)
    index, grey = data.load_label(tmp_path / "index.png"), data.load_label(tmp_path / "grey.png")
    assert np.array_equal(index, grey) and index.sum() == 400 and set(np.unique(index)) == {0.0, 1.0}
    assert data.load_label(tmp_path / "empty.png").max() == 0.0  # no one in the photo stays no one
    # A matte saved as the cut-out: the label is the alpha channel, not the person's colours.
    alpha = np.zeros((40, 30), np.uint8)
    alpha[10:30, 5:25], alpha[10:30, 25] = 255, 128
    person = np.random.default_rng(0).integers(0, 255, (40, 30, 3), dtype=np.uint8)
    assert cv2.imwrite(str(tmp_path / "cutout.png"), np.dstack([person, alpha]))
    assert np.array_equal(data.load_label(tmp_path / "cutout.png"), alpha / np.float32(255))
    # An opaque grey mask that happens to be saved with an alpha channel is read by its grey levels.
    assert cv2.imwrite(str(tmp_path / "opaque.png"), np.dstack([np.repeat((mask * 255)[:, :, None], 3, 2),
                                                                np.full((40, 30), 255, np.uint8)]))
    assert np.array_equal(data.load_label(tmp_path / "opaque.png"), grey)


def test_bad_folders_are_one_sentence(tmp_path):
    with pytest.raises(WsshmError, match="does not exist"):
        data.find_pairs(tmp_path / "nope", "segmentation")
    with pytest.raises(WsshmError, match="expected sub-folders"):
        data.find_pairs(tmp_path, "segmentation")
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    with pytest.raises(WsshmError, match="no readable"):
        data.find_pairs(tmp_path, "segmentation")


def test_split_is_disjoint_deterministic_and_stable(tmp_path):
    pairs = data.find_pairs(make_seg(tmp_path / "s", n=20), "segmentation")
    train, val = data.split(pairs, 0.1, seed=0)
    assert len(val) == 2 and not {p.image for p in train} & {p.image for p in val}
    assert sorted(train + val) == sorted(pairs)
    assert data.split(pairs, 0.1, seed=0) == (train, val)
    # A subset is seeded and keeps file order.
    assert data.subset(pairs, 5, 1) == data.subset(pairs, 5, 1) and len(data.subset(pairs, 5, 1)) == 5


def test_sampler_resumes_mid_epoch_and_shards():
    s = MultiScaleBatchSampler(10, 3, crop_sides(64, 128, 32), seed=0)
    assert len(s) == 3 and crop_sides(64, 128, 32) == [64, 96, 128]
    s.set_epoch(1)
    full = list(s)
    s.set_epoch(1, start_batch=2)
    assert list(s) == full[2:]
    assert all(len({k.side for k in b}) == 1 for b in full)
    ranks = [MultiScaleBatchSampler(10, 2, [64], 0, rank=r, world=2) for r in (0, 1)]
    idx = [[k.index for b in r for k in b] for r in ranks]
    assert not set(idx[0]) & set(idx[1])


def _cfg(**kw):
    return SimpleNamespace(**{**vars(TrainConfig()), **kw})


def test_views_share_geometry_and_samples_are_keyed(tiny_data):
    pairs = data.find_pairs(tiny_data["seg"], "segmentation")
    quiet = data.SegDataset(pairs, _cfg(jitter=0.0, blur_p=0.0, gray_p=0.0, jpeg_p=0.0), two_views=True)
    s = quiet[SampleKey(1, 48, (0, 0, 0, 0, 0))]
    assert s["src"].shape == (3, 48, 48) and s["true_seg"].shape == (1, 48, 48)
    assert np.array_equal(s["src"], s["src_strong"])  # no photometric noise: the views are the same crop
    assert set(np.unique(s["true_seg"])) <= {0.0, 1.0}
    noisy = data.SegDataset(pairs, _cfg(jitter=0.4), two_views=True)
    a, b = noisy[SampleKey(1, 48, (0, 0, 0, 0, 0))], noisy[SampleKey(1, 48, (0, 0, 0, 0, 0))]
    assert np.array_equal(a["src_strong"], b["src_strong"])  # same key, same sample
    assert np.array_equal(a["src"], s["src"]) and not np.array_equal(a["src"], a["src_strong"])


def test_matte_composites_change_background_each_time(tiny_data):
    pairs = data.find_pairs(tiny_data["matte"], "matte")
    ds = data.MatteDataset(pairs, _cfg(), data.find_backgrounds(tiny_data["bg"]))
    a, b = ds[SampleKey(0, 40, (0, 0, 0, 0, 0))], ds[SampleKey(0, 40, (0, 1, 0, 0, 0))]
    assert a["src"].shape == (3, 40, 40) and 0 <= a["true_pha"].min() and a["true_pha"].max() <= 1
    assert not np.array_equal(a["src"], b["src"])
    c1, p1 = data.fixed_composite(pairs[0], ds.backgrounds, seed=0)
    c2, p2 = data.fixed_composite(pairs[0], ds.backgrounds, seed=0)
    assert np.array_equal(c1, c2) and c1.shape[:2] == p1.shape


def test_truncated_file_is_skipped_at_load_time(tmp_path, capsys):
    root = make_seg(tmp_path / "s", n=3)
    pairs = data.find_pairs(root, "segmentation")
    img = pairs[0].image
    img.write_bytes(img.read_bytes()[:200])  # passes the header check, fails to decode
    ds = data.SegDataset(pairs, _cfg())
    ds[SampleKey(0, 32, (0,))]
    ds[SampleKey(0, 32, (1,))]
    assert capsys.readouterr().err.count("skipping") == 1


def test_crop_side_varies_per_batch_not_within():
    s = MultiScaleBatchSampler(64, 4, crop_sides(320, 640, 32), seed=3)
    sides = [b[0].side for b in s]
    assert len(set(sides)) > 3 and all(320 <= x <= 640 and x % 32 == 0 for x in sides)


def test_workers_do_not_change_the_samples(tiny_data):
    torch = pytest.importorskip("torch")
    pairs = data.find_pairs(tiny_data["seg"], "segmentation")
    ds = data.SegDataset(pairs, _cfg(), two_views=True)

    def batches(workers):
        s = MultiScaleBatchSampler(len(ds), 2, [32, 48], seed=0)
        return list(torch.utils.data.DataLoader(ds, batch_sampler=s, num_workers=workers))

    for a, b in zip(batches(0), batches(2)):
        assert all(torch.equal(a[k], b[k]) for k in a)


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


def test_matte_mix_holds_both_kinds_with_the_same_keys(tiny_data):
    cfg = _cfg()
    seg = data.SegDataset(data.find_pairs(tiny_data["seg"], "segmentation"), cfg, two_views=True)
    matte = data.MatteDataset(data.find_pairs(tiny_data["matte"], "matte"), cfg, data.find_backgrounds(tiny_data["bg"]))
    keys = [SampleKey(i % len(seg), 40, (0, 0, b, i)) for b in range(10) for i in range(4)]
    none, half = data.MixedDataset(seg, matte, 0.0), data.MixedDataset(seg, matte, 0.5)
    for k in keys[:4]:  # p = 0: exactly the photo sample, flagged as such
        s, plain = none[k], seg[k]
        assert s["is_matte"].item() == 0 and all(np.array_equal(s[n], plain[n]) for n in plain)
    samples = [half[k] for k in keys]
    assert {n: v.shape for n, v in samples[0].items()} == {n: v.shape for n, v in samples[-1].items()}
    flags = [s["is_matte"].item() for s in samples]
    assert 0.2 < np.mean(flags) < 0.8  # both kinds, about half each
    comp = next(s for s in samples if s["is_matte"].item() == 1)
    soft = (comp["true_pha"] > 0.01) & (comp["true_pha"] < 0.99)
    assert soft.any()  # a composite keeps its soft alpha as the target
    assert np.array_equal(comp["true_seg"], (comp["true_pha"] > 0.5).astype(np.float32))
    assert np.array_equal(half[keys[5]]["src"], half[keys[5]]["src"])  # keyed: the same key, the same sample


def _weights_with_split(tiny_weights, tmp_path, **split):
    from wsshm_rt.weights import load_weights, save_weights

    state, meta = load_weights(tiny_weights)
    return save_weights(state, tmp_path / "w.safetensors", {**meta, **{k: str(v) for k, v in split.items()}})


@pytest.mark.slow
def test_a_run_warns_when_its_init_was_trained_on_another_split(tiny_data, tiny_weights, tmp_path, capsys):
    # Continuing a model on a split drawn with another seed puts its training images among the held-out ones.
    torch = pytest.importorskip("torch")
    from wsshm_rt.training.checkpoint import weights_metadata
    from wsshm_rt.training.config import resolve_config
    from wsshm_rt.training.stages import build_student, build_teacher

    init = _weights_with_split(tiny_weights, tmp_path, split_seed=0, val_fraction=0.1)

    def build(build_fn, stage, **kw):
        cfg = resolve_config(stage, overrides={"seg": str(tiny_data["seg"]), "matte": str(tiny_data["matte"]),
                                               "backgrounds": str(tiny_data["bg"]), **kw})
        stage_ = build_fn(cfg, torch.device("cpu"))
        return cfg, stage_, capsys.readouterr().err

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


def test_eval_of_a_split_warns_when_the_weights_trained_on_another(tiny_data, tiny_weights, tmp_path, capsys):
    pytest.importorskip("torch")
    from wsshm_rt.training.evaluate import run_eval

    w = _weights_with_split(tiny_weights, tmp_path, split_seed=1, val_fraction=0.25)
    run_eval(w, tiny_data["seg"], short_side=64, split="val", seed=0, val_fraction=0.25, device="cpu")
    err = capsys.readouterr().err
    assert "trained on the split of seed 1" in err and "pass --seed 1 --val-fraction 0.25" in err
    run_eval(w, tiny_data["seg"], short_side=64, split="val", seed=1, val_fraction=0.25, device="cpu")
    run_eval(w, tiny_data["seg"], short_side=64, split="all", seed=0, device="cpu")
    assert capsys.readouterr().err == ""
