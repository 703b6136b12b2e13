"""Video: sources/sinks and codecs, the threaded pipeline, alpha filters and dtSSD, the video/webcam CLI.

Everything runs on short generated clips (12-16 frames at 96x128 with a sine-tone track) and an untrained
r18-0.5 at a 64 px short side: the tests check plumbing, not matte quality.
"""

from __future__ import annotations

import os

import cv2
import numpy as np
import pytest

av = pytest.importorskip("av")

from wsshm_rt.errors import WsshmError  # noqa: E402
from wsshm_rt.video import LatestSlot, matte_video, run_webcam  # noqa: E402
from wsshm_rt.video_filters import MotionGatedSmoother, dtssd, guided_upsample  # noqa: E402
from wsshm_rt.video_io import VideoFileSource  # noqa: E402
from wsshm_rt.video_synth import moving_ellipse, write_clip  # noqa: E402

FRAMES = 12


@pytest.fixture(scope="session")
def video_model(tmp_path_factory):
    from wsshm_rt.export.api import export_onnx_file

    return export_onnx_file(tmp_path_factory.mktemp("video-model") / "r18-0.5.onnx", model="r18-0.5")


@pytest.fixture(scope="session")
def matter(video_model):
    from wsshm_rt.matter import Matter

    return Matter(video_model, short_side=64)


@pytest.fixture(scope="session")
def clips(tmp_path_factory):
    """The same 12-frame clip as .mp4 (H.264 + AAC) and .mkv (streamable, for truncation)."""
    folder = tmp_path_factory.mktemp("clips")
    frames, _ = moving_ellipse(FRAMES, 96, 128)
    for suffix in (".mp4", ".mkv"):
        write_clip(folder / f"clip{suffix}", frames)
    return folder


def decode(path, decoder: str | None = None):
    """All video frames of ``path`` (optionally through a named decoder), and the container's audio streams."""
    with av.open(str(path)) as c:
        audio = [(s.codec_context.name, _duration(c, s)) for s in c.streams.audio]
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        if decoder is None:
            return list(c.decode(stream)), audio
        ctx = av.codec.CodecContext.create(decoder, "r")
        frames = [f for p in c.demux(stream) if p.size for f in ctx.decode(p)]
        return frames, audio


def _duration(container, stream) -> float:
    """Seconds from the first to the end of the last packet of ``stream``."""
    packets = [p for p in container.demux(stream) if p.pts is not None]
    return float((packets[-1].pts + packets[-1].duration - packets[0].pts) * stream.time_base)


def no_temp_files(folder) -> bool:
    return not [p for p in folder.iterdir() if ".tmp" in p.name]


# ---------------------------------------------------------------- dtSSD, smoothing, guided upsampling


def test_dtssd_known_values():
    true = [np.zeros((4, 4)), np.full((4, 4), 0.5), np.full((4, 4), 0.5)]
    assert dtssd(true, true) == 0.0
    offset = [a + 0.2 for a in true]  # a constant error does not flicker
    assert dtssd(offset, true) == pytest.approx(0.0, abs=1e-9)
    pred = [np.zeros((4, 4)), np.full((4, 4), 0.6), np.full((4, 4), 0.5)]  # changes of +0.6, -0.1 vs +0.5, 0
    assert dtssd(pred, true) == pytest.approx(100 * (0.1 + 0.1) / 2)


def test_dtssd_flickering_worse_than_stable():
    rng = np.random.default_rng(0)
    true = [np.full((8, 8), 0.5)] * 6
    stable = [t + 0.05 for t in true]
    flicker = [t + rng.normal(0, 0.05, t.shape) for t in true]
    assert dtssd(flicker, true) > dtssd(stable, true) + 1.0


