"""Reading labels: masks as class indices, mattes saved as cut-outs, opaque grey masks."""

import numpy as np

from wsshm_rt.training import data


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


def _misshapen_seg(root):
    """make_seg's folder with s01's mask turned 90 degrees and s02's saved at half size (blocky, so that scaling it
    back up is the full-size mask exactly); returns (root, s02's full-size mask)."""
    import cv2

    from ..conftest import make_seg

    root = make_seg(root, n=4)  # 80x64 photos
    rotated = root / "masks" / "s01.png"
    mask = cv2.imread(str(rotated), cv2.IMREAD_GRAYSCALE)
    assert cv2.imwrite(str(rotated), cv2.rotate(mask, cv2.ROTATE_90_CLOCKWISE))
    half = cv2.imread(str(root / "masks" / "s02.png"), cv2.IMREAD_GRAYSCALE)[::2, ::2]
    assert cv2.imwrite(str(root / "masks" / "s02.png"), half)
    return root, np.repeat(np.repeat(half, 2, 0), 2, 1)


def test_a_label_of_another_aspect_ratio_is_skipped_and_one_at_another_size_is_scaled(tmp_path, caplog):
    """A rotated mask stretched to its photo would teach and score the wrong pixels: it is reported by name and left
    out, wherever pairs are read; a label folder saved at half size (or rounded by a pixel) is still read."""
    import pytest

    from wsshm_rt.errors import WsshmError
    from wsshm_rt.training.data.labels import same_aspect

    from ..conftest import warnings_of
    from .test_datasets import _cfg

    root, s02 = _misshapen_seg(tmp_path / "seg")
    skipped = []
    pairs = data.find_pairs(root, "segmentation", skipped)
    assert [p.image.stem for p in pairs] == ["s00", "s02", "s03"] and skipped == [root / "images" / "s01.jpg"]
    assert any("skipped 1 pair(s) whose label has another aspect ratio" in w and
               "masks/s01.png is 80x64, images/s01.jpg 64x80" in w for w in warnings_of(caplog))
    rgb, label = data.read_pair(pairs[1])
    assert rgb.shape == (80, 64, 3) and np.array_equal(label > 0.5, s02 > 127)
    # Read anyway (a pair list made before the mask was replaced): the dataset reports it and uses the next pair.
    every = [data.Pair(root / "images" / f"s0{i}.jpg", root / "masks" / f"s0{i}.png") for i in range(4)]
    with pytest.raises(WsshmError, match=r"s01.png is 80x64 pixels but its image s01.jpg is 64x80: another aspect"):
        data.read_pair(every[1])
    caplog.clear()
    ds = data.SegDataset(every, _cfg())
    assert np.array_equal(ds[data.SampleKey(1, 32, (0,))]["true_seg"], ds[data.SampleKey(2, 32, (0,))]["true_seg"])
    assert len(warnings_of(caplog)) == 1 and "s01.png is 80x64" in warnings_of(caplog)[0]
    # Scaled copies whose sides a resize rounded are the same shape; a crop or a turn is not.
    assert same_aspect((65, 81), (32, 41)) and same_aspect((65, 81), (33, 40))
    assert same_aspect((1000, 3000), (333, 1000)) and same_aspect((100, 100), (100, 98))
    assert not same_aspect((100, 100), (100, 95)) and not same_aspect((1000, 3000), (320, 1000))


def test_a_photo_turned_by_its_exif_orientation_pairs_with_an_upright_mask(tmp_path):
    """A phone photo stored on its side with an EXIF orientation is read upright, so its hand-drawn mask is upright
    too: the header check turns the photo's size as decoding does."""
    import cv2
    from PIL import Image

    from ..conftest import make_seg

    root = make_seg(tmp_path / "seg", n=2)  # 80x64 photos and masks
    photo = root / "images" / "s00.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned 90 degrees clockwise
    Image.fromarray(np.rot90(cv2.imread(str(photo))[..., ::-1])).save(photo, exif=exif.tobytes())
    pairs = data.find_pairs(root, "segmentation")
    rgb, label = data.read_pair(pairs[0])
    assert len(pairs) == 2 and rgb.shape[:2] == label.shape == (80, 64)


def test_eval_leaves_out_a_label_of_another_aspect_ratio(tmp_path, caplog):
    """`wsshm-rt eval` scores the pairs it can, with a model whose output is known (alpha 1 everywhere: a photo's
    IoU is the share of its mask), and counts the misshapen pair as skipped."""
    import cv2
    import pytest

    pytest.importorskip("torch")
    from conftest import all_person_model
    from wsshm_rt.training.evaluate import run_eval

    from ..conftest import warnings_of

    root, s02 = _misshapen_seg(tmp_path / "seg")
    result, _ = run_eval(all_person_model(tmp_path / "all.safetensors"), root, kind="seg", short_side=64,
                         device="cpu", refine="none", tta="none")
    shares = [np.mean(cv2.imread(str(root / "masks" / f"{s}.png"), cv2.IMREAD_GRAYSCALE) > 127) for s in ("s00", "s03")]
    assert result["images"] == 3 and result["skipped"] == 1
    assert result["iou"] == pytest.approx(np.mean(shares + [np.mean(s02 > 127)]))
    assert any("masks/s01.png is 80x64" in w for w in warnings_of(caplog))


def test_a_cut_out_label_is_turned_upright_by_its_exif_orientation(tmp_path):
    """A label saved as a cut-out (its alpha is the label) turns with its EXIF orientation as a grey one does, so it
    keeps matching the photo's upright size."""
    from PIL import Image

    from wsshm_rt.training.data.labels import load_label

    rgba = np.zeros((40, 100, 4), np.uint8)
    rgba[:, :50, 3] = 255
    exif = Image.Exif()
    exif[0x0112] = 6  # stored turned: shown 90 degrees clockwise
    Image.fromarray(rgba, "RGBA").save(tmp_path / "m.png", exif=exif.tobytes())
    label = load_label(tmp_path / "m.png")
    assert label.shape == (100, 40) and label[:50].min() == 1.0 and label[50:].max() == 0.0
