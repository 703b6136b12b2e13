"""The EMA teacher of MLB: teacher = m * teacher + (1 - m) * student, frozen and in eval mode.

Made after ``.to(device)`` and before DDP, never wrapped by DDP (timm's ModelEmaV2 convention).
Buffers: floating-point buffers (BatchNorm running mean/var) are averaged with the same m, like timm, so the
teacher's statistics stay matched to its averaged weights; integer buffers (num_batches_tracked) are copied.
"""

from __future__ import annotations

import torch
from torch import nn


def freeze(model: nn.Module) -> nn.Module:
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


@torch.no_grad()
def ema_update(teacher: nn.Module, student: nn.Module, momentum: float) -> None:
    """In place on ``teacher``; ``student`` must be the bare module (``ddp.module``), same architecture."""
    t_state, s_state = teacher.state_dict(), student.state_dict()
    for name, t in t_state.items():
        s = s_state[name].detach()
        if t.is_floating_point():
            t.mul_(momentum).add_(s.to(t.dtype), alpha=1 - momentum)
        else:
            t.copy_(s)


def same_architecture(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(sa[k].shape == sb[k].shape for k in sa)
