"""Data that teaches "person": several --seg sources, copy-paste scenes, zoom-out, pseudo-labels with an ignore band."""

from __future__ import annotations

from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from wsshm_rt.errors import WsshmError
from wsshm_rt.training import augment, data
from wsshm_rt.training.config import resolve_config
from wsshm_rt.training.data import SampleKey
from wsshm_rt.training.scenes import ScenesDataset, paste, person_box, write_scenes
from wsshm_rt.training.sources import SourceMix, seg_sources, seg_train_set, source_name, val_set_names

from .conftest import make_seg

GEOMETRY = SimpleNamespace(scale_max=1.2, scale_min=1.0, flip=True, jitter=0.3, blur_p=0.2, gray_p=0.1, jpeg_p=0.2)


def test_paste_is_alpha_compositing_and_the_label_is_the_union_in_occlusion_order():
    canvas, label = np.zeros((10, 10, 3), np.uint8), np.zeros((10, 10), np.float32)
    label[:, :2] = 1  # someone already at the left edge
    person, alpha = np.full((4, 4, 3), 200, np.uint8), np.full((4, 4), 0.5, np.float32)
    paste(canvas, label, person, alpha, top=8, left=-1, soft=True)  # cut by the bottom and left edges
    assert np.all(canvas[8:, :3] == 100) and canvas[:8].max() == 0 and canvas[:, 3:].max() == 0
    assert np.all(label[8:, :2] == 1.0)                               # 0.5 + 0.5 * 1
    assert np.all(label[8:, 2] == 0.5) and label[:8, 2:].max() == 0
    paste(canvas, label, person, np.ones((4, 4), np.float32), 0, 6, soft=False)  # a hard mask: label stays binary
    assert set(np.unique(label[0:4, 6:10])) == {1.0}
    assert person_box(np.zeros((3, 3))) is None and person_box(label) == (0, 10, 0, 10)


def test_scenes_hold_several_people_of_the_pool_at_many_sizes(tiny_data, tmp_path):
    people = data.find_pairs(tiny_data["seg"], "segmentation")
    scenes = ScenesDataset([(p, False) for p in people], [], data.find_backgrounds(tiny_data["bg"]), GEOMETRY,
                           (0.1, 1.3), max_people=4, two_views=True)
    sizes, counts = [], []
    for i in range(40):
        s = scenes[SampleKey(0, 96, (0, 0, i, 0, 0))]
        assert s["src"].shape == (3, 96, 96) and s["src_strong"].shape == (3, 96, 96)
        assert s["true_seg"].shape == (1, 96, 96) and set(np.unique(s["true_seg"])) <= {0.0, 1.0}
        assert np.all(s["valid"] == 1)
        n, _, stats, _ = cv2.connectedComponentsWithStats(s["true_seg"][0].astype(np.uint8))
        counts.append(n - 1)
        sizes += list(stats[1:, cv2.CC_STAT_HEIGHT])
    assert max(counts) >= 3 and min(counts) >= 0         # several separate people in some scenes
    assert min(sizes) <= 20 and max(sizes) >= 80          # small people and people as tall as the frame
    # Deterministic in the key: a resumed run sees the same scenes.
    a, b = scenes[SampleKey(0, 64, (1, 2, 3, 0, 0))], scenes[SampleKey(5, 64, (1, 2, 3, 0, 0))]
    assert np.array_equal(a["src"], b["src"])
    with pytest.raises(WsshmError, match="copy-paste"):
        ScenesDataset([], [], [], GEOMETRY, (0.1, 1.0), 2)


def test_zoom_out_puts_the_whole_photo_small_inside_the_crop():
    rng = np.random.default_rng(0)
    label = np.zeros((80, 60), np.float32)
    label[10:70, 15:45] = 1
    zoomed = []
    for _ in range(30):
        g = augment.random_geometry(rng, 80, 60, 64, 1.0, False, scale_min=0.3)
        out = augment.apply_geometry(label, g, True)
        assert out.shape == (64, 64)
        zoomed.append(g.scale < 64 / 60)
        if g.scale * 60 < 40:  # small enough that the person and the reflect padding's mirror both show
            assert out.sum() < 0.9 * 64 * 64
    assert any(zoomed)
    # scale_min = 1 draws exactly what the trainer always drew (old runs resume on the same samples).
    g1 = augment.random_geometry(np.random.default_rng(5), 80, 60, 64, 1.5, True)
    g2 = augment.random_geometry(np.random.default_rng(5), 80, 60, 64, 1.5, True, scale_min=1.0)
    assert g1 == g2 and (g1.pad_top, g1.pad_left) == (0, 0)