def test_smoothing_cuts_flicker_on_static_noisy_alpha():
    rng = np.random.default_rng(1)
    frame = np.full((32, 32), 0.4, np.float32)
    true = [np.full((32, 32), 0.5, np.float32)] * 20
    noisy = [np.clip(t + rng.normal(0, 0.1, t.shape), 0, 1).astype(np.float32) for t in true]
    smoother = MotionGatedSmoother(0.7)
    smoothed = [smoother(a, frame) for a in noisy]
    assert dtssd(smoothed, true) < 0.6 * dtssd(noisy, true)


def test_smoothing_does_not_smear_a_moving_edge():
    """A bright square moving 3 px a frame: the smoothed alpha's edge stays within a pixel of the true edge."""
    smoother = MotionGatedSmoother(0.9)
    for i in range(10):
        alpha = np.zeros((32, 64), np.float32)
        alpha[:, : 10 + 3 * i] = 1.0
        frame = 0.2 + 0.6 * alpha
        out = smoother(alpha, frame)
        edge = (out[16] > 0.5).sum()  # columns inside the person on one row
        assert abs(edge - (10 + 3 * i)) <= 1
    # and without the motion gate (threshold huge) the same EMA does smear
    ema = MotionGatedSmoother(0.9, threshold=1e9)
    for i in range(10):
        alpha = np.zeros((32, 64), np.float32)
        alpha[:, : 10 + 3 * i] = 1.0
        out = ema(alpha, 0.2 + 0.6 * alpha)
    assert abs((out[16] > 0.5).sum() - 37) > 3


def test_guided_upsample_follows_image_edges():
    big = np.zeros((64, 64), np.float32)
    big[:, 29:] = 1.0  # an edge that does not sit on the 4x grid
    frame = np.repeat((40 + 180 * big)[..., None], 3, axis=2).astype(np.uint8)
    import cv2

    small = cv2.resize(big, (16, 16), interpolation=cv2.INTER_AREA)
    bilinear = cv2.resize(small, (64, 64), interpolation=cv2.INTER_LINEAR)
    guided = guided_upsample(small, frame)
    assert guided.shape == (64, 64) and guided.dtype == np.float32
    assert np.abs(guided - big).mean() < 0.5 * np.abs(bilinear - big).mean()


def test_latest_slot_keeps_only_the_newest():
    slot = LatestSlot()
    for i in range(5):
        slot.put(i)
    assert slot.get(timeout=1) == 4 and slot.dropped == 4


# ---------------------------------------------------------------- files in, files out


def test_composite_keeps_frame_count_and_audio(clips, matter, tmp_path):
    out = tmp_path / "green.mp4"
    result = matte_video(clips / "clip.mp4", out, matter, background="#00ff00", progress=False)
    frames, audio = decode(out)
    assert result.frames == len(frames) == FRAMES and not result.truncated
    assert frames[0].width == 128 and frames[0].height == 96
    assert len(audio) == 1 and audio[0][0] == "aac"  # copied as is
    assert audio[0][1] == pytest.approx(FRAMES / 25, abs=0.1)
    assert no_temp_files(tmp_path)


def test_composites_use_the_inference_size_foreground_unless_asked(clips, matter, tmp_path):
    from wsshm_rt.compose import replace_background
    from wsshm_rt.images import load_image
    from wsshm_rt.video import FrameMatter

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
    from wsshm_rt.video import FrameMatter

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


@pytest.mark.parametrize("suffix, decoder, pix_fmt", [(".webm", "libvpx-vp9", "yuva420p"),
                                                      (".mov", None, "yuva444p"), (".mkv", None, "yuva420p")])
def test_alpha_video_has_an_alpha_channel(clips, matter, tmp_path, suffix, decoder, pix_fmt):
    out = tmp_path / f"alpha{suffix}"
    matte_video(clips / "clip.mp4", out, matter, alpha=True, progress=False)
    frames, audio = decode(out, decoder)
    assert len(frames) == FRAMES
    assert frames[0].format.name.startswith(pix_fmt)
    assert frames[0].to_ndarray(format="rgba").shape == (96, 128, 4)
    assert len(audio) == 1 and audio[0][1] == pytest.approx(FRAMES / 25, abs=0.1)  # .webm: transcoded to Opus


