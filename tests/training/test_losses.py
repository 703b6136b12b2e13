import math

import pytest

torch = pytest.importorskip("torch")

from wsshm_rt.training.losses import (boundary_target, laplacian_loss, laplacian_pyramid, matte_loss,  # noqa: E402
                                      seg_loss)


def full(v, h=16, w=16):
    return torch.full((1, 1, h, w), float(v))


def test_boundary_target_is_the_open_band():
    a = torch.tensor([0.0, 0.05, 0.06, 0.5, 0.94, 0.95, 1.0]).view(1, 1, 1, -1)
    assert boundary_target(a).flatten().tolist() == [0, 0, 1, 1, 1, 0, 0]


def test_laplacian_of_a_constant_offset_is_the_offset():
    # Band-pass levels of a constant are 0; only the low-pass level keeps the 0.25 offset.
    assert laplacian_loss(full(0.75), full(0.5), levels=5).item() == pytest.approx(0.25, abs=1e-6)


def test_laplacian_with_one_level_is_l1():
    x = torch.tensor([[0.0, 1.0], [0.5, 0.25]]).view(1, 1, 2, 2)
    assert laplacian_loss(x, torch.zeros_like(x), levels=1).item() == pytest.approx(1.75 / 4)


def test_laplacian_pyramid_reconstructs():
    x = torch.rand(2, 1, 37, 29)
    levels = laplacian_pyramid(x, 5)
    assert len(levels) == 5
    y = levels[-1]
    for band in reversed(levels[:-1]):
        y = band + torch.nn.functional.interpolate(y, size=band.shape[-2:], mode="bilinear", align_corners=False)
    assert torch.allclose(y, x, atol=1e-6)


def test_matte_loss_hand_computed():
    # true 0.5 is inside the boundary band (target 1); logit log(3) -> p = 0.75 -> BCE = -log(0.75)
    parts = matte_loss(full(0.75), full(math.log(3)), full(0.5), bnd_weight=0.01)
    assert parts["l1"].item() == pytest.approx(0.25)
    assert parts["lap"].item() == pytest.approx(0.25, abs=1e-6)
    assert parts["bnd"].item() == pytest.approx(0.01 * math.log(4 / 3), rel=1e-5)
    assert parts["loss"].item() == pytest.approx(0.5 + 0.01 * math.log(4 / 3), rel=1e-5)


def test_matte_loss_outside_band_targets_zero():
    parts = matte_loss(full(0.2), full(0.0), full(0.0), bnd_weight=0.01)  # logit 0, target 0 -> BCE = log 2
    assert parts["bnd"].item() == pytest.approx(0.01 * math.log(2), rel=1e-5)
    assert parts["l1"].item() == pytest.approx(0.2)


def test_seg_loss_is_mse():
    pred = torch.tensor([[0.5, 1.0], [0.0, 0.0]]).view(1, 1, 2, 2)
    true = torch.tensor([[1.0, 1.0], [0.0, 1.0]]).view(1, 1, 2, 2)
    assert seg_loss(pred, true)["loss"].item() == pytest.approx((0.25 + 1.0) / 4)


def test_losses_stay_fp32_under_bf16_autocast():
    # bf16 rounds the small band-pass differences of the pyramid; the loss must be computed in fp32 anyway.
    torch.manual_seed(0)
    pred, true = torch.rand(2, 1, 32, 32), torch.rand(2, 1, 32, 32)
    bnd = torch.randn(2, 1, 32, 32)
    plain = matte_loss(pred, bnd, true)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = matte_loss(pred.bfloat16(), bnd, true)
    assert mixed["loss"].dtype == torch.float32
    assert mixed["lap"].item() == pytest.approx(laplacian_loss(pred.bfloat16().float(), true).item(), rel=1e-6)
    assert mixed["loss"].item() == pytest.approx(plain["loss"].item(), rel=1e-2)