def test_several_seg_sources_each_split_on_their_own_and_sampled_by_weight(tiny_data, tmp_path):
    other = make_seg(tmp_path / "other" / "train", n=12, seed=7)
    cfg = resolve_config("pretrain", overrides={"seg": [str(tiny_data["seg"]), str(other)], "val_fraction": 0.25,
                                                "seg_weights": "1,3"})
    srcs = seg_sources(cfg)
    alone = data.split(data.find_pairs(tiny_data["seg"], "segmentation"), 0.25, 0)
    assert srcs[0].train == alone[0] and srcs[0].val == alone[1]  # adding a source moves no held-out photo
    assert val_set_names(srcs) == ["val_seg", "val_seg_other"] and source_name(str(other)) == "other"
    mix = seg_train_set(cfg, srcs, False, [], [])
    assert isinstance(mix, SourceMix) and len(mix) == len(srcs[0].train) + len(srcs[1].train)
    picks = [int(mix.datasets[1] is _source_of(mix, SampleKey(i, 64, (0, 0, i, 0, 0)))) for i in range(400)]
    assert 0.65 < np.mean(picks) < 0.85   # weight 3 of 4
    with pytest.raises(WsshmError, match="seg_weights needs 2"):
        resolve_config("pretrain", overrides={"seg": [str(tiny_data["seg"]), str(other)], "seg_weights": "1"})
    one = resolve_config("pretrain", overrides={"seg": str(tiny_data["seg"])})
    assert isinstance(seg_train_set(one, seg_sources(one), False, [], []), data.SegDataset)


def _source_of(mix, key):
    rng = np.random.default_rng([*key.seed, 2])
    return mix.datasets[int(rng.choice(len(mix.datasets), p=mix.p))]


def test_pseudo_labels_grey_pixels_are_left_out_of_the_loss(tmp_path):
    torch = pytest.importorskip("torch")
    from wsshm_rt.training.losses import matte_loss, seg_loss

    root = make_seg(tmp_path / "pseudo", n=2)
    for m in (root / "masks").iterdir():
        mask = cv2.imread(str(m), cv2.IMREAD_GRAYSCALE)
        mask[:, :10] = 128
        cv2.imwrite(str(m), mask)
    ds = data.SegDataset(data.find_pairs(root, "segmentation"), GEOMETRY, ignore_grey=True)
    s = ds[SampleKey(0, 64, (0, 0, 0, 0, 0))]
    assert 0 < s["valid"].mean() < 1 and np.all(s["true_seg"][s["valid"] == 0] == 1)  # grey reads as > 0.5
    assert np.all(data.SegDataset(ds.pairs, GEOMETRY)[SampleKey(0, 64, (0, 0, 0, 0, 0))]["valid"] == 1)

    pred = torch.rand(1, 1, 8, 8, requires_grad=True)
    true = torch.zeros(1, 1, 8, 8)
    valid = torch.ones(1, 1, 8, 8)
    valid[..., :4] = 0
    loss = seg_loss(pred, true, valid)["loss"]
    assert torch.isclose(loss, (pred[..., 4:] ** 2).mean())
    parts = matte_loss(pred, torch.zeros(1, 1, 8, 8), true, valid=valid)
    parts["loss"].backward()
    assert torch.isclose(parts["l1"], pred[..., 4:].abs().mean())
    assert pred.grad[..., :4].abs().max() == 0 < pred.grad[..., 4:].abs().min()


def test_pseudo_mask_keeps_confident_pixels_only():
    from wsshm_rt.training.pseudo import UNSURE, PseudoOptions, pseudo_mask

    alpha = np.zeros((20, 20), np.float32)
    alpha[:, 10:] = 1.0
    alpha[0, 0] = 0.5  # unsure far from the edge
    mask = pseudo_mask(alpha, PseudoOptions(band_px=2))
    assert mask[0, 0] == UNSURE and mask[5, 0] == 0 and mask[5, 19] == 255
    assert np.all(mask[:, 8:12] == UNSURE) and np.all(mask[1:, :7] == 0)


