"""The threaded pipeline: the newest-frame slot, parallel matting workers, failures and decode errors
mid-run, the webcam run on a file, and the video benchmark's pipeline timings."""

from __future__ import annotations

import numpy as np
import pytest

av = pytest.importorskip("av")

from wsshm_rt.errors import WsshmError  # noqa: E402
from wsshm_rt.video import LatestSlot, matte_video, run_webcam  # noqa: E402
from wsshm_rt.video.sources import VideoFileSource  # noqa: E402

from .conftest import FRAMES, decode, no_temp_files  # noqa: E402


def test_latest_slot_keeps_only_the_newest():
    slot = LatestSlot()
    for i in range(5):
        slot.put(i)
    assert slot.get(timeout=1) == 4 and slot.dropped == 4


def test_parallel_workers_keep_frame_order_and_smoothing(clips, matter, tmp_path):
    from wsshm_rt.images import load_image

    outputs = {}
    for workers in (1, 3):
        out = tmp_path / f"w{workers}"
        result = matte_video(clips / "clip.mp4", out, matter, mode="matte", smooth=True, progress=False,
                             workers=workers)
        assert result.frames == FRAMES
        outputs[workers] = [load_image(f) for f in sorted(out.glob("*.png"))]
    assert len(outputs[3]) == FRAMES
    assert all(np.array_equal(a, b) for a, b in zip(outputs[1], outputs[3]))
    assert not all(np.array_equal(outputs[1][0], b) for b in outputs[1][1:])  # the frames do differ


def test_a_failing_worker_ends_the_run_with_its_error(clips, matter, tmp_path, monkeypatch):
    from wsshm_rt.frames import FrameMatter

    calls = []

    def infer(self, rgb):
        calls.append(1)
        if len(calls) == 5:
            raise WsshmError("inference failed on frame 5")
        return original(self, rgb)

    original = FrameMatter.infer
    monkeypatch.setattr(FrameMatter, "infer", infer)
    with pytest.raises(WsshmError, match="frame 5"):
        matte_video(clips / "clip.mp4", tmp_path / "o.mp4", matter, progress=False, workers=2)
    assert not (tmp_path / "o.mp4").exists() and no_temp_files(tmp_path)


def _failing_decoder(src, after: int):
    real, count = src._decoder, [0]

    class Failing:
        name = real.name

        def decode(self, packet):
            for frame in real.decode(packet):
                if count[0] >= after:
                    raise av.error.InvalidDataError(1094995529, "Invalid data found when processing input")
                count[0] += 1
                yield frame

    src._decoder = Failing()


def _open_failing_after(after: int):
    from wsshm_rt.video.sources import open_source

    def open_failing(spec, fps=None):
        src = open_source(spec, fps)
        _failing_decoder(src, after)
        return src

    return open_failing


def test_decode_error_mid_stream_ends_gracefully(clips, matter, tmp_path, monkeypatch):
    from wsshm_rt.video import api

    monkeypatch.setattr(api, "open_source", _open_failing_after(5))
    out = tmp_path / "out.webm"
    result = matte_video(clips / "clip.mp4", out, matter, progress=False)
    assert result.frames == 5 and result.truncated
    assert len(decode(out)[0]) == 5
    assert no_temp_files(tmp_path)


def test_zero_frames_is_an_error_and_leaves_no_file(clips, matter, tmp_path, monkeypatch):
    from wsshm_rt.video import api

    monkeypatch.setattr(api, "open_source", _open_failing_after(0))
    with pytest.raises(WsshmError, match="no video frames"):
        matte_video(clips / "clip.mp4", tmp_path / "zero.mp4", matter, progress=False)
    assert not list(tmp_path.iterdir())


def test_headless_webcam_pipeline_on_a_file(clips, matter, tmp_path):
    out = tmp_path / "live.mp4"
    result = run_webcam(matter, source=clips / "clip.mp4", backgrounds=["blur"], window=False, output=out,
                        smooth=True, progress=False)
    assert result.frames == len(decode(out)[0]) == FRAMES


def test_video_bench_speed_table_runs_every_column(clips, video_model, tmp_path):
    from wsshm_rt.bench.video_bench import STAGES, speed_table

    frame = next(iter(VideoFileSource(clips / "clip.mp4"))).rgb
    (row,) = speed_table(video_model, clips / "clip.mp4", frame, [64], tmp_path, threads=1)
    assert row["short_side"] == 64
    assert all(row[k] > 0 for k in ("model_fps", "e2e_fps", "e2e_workers_fps", "sequential_fps"))
    assert tuple(row["stages_ms"]) == STAGES and all(v > 0 for v in row["stages_ms"].values())
