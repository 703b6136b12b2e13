import pytest
import torch

from wsshm_rt.errors import WsshmError
from wsshm_rt.models import create_model, list_models


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in ("r101", "r18") else n
                                  for n in list_models()])
def test_forward_backward_every_model(name):
    torch.manual_seed(0)
    model = create_model(name).train()
    # timm zero-initialises the last BN of each residual block (good for training), which makes the
    # first backward pass give exact zeros upstream of it; undo that so a zero means "disconnected".
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            torch.nn.init.ones_(m.weight)
    x = torch.randn(2, 3, 70, 45)  # deliberately not a multiple of 32
    pha, bnd = model(x)
    assert pha.shape == bnd.shape == (2, 1, 70, 45)
    assert 0 <= pha.min() and pha.max() <= 1
    (pha.mean() + bnd.mean()).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing, f"parameters without a finite gradient: {missing[:5]}"
    zero = [n for n, p in model.named_parameters() if p.grad.abs().sum() == 0]
    assert not zero, f"parameters whose gradient is exactly zero: {zero[:5]}"


def test_stem_maxpool_removed_and_strides():
    model = create_model("r18-0.5").eval()
    assert isinstance(model.encoder.maxpool, torch.nn.Identity)
    with torch.no_grad():
        feats = model.encoder(torch.zeros(1, 3, 64, 64))
    assert [f.shape[-1] for f in feats] == [32, 16, 8, 4]  # strides 2, 4, 8, 16
    assert [f.shape[1] for f in feats] == [32, 64, 128, 256]  # half-width ResNet-18
    assert model.encoder.conv1.out_channels == 32


def test_registry_errors():
    with pytest.raises(WsshmError, match="unknown model"):
        create_model("r50")
    with pytest.raises(WsshmError, match="half-width"):
        create_model("r18-0.5", pretrained=True)
