"""Multi-scale, sharded, resumable batch sampler.

Each batch gets ONE square crop side drawn from crop_min..crop_max (a batch must stack), the same on every rank.
The order of an epoch is a permutation seeded by (seed, epoch) and sharded over ranks like DistributedSampler.
A run resumed at step k starts mid-epoch at the exact batch an uninterrupted run would see.
"""

from __future__ import annotations

import numpy as np

from .data import SampleKey


class MultiScaleBatchSampler:
    def __init__(self, n: int, batch_size: int, sides: list[int], seed: int, rank: int = 0, world: int = 1):
        self.n, self.batch_size, self.sides = n, batch_size, sides
        self.seed, self.rank, self.world = seed, rank, world
        self.epoch, self.start_batch = 0, 0

    def __len__(self) -> int:
        """Batches per epoch; at least one, wrapping around a set smaller than a batch."""
        per_rank = -(-self.n // self.world)
        return max(1, per_rank // self.batch_size)

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        self.epoch, self.start_batch = epoch, start_batch

    def __iter__(self):
        order = np.random.default_rng([self.seed, self.epoch]).permutation(self.n)
        need = len(self) * self.batch_size * self.world
        order = np.resize(order, need)  # pads by wrapping, like DistributedSampler, so ranks get equal shares
        mine = order[self.rank::self.world]
        for b in range(self.start_batch, len(self)):
            side = self.sides[np.random.default_rng([self.seed, self.epoch, b, 1]).integers(len(self.sides))]
            idx = mine[b * self.batch_size:(b + 1) * self.batch_size]
            yield [SampleKey(int(i), int(side), (self.seed, self.epoch, b, self.rank, j)) for j, i in enumerate(idx)]


def crop_sides(crop_min: int, crop_max: int, step: int) -> list[int]:
    sides = list(range(crop_min, crop_max + 1, step))
    return sides if sides[-1] == crop_max else sides + [crop_max]


def batches_from(sampler: MultiScaleBatchSampler, make_loader, step: int):
    """Yield batches forever from global step ``step`` on: epoch and in-epoch position follow from the step."""
    epoch, start = divmod(step, len(sampler))
    while True:
        sampler.set_epoch(epoch, start)
        yield from make_loader(sampler)
        epoch, start = epoch + 1, 0
