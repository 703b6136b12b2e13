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


def test_student_step_takes_the_true_alpha_of_composites():
    """--matte-mix: in one batch, the photo learns the MLB blend, the composite its own alpha."""
    from types import SimpleNamespace

    from wsshm_rt.training.stages import student_step

    seen = {}

    def teacher(x):  # a = 0.25 and b = sigmoid(0) = 0.5 everywhere
        seen.setdefault("teacher", []).append(len(x))
        return torch.full_like(x[:, :1], 0.25), torch.zeros_like(x[:, :1])

    def student(x):
        seen["x"] = x
        return torch.full_like(x[:, :1], 0.5), torch.zeros_like(x[:, :1])

    cfg = SimpleNamespace(band_px=0, bnd_threshold=0.0, bnd_weight=0.0, lap_levels=1)
    ones = torch.ones(2, 1, 4, 4)
    batch = {"src": torch.zeros(2, 3, 4, 4), "src_strong": torch.ones(2, 3, 4, 4), "true_seg": ones,
             "true_pha": torch.stack([ones[0], ones[1] * 0.5]), "is_matte": torch.tensor([0.0, 1.0]).view(2, 1, 1, 1)}
    parts = student_step(cfg, teacher)(student, batch)
    # photo: blend = 0.5 * 0.25 + 0.5 * 1 = 0.625, |0.5 - 0.625| = 0.125; composite: |0.5 - 0.5| = 0
    assert parts["l1"].item() == pytest.approx(0.0625)
    assert torch.equal(seen["x"], batch["src_strong"])
    assert seen["teacher"] == [1]  # the teacher labelled the photo only
    all_composites = dict(batch, is_matte=torch.ones(2, 1, 1, 1), true_pha=ones * 0.5)
    assert student_step(cfg, teacher)(student, all_composites)["l1"].item() == pytest.approx(0.0)
    assert seen["teacher"] == [1]  # not called for a batch of composites
