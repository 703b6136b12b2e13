"""The batch sampler: one crop side per batch, resumable mid-epoch, sharded across ranks."""

from wsshm_rt.training.sampler import MultiScaleBatchSampler, crop_sides


def test_sampler_resumes_mid_epoch_and_shards():
    s = MultiScaleBatchSampler(10, 3, crop_sides(64, 128, 32), seed=0)
    assert len(s) == 3 and crop_sides(64, 128, 32) == [64, 96, 128]
    s.set_epoch(1)
    full = list(s)
    s.set_epoch(1, start_batch=2)
    assert list(s) == full[2:]
    assert all(len({k.side for k in b}) == 1 for b in full)
    ranks = [MultiScaleBatchSampler(10, 2, [64], 0, rank=r, world=2) for r in (0, 1)]
    idx = [[k.index for b in r for k in b] for r in ranks]
    assert not set(idx[0]) & set(idx[1])


def test_crop_side_varies_per_batch_not_within():
    s = MultiScaleBatchSampler(64, 4, crop_sides(320, 640, 32), seed=3)
    sides = [b[0].side for b in s]
    assert len(set(sides)) > 3 and all(320 <= x <= 640 and x % 32 == 0 for x in sides)
