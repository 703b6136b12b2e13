import pytest

torch = pytest.importorskip("torch")

from wsshm_rt.training.blend import blend_labels, edge_band  # noqa: E402


def t(rows):
    return torch.tensor(rows, dtype=torch.float32)[None, None]


def test_blend_extremes_and_middle():
    a_t, seg = t([[0.2, 0.9]]), t([[0.0, 1.0]])
    assert torch.equal(blend_labels(a_t, torch.ones_like(a_t), seg), a_t)    # b = 1: the teacher
    assert torch.equal(blend_labels(a_t, torch.zeros_like(a_t), seg), seg)   # b = 0: the mask
    out = blend_labels(a_t, t([[0.5, 0.25]]), seg)
    assert out.flatten().tolist() == pytest.approx([0.5 * 0.2, 0.25 * 0.9 + 0.75 * 1.0])


def test_edge_band_hand_computed():
    seg = t([[1, 1, 0, 0, 0]] * 3)
    # dilate by 1 -> columns 0..2, erode by 1 -> column 0 (the image border does not erode): band = columns 1, 2
    assert edge_band(seg, 1)[0, 0, 1].tolist() == [0, 1, 1, 0, 0]
    # by 2: the erosion reaches column 2 (zero) from column 0, so nothing survives it: band = columns 0..3
    assert edge_band(seg, 2)[0, 0, 1].tolist() == [1, 1, 1, 1, 0]


def test_band_gating_keeps_teacher_only_near_the_edge():
    seg = t([[1, 1, 0, 0, 0]])
    a_t = torch.full_like(seg, 0.5)
    out = blend_labels(a_t, torch.ones_like(seg), seg, band_px=1)
    assert out.flatten().tolist() == [1.0, 0.5, 0.5, 0.0, 0.0]


def test_threshold_binarises_b():
    a_t, seg = t([[0.3, 0.3]]), t([[1.0, 1.0]])
    out = blend_labels(a_t, t([[0.6, 0.4]]), seg, threshold=0.5)
    assert out.flatten().tolist() == pytest.approx([0.3, 1.0])