def test_webm_alpha_is_read_back_by_our_source(clips, matter, tmp_path):
    out = tmp_path / "alpha.webm"
    matte_video(clips / "clip.mp4", out, matter, alpha=True, progress=False)
    src = VideoFileSource(out)
    assert src._decoder.name == "libvpx-vp9" and len(list(src)) == FRAMES
    src.close()


def test_png_sequence_is_rgba(clips, matter, tmp_path):
    import cv2

    out = tmp_path / "frames"
    matte_video(clips / "clip.mp4", out, matter, alpha=True, progress=False)
    files = sorted(out.glob("frame_*.png"))
    assert len(files) == FRAMES
    assert cv2.imread(str(files[0]), cv2.IMREAD_UNCHANGED).shape == (96, 128, 4)


def test_truncated_video_keeps_the_frames_read(clips, matter, tmp_path):
    data = (clips / "clip.mkv").read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[: len(data) // 2])
    out = tmp_path / "out.mp4"
    result = matte_video(cut, out, matter, progress=False)
    frames, _ = decode(out)
    assert 0 < result.frames == len(frames) < FRAMES and result.truncated
    assert no_temp_files(tmp_path)


def test_a_phone_video_with_a_display_rotation_is_matted_upright(matter, tmp_path):
    """Phones store portrait video as landscape frames plus a display rotation: the frames are turned upright first."""
    frames, masks = moving_ellipse(6, 96, 128)
    sideways = [np.ascontiguousarray(np.rot90(f, -1)) for f in frames]  # as the phone's sensor stores it
    write_clip(tmp_path / "phone.mp4", sideways, audio=False, rotation=90)  # "turn 90 degrees counter-clockwise"
    src = VideoFileSource(tmp_path / "phone.mp4")
    assert src.size == (128, 96)  # (width, height) as a player shows it
    upright = next(iter(src)).rgb
    src.close()
    assert upright.shape == (96, 128, 3)
    assert np.abs(upright.astype(int) - frames[0].astype(int)).mean() < 6  # H.264 loss only
    out = tmp_path / "out.mp4"
    matte_video(tmp_path / "phone.mp4", out, matter, mode="matte", progress=False)
    written, _ = decode(out)
    assert (written[0].height, written[0].width) == (96, 128) and not written[0].rotation  # written upright


@pytest.mark.parametrize("fps", ["0", "-5", "1e-9", "nan", "5000"])
def test_a_frame_rate_out_of_range_is_one_sentence(fps, video_model, tmp_path, capsys):
    from wsshm_rt.cli import main
    from wsshm_rt.video_synth import moving_ellipse

    frames, _ = moving_ellipse(2, 32, 32)
    (tmp_path / "frames").mkdir()
    for i, f in enumerate(frames):
        cv2.imwrite(str(tmp_path / f"frames/{i:03d}.png"), f[:, :, ::-1])
    with pytest.raises(SystemExit) as exc:
        main(["video", str(tmp_path / "frames"), "-o", str(tmp_path / "o.mp4"), "-m", str(video_model),
              "--fps", fps, "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert exc.value.code == 2 and len(err) == 1 and "--fps must be a frame rate from 0.1 to 1000" in err[0], err
    assert not (tmp_path / "o.mp4").exists()


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts open files through /proc (Linux)")
def test_an_aborted_output_with_audio_closes_the_audio_input(clips, tmp_path):
    from fractions import Fraction

    from wsshm_rt.video_io import VideoFileSink

    open_files = lambda: len(os.listdir("/proc/self/fd"))  # noqa: E731
    before = open_files()
    for _ in range(4):
        VideoFileSink(tmp_path / "x.mp4", Fraction(25), (128, 96), audio_from=clips / "clip.mp4").abort()
    assert open_files() == before and not list(tmp_path.iterdir())


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
    from wsshm_rt.video_io import open_source

    def open_failing(spec, fps=None):
        src = open_source(spec, fps)
        _failing_decoder(src, after)
        return src

    return open_failing


def test_decode_error_mid_stream_ends_gracefully(clips, matter, tmp_path, monkeypatch):
    from wsshm_rt import video

    monkeypatch.setattr(video, "open_source", _open_failing_after(5))
    out = tmp_path / "out.webm"
    result = matte_video(clips / "clip.mp4", out, matter, progress=False)
    assert result.frames == 5 and result.truncated
    assert len(decode(out)[0]) == 5
    assert no_temp_files(tmp_path)


def test_zero_frames_is_an_error_and_leaves_no_file(clips, matter, tmp_path, monkeypatch):
    from wsshm_rt import video

    monkeypatch.setattr(video, "open_source", _open_failing_after(0))
    with pytest.raises(WsshmError, match="no video frames"):
        matte_video(clips / "clip.mp4", tmp_path / "zero.mp4", matter, progress=False)
    assert not list(tmp_path.iterdir())


def test_bad_inputs_are_one_sentence_errors(matter, tmp_path):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video" * 50)
    with pytest.raises(WsshmError, match="not a readable video"):
        matte_video(junk, tmp_path / "o.mp4", matter, progress=False)
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(WsshmError, match="empty"):
        matte_video(tmp_path / "empty.mp4", tmp_path / "o.mp4", matter, progress=False)
    with pytest.raises(WsshmError, match="does not exist"):
        matte_video(tmp_path / "missing.mp4", tmp_path / "o.mp4", matter, progress=False)
    with pytest.raises(WsshmError, match="unsupported output"):
        matte_video(junk, tmp_path / "o.gif", matter, progress=False)
    with pytest.raises(WsshmError, match="cannot hold an alpha"):
        matte_video(junk, tmp_path / "o.mp4", matter, alpha=True, progress=False)


def test_output_that_is_the_input_is_refused(clips, matter, tmp_path):
    """The output replaces its name only when finished: writing over the input would silently destroy it."""
    src = tmp_path / "talk.mp4"
    src.write_bytes((clips / "clip.mp4").read_bytes())
    with pytest.raises(WsshmError, match="is the input"):
        matte_video(src, tmp_path / "." / "talk.mp4", matter, progress=False)
    with pytest.raises(WsshmError, match="is the input"):
        run_webcam(matter, source=src, window=False, output=src)
    assert src.read_bytes() == (clips / "clip.mp4").read_bytes()


def test_unwritable_output_is_one_sentence(clips, video_model, tmp_path, capsys):
    from wsshm_rt.cli import main

    (tmp_path / "blocker").write_text("a file where a folder should be")
    for out in (tmp_path / "blocker" / "o.mp4", tmp_path / "blocker" / "frames"):
        with pytest.raises(SystemExit) as exc:
            main(["video", str(clips / "clip.mp4"), "-o", str(out), "-m", str(video_model), "--no-progress"])
        err = capsys.readouterr().err.strip().splitlines()
        assert exc.value.code == 2 and len(err) == 1 and "cannot write to output folder" in err[0], err


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
def test_disk_full_while_encoding_is_an_error_and_leaves_no_file(clips, matter, tmp_path):
    # The sink writes to .<name>.tmp<pid> first: pointing that name at /dev/full makes every write fail.
    (tmp_path / f".o.mp4.tmp{os.getpid()}").symlink_to("/dev/full")
    with pytest.raises(WsshmError, match="cannot write .*No space left"):
        matte_video(clips / "clip.mp4", tmp_path / "o.mp4", matter, progress=False)
    assert not list(tmp_path.iterdir())


def test_a_video_with_no_frames_is_one_sentence(video_model, tmp_path, capsys, caplog):
    """A real file whose video stream is empty (only audio was written): no warning before the error."""
    from wsshm_rt.cli import main
    from wsshm_rt.video_synth import _write_tone

    src = tmp_path / "empty-video.mkv"
    with av.open(str(src), "w") as out:
        video = out.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = 128, 96, "yuv420p"
        _write_tone(av, out, out.add_stream("aac", rate=44100), 0.4)
    with pytest.raises(SystemExit) as exc:
        main(["video", str(src), "-o", str(tmp_path / "o.mp4"), "-m", str(video_model), "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert exc.value.code == 2 and err == [f"wsshm-rt: error: {src}: no video frames could be decoded"]
    assert not caplog.records  # a truncation warning would be a second line on a terminal
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty-video.mkv"]


def test_unreadable_frame_in_an_image_folder_keeps_the_frames_before(matter, tmp_path):
    import cv2

    folder = tmp_path / "frames"
    folder.mkdir()
    frames, _ = moving_ellipse(5, 96, 128)
    for i, rgb in enumerate(frames):
        cv2.imwrite(str(folder / f"f{i}.png"), rgb[:, :, ::-1])
    (folder / "f3.png").write_bytes(b"\x89PNG cut off")
    result = matte_video(folder, tmp_path / "o.mp4", matter, progress=False)
    assert result.frames == len(decode(tmp_path / "o.mp4")[0]) == 3 and result.truncated


def test_missing_camera_names_source(matter, tmp_path):
    with pytest.raises(WsshmError, match="--source"):
        run_webcam(matter, source=37, window=False, output=tmp_path / "o.mp4")


def test_window_on_headless_machine(matter, clips, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(WsshmError, match="--no-window --output"):
        run_webcam(matter, source=clips / "clip.mp4", window=True)


def test_window_keys_cycle_and_quit(clips, matter, monkeypatch):
    """The window loop with cv2's GUI faked: 'b' cycles the background, 'a' shows alpha, 'q' quits."""
    import cv2

    from wsshm_rt import video, video_window

    keys, shown, picked = iter([ord("b"), ord("a"), ord("q")]), [], []
    monkeypatch.setattr(video, "check_gui", lambda: None)
    monkeypatch.setattr(video_window, "check_gui", lambda: None)
    monkeypatch.setattr(cv2, "imshow", lambda title, img: shown.append(img))
    monkeypatch.setattr(cv2, "waitKey", lambda ms: next(keys))
    monkeypatch.setattr(cv2, "getWindowProperty", lambda *a: 1.0)
    monkeypatch.setattr(cv2, "destroyWindow", lambda *a: None)
    real_controls = video.Controls

    def recording_controls(backgrounds):
        picked.append(real_controls(backgrounds))
        return picked[-1]

    monkeypatch.setattr(video, "Controls", recording_controls)
    result = run_webcam(matter, source=clips / "clip.mp4", backgrounds=["#0000ff"], window=True)
    assert result.frames == len(shown) == 3 and shown[0].shape == (96, 128, 3)
    controls = picked[0]
    assert [b.kind for b in controls.backgrounds] == ["color", "color", "blur"]
    assert controls.index == 1 and controls.show_alpha


def test_headless_webcam_pipeline_on_a_file(clips, matter, tmp_path):
    out = tmp_path / "live.mp4"
    result = run_webcam(matter, source=clips / "clip.mp4", backgrounds=["blur"], window=False, output=out,
                        smooth=True, progress=False)
    assert result.frames == len(decode(out)[0]) == FRAMES


# ---------------------------------------------------------------- CLI


def test_cli_video_green(clips, video_model, tmp_path):
    from typer.testing import CliRunner

    from wsshm_rt.cli import app

    out = tmp_path / "talk-green.mp4"
    res = CliRunner().invoke(app, ["video", str(clips / "clip.mp4"), "-o", str(out), "--background", "#00ff00",
                                   "--model", str(video_model), "--short-side", "64", "--no-progress"])
    assert res.exit_code == 0, res.output
    assert len(decode(out)[0]) == FRAMES


def test_cli_user_error_exits_2(video_model, tmp_path, capsys):
    from wsshm_rt.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["webcam", "--source", "37", "--no-window", "-o", str(tmp_path / "o.mp4"), "-m", str(video_model)])
    assert exc.value.code == 2
    assert "no camera found at index 37" in capsys.readouterr().err


def test_cli_workers_must_be_positive(clips, video_model, tmp_path, capsys):
    from wsshm_rt.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["video", str(clips / "clip.mp4"), "-o", str(tmp_path / "o.mp4"), "-m", str(video_model),
              "--workers", "0"])
    assert exc.value.code == 2
    assert "--workers must be at least 1" in capsys.readouterr().err
    assert not (tmp_path / "o.mp4").exists()


def test_cli_video_auto_workers_on_cpu(clips, video_model, tmp_path):
    from typer.testing import CliRunner

    from wsshm_rt.cli import app

    out = tmp_path / "full.mp4"
    res = CliRunner().invoke(app, ["video", str(clips / "clip.mp4"), "-o", str(out), "--model", str(video_model),
                                   "--short-side", "64", "--no-progress", "--full-res-foreground"])
    assert res.exit_code == 0, res.output
    assert len(decode(out)[0]) == FRAMES


def test_auto_workers_split_the_cpu_cores(video_model):
    import os

    from wsshm_rt.cli_video import _video_matter

    matter, workers = _video_matter(video_model, "onnxruntime", "cpu", 64, None, None)
    assert workers == 2
    assert matter.engine.session.get_session_options().intra_op_num_threads == max(1, (os.cpu_count() or 2) // 2)
    matter, workers = _video_matter(video_model, "onnxruntime", "cpu", 64, 3, 1)
    assert workers == 1 and matter.engine.session.get_session_options().intra_op_num_threads == 3


def test_video_bench_speed_table_runs_every_column(clips, video_model, tmp_path):
    from wsshm_rt.bench.video_bench import STAGES, speed_table

    frame = next(iter(VideoFileSource(clips / "clip.mp4"))).rgb
    (row,) = speed_table(video_model, clips / "clip.mp4", frame, [64], tmp_path, threads=1)
    assert row["short_side"] == 64
    assert all(row[k] > 0 for k in ("model_fps", "e2e_fps", "e2e_workers_fps", "sequential_fps"))
    assert tuple(row["stages_ms"]) == STAGES and all(v > 0 for v in row["stages_ms"].values())


def test_cli_video_on_openvino_in_bf16(clips, video_model, tmp_path):
    ov = pytest.importorskip("openvino")
    from typer.testing import CliRunner

    from wsshm_rt.cli import app

    precision = "bf16" if "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES") else "fp32"
    out = tmp_path / "ov.mp4"
    res = CliRunner().invoke(app, ["video", str(clips / "clip.mp4"), "-o", str(out), "--model", str(video_model),
                                   "--short-side", "64", "--no-progress", "--engine", "openvino", "--precision",
                                   precision])
    assert res.exit_code == 0, res.output
    assert len(decode(out)[0]) == FRAMES


def test_a_video_frame_gets_the_same_matte_as_a_still_image(clips):
    from wsshm_rt.matter import Matter, default_model_path
    from wsshm_rt.video import FrameMatter

    tiny_onnx = default_model_path()  # the trained model: an untrained one gives a near-constant alpha
    rgb = next(iter(VideoFileSource(clips / "clip.mp4"))).rgb
    m = Matter(tiny_onnx, short_side=64, threads=1, tta="flip")  # flip+scale (the default) is for stills only
    still, frame = m.predict(rgb), FrameMatter(m)(rgb)
    # The same guided refinement; the grey guide is made from the frame downscaled once instead of per call.
    assert np.abs(still - frame).max() < 0.02, np.abs(still - frame).max()
    guided = FrameMatter(Matter(tiny_onnx, short_side=64, threads=1))(rgb)
    light = FrameMatter(Matter(tiny_onnx, short_side=64, threads=1, refine="none"))(rgb)
    assert np.abs(guided - light).max() > 0.05, np.abs(guided - light).max()  # 0.098


def test_colour_guide_follows_an_edge_the_grey_guide_cannot_see():
    """Red person, green background of the same brightness: only the colour guided filter can snap to the edge."""
    from wsshm_rt.video_filters import colour_guided_upsample, grey

    frame = np.empty((192, 256, 3), np.uint8)
    frame[:, :140], frame[:, 140:] = (200, 60, 60), (45, 142, 40)
    assert abs(grey(frame[:1, 139:141])[0, 0] - grey(frame[:1, 139:141])[0, 1]) < 0.005  # isoluminant
    true = np.zeros((192, 256), np.float32)
    true[:, :140] = 1.0
    x = np.arange(128, dtype=np.float32)
    small = np.tile(np.clip((71.5 - x) / 3.0 + 0.5, 0, 1), (96, 1))  # edge 4 px off at full size, soft
    colour = colour_guided_upsample(small, frame, 5, 3e-3)
    grey_only = guided_upsample(small, frame, 5, 3e-3)
    err = {name: float(np.mean((a - true) ** 2)) for name, a in (("colour", colour), ("grey", grey_only))}
    assert err["colour"] < 0.5 * err["grey"], err
    # At the frame's own size it is the plain (one-scale) guided filter and keeps a flat region's value.
    same = colour_guided_upsample(np.full((192, 256), 0.3, np.float32), frame, 5, 3e-3)
    assert same.shape == (192, 256) and np.allclose(same, 0.3, atol=1e-4)


def test_refinement_keeps_the_sure_interior_and_still_snaps_the_edge():
    """The network's alpha is kept well inside the regions it is sure of, and the edge is still the filter's: an
    edge a few px off is moved to the photo's edge."""
    from wsshm_rt.video_filters import guided_refine, refine_radius, sure_interior

    frame = np.full((384, 512, 3), (40, 90, 160), np.uint8)  # blue background
    frame[:, :300] = (200, 160, 130)  # skin-coloured person on the left, edge at x = 300
    small_frame = cv2.resize(frame, (256, 192), interpolation=cv2.INTER_AREA)
    x = np.arange(256, dtype=np.float32)
    small = np.tile(np.clip((153.5 - x) / 1.5 + 0.5, 0, 1), (192, 1))  # network edge at 153.5 (307 px): 7 px off
    keep = sure_interior(small, refine_radius(*small.shape))
    assert keep[:, :130].min() > 0.99 and keep[:, 200:].min() > 0.99  # deep inside either side: kept
    assert keep[:, 151:157].max() < 0.1  # at the edge: the filter's
    refined = guided_refine(small, frame, small_frame)
    edge = int(np.argmax(refined[100] < 0.5))  # first background pixel
    assert abs(edge - 300) <= 2, edge  # the photo's edge, not the network's (307)


def test_colour_guided_filter_matches_a_float64_solve_on_a_grey_photo():
    """A grey photo (r = g = b) makes the filter's 3x3 systems nearly singular; at a small eps float32 cofactors
    cancel (alphas were off by 0.66 at eps 3e-5). The result must match numpy's float64 solve of the same systems."""
    from wsshm_rt.video_filters import colour_guided_upsample

    rng = np.random.default_rng(0)
    g = cv2.GaussianBlur(rng.integers(0, 256, (96, 128)).astype(np.float32), (0, 0), 1.5)
    frame = np.repeat(np.clip((g - g.mean()) * 8 + 128, 0, 255).astype(np.uint8)[..., None], 3, axis=2)
    alpha = np.clip(cv2.GaussianBlur(rng.random((96, 128)).astype(np.float32), (0, 0), 3) * 3 - 1, 0, 1)
    radius, eps = 6, 3e-5

    def box(x):
        return cv2.boxFilter(x, -1, (2 * radius + 1,) * 2, borderType=cv2.BORDER_REFLECT)

    guide, p = frame / 255.0, alpha.astype(np.float64)
    mean_i, mean_p = box(guide), box(p)
    cov = box(guide * p[..., None]) - mean_i * mean_p[..., None]
    sigma = np.stack([np.stack([box(guide[..., i] * guide[..., j]) - mean_i[..., i] * mean_i[..., j]
                                + (eps if i == j else 0.0) for j in range(3)], -1) for i in range(3)], -2)
    coef = np.linalg.solve(sigma, cov[..., None])[..., 0]
    expected = np.clip((box(coef) * guide).sum(-1) + box(mean_p - (coef * mean_i).sum(-1)), 0, 1)
    out = colour_guided_upsample(alpha, frame, radius, eps)
    assert np.abs(out - expected).max() < 1e-3, np.abs(out - expected).max()


def test_cli_video_refine_option(clips, tmp_path, capsys):
    """`video --refine/--tta`: each frame's matte is FrameMatter's with those options (one network pass by default,
    for real time); a bad value is one sentence."""
    from wsshm_rt.cli import main
    from wsshm_rt.images import load_image
    from wsshm_rt.matter import Matter, default_model_path
    from wsshm_rt.video import FrameMatter

    rgb = next(iter(VideoFileSource(clips / "clip.mp4"))).rgb
    firsts = {}
    for refine, tta in (("guided", None), ("none", None), ("guided", "flip")):
        out = tmp_path / f"{refine}-{tta}"
        with pytest.raises(SystemExit) as exc:
            main(["video", str(clips / "clip.mp4"), "-o", str(out), "--matte", "--short-side", "64", "--workers", "1",
                  "--no-progress", "--refine", refine, *(["--tta", tta] if tta else [])])
        assert exc.value.code in (0, None)
        first = load_image(sorted(out.glob("*.png"))[0])[..., 0].astype(np.float32) / 255
        expected = FrameMatter(Matter(default_model_path(), short_side=64, refine=refine, tta=tta or "none"))(rgb)
        assert np.abs(first - expected).max() <= 1.5 / 255
        firsts[refine, tta] = first
    assert np.abs(firsts["guided", None] - firsts["none", None]).max() > 0.05
    assert np.abs(firsts["guided", None] - firsts["guided", "flip"]).max() > 0.02
    with pytest.raises(SystemExit) as exc:
        main(["video", str(clips / "clip.mp4"), "-o", str(tmp_path / "bad"), "--refine", "strong"])
    assert exc.value.code == 2 and "refine must be guided or none, not 'strong'" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()
    with pytest.raises(SystemExit) as exc:  # predict's default: its larger pass would see only downscaled frames
        main(["video", str(clips / "clip.mp4"), "-o", str(tmp_path / "bad"), "--tta", "flip+scale"])
    assert exc.value.code == 2 and "tta must be none or flip, not 'flip+scale'" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()


@pytest.mark.slow
def test_cli_video_infers_at_the_models_recommended_size_by_default(clips, tmp_path):
    """Without --short-side, `video` runs the model at the size stored in its metadata (320 for the bundled
    model), as `predict` does, not at a fixed size the model was never validated at."""
    from wsshm_rt.cli import main
    from wsshm_rt.images import load_image
    from wsshm_rt.matter import Matter, default_model_path
    from wsshm_rt.video import FrameMatter

    recommended = Matter(default_model_path())
    assert recommended.short_side == int(recommended.metadata["short_side"]) != 512
    rgb = next(iter(VideoFileSource(clips / "clip.mp4"))).rgb
    with pytest.raises(SystemExit) as exc:
        main(["video", str(clips / "clip.mp4"), "-o", str(tmp_path / "m"), "--matte", "--workers", "1",
              "--no-progress"])
    assert exc.value.code in (0, None)
    first = load_image(sorted((tmp_path / "m").glob("*.png"))[0])[..., 0].astype(np.float32) / 255
    at = {s: FrameMatter(Matter(default_model_path(), short_side=s, tta="none"))(rgb)
          for s in (recommended.short_side, 512)}
    assert np.abs(first - at[recommended.short_side]).max() <= 1.5 / 255
    assert np.abs(first - at[512]).max() > 0.05
