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