def test_pseudo_label_command_writes_a_training_folder(tmp_path, capsys):
    from wsshm_rt.cli import main

    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        cv2.imwrite(str(photos / f"p{i}.jpg"), rng.integers(0, 255, (64, 48, 3), dtype=np.uint8))
    (photos / "broken.jpg").write_bytes(b"not an image")
    out = tmp_path / "pseudo"
    with pytest.raises(SystemExit) as exit_:
        main(["pseudo-label", str(photos), "-o", str(out), "--tta", "none", "--max-unsure", "1.0",
              "--short-side", "64"])
    import json

    summary = json.loads((out / "pseudo.json").read_text())
    assert summary["images"] == 4 and summary["skipped_unreadable"] == 1
    assert summary["kept"] + summary["left_out_unsure"] == 3
    if summary["kept"]:
        assert exit_.value.code == 0
        masks = list((out / "masks").iterdir())
        assert set(np.unique(cv2.imread(str(masks[0]), cv2.IMREAD_GRAYSCALE))) <= {0, 128, 255}
        assert len(data.find_pairs(out, "segmentation")) == summary["kept"]
    else:
        assert exit_.value.code == 2
    # A run's weights named as train steps and recipes name them (what `train recipe --dry-run` prints).
    from wsshm_rt.matter import default_model_path
    from wsshm_rt.weights import load_weights, save_weights

    state, meta = load_weights(default_model_path())
    save_weights(state, tmp_path / "run" / "last.safetensors", meta)
    with pytest.raises(SystemExit):
        main(["pseudo-label", str(photos), "-o", str(out), "-m", str(tmp_path / "run" / "last"), "--tta", "none",
              "--max-unsure", "1.0", "--short-side", "64"])
    assert json.loads((out / "pseudo.json").read_text())["models"] == [str(tmp_path / "run" / "last.safetensors")]
    with pytest.raises(SystemExit) as exit_:  # a name that is neither a file nor a run's weights: Matter's sentence
        main(["pseudo-label", str(photos), "-o", str(out), "-m", str(tmp_path / "nothing"), "--short-side", "64"])
    assert exit_.value.code == 2 and f"model file {tmp_path / 'nothing'} does not exist" in capsys.readouterr().err


def test_a_student_trains_on_seg_sources_pseudo_labels_and_scenes(tiny_data, tiny_weights, tmp_path):
    pytest.importorskip("torch")
    from wsshm_rt.cli import main

    from .conftest import TINY

    pseudo = make_seg(tmp_path / "pseudo", n=4, seed=9)
    other = make_seg(tmp_path / "full-body", n=6, seed=3)
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as exit_:
        main(["train", "student", "--seg", str(tiny_data["seg"]), "--seg", str(other), "--pseudo", str(pseudo),
              "--seg-weights", "1,1,1", "--paste-p", "0.5", "--scale-min", "0.5", "--backgrounds", str(tiny_data["bg"]),
              "--teacher", str(tiny_weights), "--out", str(out), "--iters", "2", "--val-every", "2", *TINY])
    assert exit_.value.code in (None, 0)
    import json

    kinds = {json.loads(line)["kind"] for line in (out / "metrics.jsonl").read_text().splitlines()}
    assert {"val_seg", "val_seg_full-body", "train"} <= kinds
    assert (out / "best.safetensors").exists()


def test_make_scenes_uses_held_out_people_only(tiny_data, tmp_path):
    out = tmp_path / "scenes"
    write_scenes([str(tiny_data["seg"])], tiny_data["bg"], out, count=3, side=64, split_seed=0, val_fraction=0.25)
    pairs = data.find_pairs(out, "segmentation")
    assert len(pairs) == 3 and all(cv2.imread(str(p.image)).shape == (64, 64, 3) for p in pairs)


