"""matte_video's foreground estimate, FrameMatter on real frames, and split_workers (the worker/thread split)."""

from __future__ import annotations

import os

import numpy as np
import pytest

av = pytest.importorskip("av")

from wsshm_rt.errors import WsshmError  # noqa: E402
from wsshm_rt.video import matte_video, split_workers  # noqa: E402
from wsshm_rt.video.sources import VideoFileSource  # noqa: E402


def test_composites_use_the_inference_size_foreground_unless_asked(clips, matter, tmp_path):
    from wsshm_rt.compose import replace_background
    from wsshm_rt.frames import FrameMatter
    from wsshm_rt.images import load_image

    rgb = next(iter(VideoFileSource(clips / "clip.mp4"))).rgb
    alpha, lowres = FrameMatter(matter).matte(rgb)
    assert lowres[0].shape == (64, 85, 3) and lowres[1].shape == (64, 85)  # 128x96 matted at shorter side 64
    fast = replace_background(rgb, alpha, "#0000ff", lowres=lowres)
    full = replace_background(rgb, alpha, "#0000ff")
    assert not np.array_equal(fast, full)
    for name, expected, full_res in (("fast", fast, False), ("full", full, True)):
        matte_video(clips / "clip.mp4", tmp_path / name, matter, background="#0000ff", progress=False,
                    full_res_foreground=full_res)
        first = sorted((tmp_path / name).glob("*.png"))[0]
        assert np.array_equal(load_image(first), expected)
    assert FrameMatter(matter).matte(lowres[0])[1] is None  # a frame at the inference size: nothing to upsample


def test_a_video_frame_gets_the_same_matte_as_a_still_image(clips):
    from wsshm_rt.frames import FrameMatter
    from wsshm_rt.matter import Matter, default_model_path

    tiny_onnx = default_model_path()  # the trained model: an untrained one gives a near-constant alpha
    rgb = next(iter(VideoFileSource(clips / "clip.mp4"))).rgb
    m = Matter(tiny_onnx, short_side=64, threads=1, tta="flip")  # flip+scale (the default) is for stills only
    still, frame = m.predict(rgb), FrameMatter(m)(rgb)
    # The same guided refinement; the grey guide is made from the frame downscaled once instead of per call.
    assert np.abs(still - frame).max() < 0.02, np.abs(still - frame).max()
    guided = FrameMatter(Matter(tiny_onnx, short_side=64, threads=1))(rgb)
    light = FrameMatter(Matter(tiny_onnx, short_side=64, threads=1, refine="none"))(rgb)
    assert np.abs(guided - light).max() > 0.05, np.abs(guided - light).max()  # 0.098


def test_split_workers_on_a_cpu_gives_two_workers_half_the_cores_each():
    assert split_workers("cpu", cores=8) == (2, 4)
    assert split_workers("cpu", cores=3) == (2, 1)
    assert split_workers("cpu", cores=1) == (2, 1)  # never 0 threads
    assert split_workers("cpu") == (2, max(1, (os.cpu_count() or 2) // 2))  # the machine's cores by default
    assert split_workers("cpu", threads=3, cores=8) == (2, 3)  # threads given: kept


def test_split_workers_keeps_what_is_given_and_one_worker_on_a_gpu():
    assert split_workers("cuda", cores=8) == (1, None)
    assert split_workers("cuda", threads=2) == (1, 2)
    assert split_workers("cpu", workers=3, cores=8) == (3, None)  # the engine's default threads, as before
    assert split_workers("cpu", workers=1, threads=4) == (1, 4)
    assert split_workers("cuda", workers=np.int64(2)) == (2, None)


def test_split_workers_refuses_a_count_that_is_not_a_positive_whole_number():
    with pytest.raises(WsshmError, match="workers must be at least 1, not 0"):
        split_workers("cpu", workers=0)
    with pytest.raises(WsshmError, match="workers must be a whole number or None"):
        split_workers("cpu", workers=1.5)
