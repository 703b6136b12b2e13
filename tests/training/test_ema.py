import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from wsshm_rt.training.ema import ema_update, freeze, same_architecture  # noqa: E402


def net(fill):
    m = nn.Sequential(nn.Conv2d(1, 2, 1), nn.BatchNorm2d(2))
    with torch.no_grad():
        for t in m.state_dict().values():
            t.fill_(fill)
    return m


def test_ema_maths_on_params_and_buffers():
    teacher, student = freeze(net(1.0)), net(3.0)
    ema_update(teacher, student, momentum=0.9)
    assert torch.allclose(teacher[0].weight, torch.full_like(teacher[0].weight, 0.9 * 1 + 0.1 * 3))
    assert torch.allclose(teacher[1].running_mean, torch.full((2,), 1.2))   # float buffers: averaged
    assert teacher[1].num_batches_tracked.item() == 3                       # integer buffers: copied
    assert torch.equal(student[0].weight, torch.full_like(student[0].weight, 3.0))


def test_m_one_keeps_teacher_m_zero_copies_student():
    teacher, student = net(1.0), net(3.0)
    ema_update(teacher, student, 1.0)
    assert teacher[0].weight.eq(1.0).all()
    ema_update(teacher, student, 0.0)
    assert teacher[0].weight.eq(3.0).all()


def test_freeze_and_same_architecture():
    teacher = freeze(net(0.0))
    assert not teacher.training and not any(p.requires_grad for p in teacher.parameters())
    assert same_architecture(teacher, net(1.0))
    assert not same_architecture(teacher, nn.Sequential(nn.Conv2d(1, 3, 1)))
