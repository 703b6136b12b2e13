"""The datasets: keyed samples, two views of one geometry, composites, the mix of both, bad files skipped."""

from types import SimpleNamespace

import numpy as np
import pytest

from wsshm_rt.training import data
from wsshm_rt.training.config import TrainConfig
from wsshm_rt.training.data import SampleKey
from wsshm_rt.training.sampler import MultiScaleBatchSampler

from ..conftest import make_matte, make_seg, relayout, warnings_of


def _cfg(**kw):
    return SimpleNamespace(**{**vars(TrainConfig()), **kw})


def test_p3m_mattes_are_binarised_as_segmentation_labels(tmp_path):
    root = relayout(make_matte(tmp_path / "p3m", n=2), "original_image", "mask")
    pairs = data.find_pairs(root, "segmentation")
    s = data.SegDataset(pairs, _cfg())[SampleKey(0, 32, (0,))]
    assert len(pairs) == 2 and set(np.unique(s["true_seg"])) == {0.0, 1.0}


def test_views_share_geometry_and_samples_are_keyed(tiny_data):
    pairs = data.find_pairs(tiny_data["seg"], "segmentation")
    quiet = data.SegDataset(pairs, _cfg(jitter=0.0, blur_p=0.0, gray_p=0.0, jpeg_p=0.0), two_views=True)
    s = quiet[SampleKey(1, 48, (0, 0, 0, 0, 0))]
    assert s["src"].shape == (3, 48, 48) and s["true_seg"].shape == (1, 48, 48)
    assert np.array_equal(s["src"], s["src_strong"])  # no photometric noise: the views are the same crop
    assert set(np.unique(s["true_seg"])) <= {0.0, 1.0}
    noisy = data.SegDataset(pairs, _cfg(jitter=0.4), two_views=True)
    a, b = noisy[SampleKey(1, 48, (0, 0, 0, 0, 0))], noisy[SampleKey(1, 48, (0, 0, 0, 0, 0))]
    assert np.array_equal(a["src_strong"], b["src_strong"])  # same key, same sample
    assert np.array_equal(a["src"], s["src"]) and not np.array_equal(a["src"], a["src_strong"])


def test_matte_composites_change_background_each_time(tiny_data):
    pairs = data.find_pairs(tiny_data["matte"], "matte")
    ds = data.MatteDataset(pairs, _cfg(), data.find_backgrounds(tiny_data["bg"]))
    a, b = ds[SampleKey(0, 40, (0, 0, 0, 0, 0))], ds[SampleKey(0, 40, (0, 1, 0, 0, 0))]
    assert a["src"].shape == (3, 40, 40) and 0 <= a["true_pha"].min() and a["true_pha"].max() <= 1
    assert not np.array_equal(a["src"], b["src"])
    c1, p1 = data.fixed_composite(pairs[0], ds.backgrounds, seed=0)
    c2, p2 = data.fixed_composite(pairs[0], ds.backgrounds, seed=0)
    assert np.array_equal(c1, c2) and c1.shape[:2] == p1.shape


def test_truncated_file_is_skipped_at_load_time(tmp_path, caplog):
    root = make_seg(tmp_path / "s", n=3)
    pairs = data.find_pairs(root, "segmentation")
    img = pairs[0].image
    img.write_bytes(img.read_bytes()[:200])  # passes the header check, fails to decode
    ds = data.SegDataset(pairs, _cfg())
    ds[SampleKey(0, 32, (0,))]
    ds[SampleKey(0, 32, (1,))]
    assert sum("skipping" in w for w in warnings_of(caplog)) == 1


def test_workers_do_not_change_the_samples(tiny_data):
    torch = pytest.importorskip("torch")
    from wsshm_rt.training.loop import _worker_context, _worker_init

    pairs = data.find_pairs(tiny_data["seg"], "segmentation")
    ds = data.SegDataset(pairs, _cfg(), two_views=True)

    def batches(workers):
        # Workers as training starts them (loop.make_loader): from a fork server, never forked from this process,
        # whose thread pools earlier tests have run (a plain fork then gave a few NaNs after test_quantize.py).
        s = MultiScaleBatchSampler(len(ds), 2, [32, 48], seed=0)
        context = {"multiprocessing_context": _worker_context(), "worker_init_fn": _worker_init} if workers else {}
        return list(torch.utils.data.DataLoader(ds, batch_sampler=s, num_workers=workers, **context))

    for a, b in zip(batches(0), batches(2)):
        assert all(torch.equal(a[k], b[k]) for k in a)


def test_matte_mix_holds_both_kinds_with_the_same_keys(tiny_data):
    cfg = _cfg()
    seg = data.SegDataset(data.find_pairs(tiny_data["seg"], "segmentation"), cfg, two_views=True)
    matte = data.MatteDataset(data.find_pairs(tiny_data["matte"], "matte"), cfg, data.find_backgrounds(tiny_data["bg"]))
    keys = [SampleKey(i % len(seg), 40, (0, 0, b, i)) for b in range(10) for i in range(4)]
    none, half = data.MixedDataset(seg, matte, 0.0), data.MixedDataset(seg, matte, 0.5)
    for k in keys[:4]:  # p = 0: exactly the photo sample, flagged as such
        s, plain = none[k], seg[k]
        assert s["is_matte"].item() == 0 and all(np.array_equal(s[n], plain[n]) for n in plain)
    samples = [half[k] for k in keys]
    assert {n: v.shape for n, v in samples[0].items()} == {n: v.shape for n, v in samples[-1].items()}
    flags = [s["is_matte"].item() for s in samples]
    assert 0.2 < np.mean(flags) < 0.8  # both kinds, about half each
    comp = next(s for s in samples if s["is_matte"].item() == 1)
    soft = (comp["true_pha"] > 0.01) & (comp["true_pha"] < 0.99)
    assert soft.any()  # a composite keeps its soft alpha as the target
    assert np.array_equal(comp["true_seg"], (comp["true_pha"] > 0.5).astype(np.float32))
    assert np.array_equal(half[keys[5]]["src"], half[keys[5]]["src"])  # keyed: the same key, the same sample
