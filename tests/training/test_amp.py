"""Mixed precision and memory layout of the training loop: what runs in bf16, where, and that it still learns."""

import contextlib

import pytest

torch = pytest.importorskip("torch")

from wsshm_rt.training import loop  # noqa: E402
from wsshm_rt.training.config import make_config  # noqa: E402

CPU = torch.device("cpu")


@pytest.mark.parametrize("native, amp, expect", [(True, "bf16", torch.bfloat16), (False, "bf16", None),
                                                 (True, "off", None), (True, "fp16", None)])
def test_cpu_autocast_only_with_native_bf16(monkeypatch, native, amp, expect):
    monkeypatch.setattr(loop, "cpu_has_native_bf16", lambda: native)
    ctx, scaler = loop.amp_context(make_config({"amp": amp}), CPU)
    assert not scaler.is_enabled()
    if expect is None:
        assert isinstance(ctx, contextlib.nullcontext)
    else:
        with ctx:
            assert torch.mm(torch.ones(2, 2), torch.ones(2, 2)).dtype == expect


def test_a_bf16_channels_last_step_lowers_the_loss(monkeypatch):
    """The real model, one batch, a few Adam steps in bf16 autocast with NHWC tensors: the loss must fall."""
    from wsshm_rt.models import create_model
    from wsshm_rt.training.losses import matte_loss

    monkeypatch.setattr(loop, "cpu_has_native_bf16", lambda: True)
    torch.manual_seed(0)
    model = create_model("r18-0.5").to(memory_format=torch.channels_last)
    src = torch.randn(2, 3, 64, 64).contiguous(memory_format=torch.channels_last)
    true = (torch.arange(64).view(1, 1, 1, 64).expand(2, 1, 64, 64) < 32).float()
    ctx, _ = loop.amp_context(make_config({"amp": "bf16"}), CPU)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(8):
        with ctx:
            pha, bnd = model(src)
            parts = matte_loss(pha, bnd, true)
        opt.zero_grad()
        parts["loss"].backward()
        opt.step()
        losses.append(parts["loss"].item())
    assert all(p.dtype == torch.float32 for p in model.parameters())  # master weights stay fp32
    assert losses[-1] < 0.8 * losses[0]