def _files(root):
    """Every file under ``root``, by its path relative to it, with its bytes: what a command must leave as it was."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _cli(args, capsys) -> tuple[int, str]:
    """(exit code, stderr) of a wsshm-rt command."""
    from wsshm_rt.cli import main

    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        main(args)
    return exit_.value.code or 0, capsys.readouterr().err


def test_pseudo_label_replaces_only_its_own_labels_and_refuses_other_folders(tmp_path, capsys):
    """A hand-labelled folder given as -o by mistake is refused before a mask is replaced (labelling into it used to
    replace its masks, then empty it on the next run), and so are the photos' own folder and its relatives; a
    folder pseudo-label wrote is labelled again, only its own files replaced."""
    import json

    from conftest import all_person_model

    photos = tmp_path / "photos"
    make_seg(tmp_path / "shot", n=3, seed=4)
    (tmp_path / "shot" / "images").rename(photos)  # photos named s00.jpg .. as the hand-labelled set's
    model = str(all_person_model(tmp_path / "all.safetensors"))  # sure of every pixel: every photo is kept

    def label(out, inputs=photos):
        return _cli(["pseudo-label", str(inputs), "-o", str(out), "-m", model, "--tta", "none", "--short-side", "64"],
                    capsys)

    hand = make_seg(tmp_path / "segcopy", n=4)
    before, shot = _files(hand), _files(photos)
    code, err = label(hand)
    assert code == 2 and "-o" in err and "holds files pseudo-label did not write (images/s00.jpg, images/s01.jpg, " \
        "images/s02.jpg, ...)" in err and err.count("\n") == 1
    assert _files(hand) == before
    (hand / "pseudo.json").write_text('{"kept": 4}')  # as an older wsshm-rt left it in this very folder
    code, err = label(hand)
    assert code == 2 and "an older wsshm-rt pseudo-label may have written" in err
    assert _files(hand) == {**before, "pseudo.json": b'{"kept": 4}'}
    for out, relation in ((photos, "is the input folder"), (photos / "pseudo", "is inside the input folder"),
                          (tmp_path, "holds the input folder")):
        code, err = label(out)
        assert code == 2 and f"-o {out} {relation} {photos}" in err
    assert _files(photos) == shot and not (photos / "pseudo").exists()

    out = tmp_path / "pseudo"
    assert label(out)[0] == 0
    pairs = {f"images/s0{i}.jpg" for i in range(3)} | {f"masks/s0{i}.png" for i in range(3)}
    assert set(_files(out)) == pairs | {"pseudo.json", "pseudo-files.json"}
    assert json.loads((out / "pseudo-files.json").read_text())["files"] == sorted(pairs | {"pseudo.json"})
    (out / "masks" / "mine.png").write_bytes((hand / "masks" / "s00.png").read_bytes())  # someone's own label
    (out / ".DS_Store").write_bytes(b"\0")  # a desktop's: neither refused nor deleted
    code, err = label(out)
    assert code == 2 and "holds files pseudo-label did not write (masks/mine.png)" in err
    assert set(_files(out)) == pairs | {"pseudo.json", "pseudo-files.json", "masks/mine.png", ".DS_Store"}
    (out / "masks" / "mine.png").unlink()
    few = tmp_path / "few"
    few.mkdir()
    (few / "s02.jpg").write_bytes((photos / "s02.jpg").read_bytes())
    assert label(out, few)[0] == 0  # labelled again from one photo: the earlier pairs are gone
    assert set(_files(out)) == {"images/s02.jpg", "masks/s02.png", "pseudo.json", "pseudo-files.json", ".DS_Store"}
    assert len(data.find_pairs(out, "segmentation")) == json.loads((out / "pseudo.json").read_text())["kept"] == 1


def test_make_scenes_holds_the_last_commands_scenes_only(tiny_data, tmp_path, capsys):
    """Run again into its folder, make-scenes replaces the scenes it wrote (eval then scores the new ones only,
    the same as in a new folder); a folder holding anything else, or a folder it takes people from, is refused."""
    import json

    def scenes(out, *more):
        return _cli(["make-scenes", "--seg", str(tiny_data["seg"]), "--backgrounds", str(tiny_data["bg"]),
                     "--out", str(out), "--side", "64", "--split", "all", *more], capsys)

    out, fresh = tmp_path / "scenes", tmp_path / "fresh"
    assert scenes(out, "--count", "6")[0] == 0 and len(data.find_pairs(out, "segmentation")) == 6
    assert scenes(out, "--count", "3", "--seed", "5")[0] == 0
    assert scenes(fresh, "--count", "3", "--seed", "5")[0] == 0
    assert _files(out) == _files(fresh) and len(data.find_pairs(out, "segmentation")) == 3
    manifest = json.loads((out / "scenes.json").read_text())
    assert (manifest["count"], manifest["seed"], len(manifest["files"])) == (3, 5, 6)

    (out / "notes.txt").write_text("which scenes are these?")
    before = _files(out)
    code, err = scenes(out, "--count", "2")
    assert code == 2 and f"--out {out} holds files make-scenes did not write (notes.txt)" in err
    assert _files(out) == before
    hand = make_seg(tmp_path / "hand", n=2)
    code, err = scenes(hand, "--count", "2")
    assert code == 2 and "holds files make-scenes did not write (images/s00.jpg, images/s01.jpg, masks/s00.png" in err
    seg = _files(tiny_data["seg"])
    code, err = scenes(tiny_data["seg"], "--count", "2")
    assert code == 2 and f"--out {tiny_data['seg']} is the --seg folder" in err and _files(tiny_data["seg"]) == seg
