"""The video command over hostile sources and outputs: truncated, zero-frame, variable-frame-rate, audio-only and
odd-sized inputs, frame folders with bad frames, the output being the input or unwritable. Each either writes
(every frame it could read, with a warning where the input ended early) or is one line and exit 2; no temporary
file is left, nothing hangs."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from .conftest import assert_error, assert_no_partial_files, encode, make_fifo, png_bomb, portrait, run_cli

av = pytest.importorskip("av")

FAST = ["--short-side", 64, "--workers", 1, "--no-progress"]
FRAMES = 8


def _frames(n=FRAMES, h=48, w=64):
    from wsshm_rt.bench.synth_clip import moving_ellipse

    return moving_ellipse(n, h, w)[0]


def _clip(path, frames=None, **kw):
    from wsshm_rt.bench.synth_clip import write_clip

    write_clip(path, frames if frames is not None else _frames(), **kw)
    return path


def _vfr(path, times_ms):
    """An MKV whose frames come at the given times (a variable frame rate), H.264, no audio."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.time_base = Fraction(1, 1000)
        for rgb, t in zip(_frames(len(times_ms)), times_ms):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts, frame.time_base = t, Fraction(1, 1000)
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return path


def _odd(path, h, w):
    """FFV1 in MKV keeps any frame size, odd ones too."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("ffv1", rate=25)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv444p"
        for i, rgb in enumerate(_frames(4, h + h % 2, w + w % 2)):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb[:h, :w]), format="rgb24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return path


def _audio_only(path):
    from wsshm_rt.bench.synth_clip import write_tone

    with av.open(str(path), "w") as out:
        write_tone(av, out, out.add_stream("aac", rate=44100), 0.5)
    return path


def _zero_frames(path):
    from wsshm_rt.bench.synth_clip import write_tone

    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        write_tone(av, out, out.add_stream("aac", rate=44100), 0.4)
    return path


def _giant_y4m(path):
    """A raw YUV4MPEG2 stream whose header declares 12000x12000 frames (430 MB RGB each), in 1 KB."""
    path.write_bytes(b"YUV4MPEG2 W12000 H12000 F25:1 Ip A1:1 C420jpeg\nFRAME\n" + bytes(1000))
    return path


def _count(path):
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


def _span(path) -> float:
    with av.open(str(path)) as c:
        times = [f.time for f in c.decode(video=0)]
    return times[-1] - times[0]


def test_truncated_video_keeps_the_frames_read(tmp_path, capfd):
    data = _clip(tmp_path / "full.mkv", _frames(24)).read_bytes()
    (tmp_path / "cut.mkv").write_bytes(data[: len(data) // 2])
    res = run_cli(capfd, "video", tmp_path / "cut.mkv", "-o", tmp_path / "out.mp4", *FAST)
    assert res.code == 0 and "Traceback" not in res.err, res.err
    assert "the input ended early" in res.err and 0 < _count(tmp_path / "out.mp4") < 24
    assert_no_partial_files(tmp_path)


def test_variable_frame_rate_keeps_every_frame_and_its_timing(tmp_path, capfd):
    times = [i * 10 for i in range(10)] + [100 + i * 250 for i in range(45)]  # 100 fps, then 4 fps
    src = _vfr(tmp_path / "vfr.mkv", times)
    res = run_cli(capfd, "video", src, "-o", tmp_path / "out.mp4", *FAST)
    assert res.code == 0 and "Traceback" not in res.err, res.err
    assert "truncated" not in res.err and "ended early" not in res.err
    assert _count(tmp_path / "out.mp4") == 55
    assert abs(_span(tmp_path / "out.mp4") - times[-1] / 1000) < 0.5  # 11 s, not 55 frames at the average rate


@pytest.mark.parametrize("h, w", [(47, 63), (9, 200), (200, 9)])
def test_odd_and_thin_frame_sizes_are_written(h, w, tmp_path, capfd):
    src = _odd(tmp_path / "odd.mkv", h, w)
    res = run_cli(capfd, "video", src, "-o", tmp_path / "out.mp4", *FAST)
    assert res.code == 0 and "Traceback" not in res.err, res.err
    with av.open(str(tmp_path / "out.mp4")) as c:
        stream = c.streams.video[0]
        assert (stream.height, stream.width) == (h + h % 2, w + w % 2)  # 4:2:0 pads to even sides
    assert _count(tmp_path / "out.mp4") == 4


def _text(path):
    path.write_bytes(b"not a video" * 100)
    return path


SOURCES = {
    "zero-frames": (lambda p: _zero_frames(p.with_suffix(".mkv")), "no video frames could be decoded"),
    "audio-only": (lambda p: _audio_only(p.with_suffix(".m4a")), "has no video stream"),
    "text-as-mp4": (_text, "not a readable video"),
    "empty-mp4": (lambda p: (p.write_bytes(b""), p)[1], "is empty (0 bytes)"),
    "cut-mp4": (lambda p: (p.write_bytes(_clip(p.with_name("f.mp4")).read_bytes()[:2000]), p)[1], "not a readable"),
    "tiny-6x6": (lambda p: _odd(p.with_suffix(".mkv"), 6, 6), "at least 8x8"),
    "giant-frame-header": (lambda p: _giant_y4m(p.with_suffix(".y4m")), "12000x12000 pixels"),
    "fifo": (lambda p: make_fifo(p), "is not a file"),
    "dev-zero": (lambda p: "/dev/zero", "is not a file"),
    "missing": (lambda p: p.with_name("missing.mp4"), "does not exist"),
}


@pytest.mark.parametrize("name", list(SOURCES))
def test_sources_that_cannot_be_matted_are_one_line(name, tmp_path, capfd):
    make, needle = SOURCES[name]
    src = make(tmp_path / "in.mp4")
    res = run_cli(capfd, "video", src, "-o", tmp_path / "out.mp4", *FAST)
    assert_error(res, needle)
    assert not (tmp_path / "out.mp4").exists()
    assert_no_partial_files(tmp_path)


OUTPUTS = {
    "output-is-input": (lambda t, src: [src], "is the input"),
    "unwritable": (lambda t, src: ["/proc/wsshm.mp4"], "cannot write"),
    "folder-missing": (lambda t, src: [t / "no" / "such" / "out.mp4"], "does not exist"),
    "unknown-suffix": (lambda t, src: [t / "out.xyz"], "unsupported output type"),
    "alpha-in-mp4": (lambda t, src: [t / "out.mp4", "--alpha"], "cannot hold an alpha channel"),
    "alpha-and-matte": (lambda t, src: [t / "out.mkv", "--alpha", "--matte"], "choose one of"),
    "background-bomb": (lambda t, src: [t / "out.mp4", "-b", (t / "b.png").write_bytes(png_bomb(20000, 20000))
                                        and t / "b.png"], "MP"),
    "background-fifo": (lambda t, src: [t / "out.mp4", "-b", make_fifo(t / "b.jpg")], "named pipe"),
    "tta-flip+scale": (lambda t, src: [t / "out.mp4", "--tta", "flip+scale"], "tta must be none or flip"),
    "workers-zero": (lambda t, src: [t / "out.mp4", "--workers", "0"], "--workers must be at least 1"),
}


@pytest.mark.parametrize("name", list(OUTPUTS))
def test_bad_outputs_and_options_are_one_line(name, tmp_path, capfd):
    src = _clip(tmp_path / "in.mp4")
    make, needle = OUTPUTS[name]
    args = make(tmp_path, src)
    fast = ["--short-side", 64, "--no-progress"] + ([] if name == "workers-zero" else ["--workers", 1])
    res = run_cli(capfd, "video", src, "-o", *args, *fast)
    assert_error(res, needle)
    assert src.read_bytes() == _clip(tmp_path / "again.mp4").read_bytes() or _count(src) == FRAMES  # input intact
    assert not (tmp_path / "out.mp4").exists()
    assert_no_partial_files(tmp_path)


def _folder(tmp_path, bad_at=None, bad=b"not an image", resize_at=None):
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, rgb in enumerate(_frames()):
        if i == resize_at:
            rgb = portrait(40, 40)
        data = bad if i == bad_at else encode(rgb)
        (folder / f"f{i:03d}.png").write_bytes(data)
    return folder


def _warnings(caplog) -> list[str]:
    """The warnings logged (what a terminal shows on stderr; pytest captures them here)."""
    import logging

    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def _times(path):
    with av.open(str(path)) as c:
        return [round(f.time, 3) for f in c.decode(video=0)]


@pytest.mark.parametrize("bad_at, bad", [(5, b"not an image"), (3, png_bomb(20000, 20000)), (0, b""),
                                         (0, png_bomb(30000, 30000)), (7, b"\x89PNG cut off")],
                         ids=["text-frame", "bomb-frame", "empty-first", "bomb-first", "cut-last"])
def test_a_bad_frame_in_a_folder_is_reported_and_skipped_and_the_rest_written(bad_at, bad, tmp_path, capfd,
                                                                                 caplog):
    """As predict does with a folder: one line for the bad file, every good frame written, exit code 1. The bad
    frame's time stays empty (the frame before is shown longer): the others keep their times."""
    folder = _folder(tmp_path, bad_at, bad)
    res = run_cli(capfd, "video", folder, "-o", tmp_path / "out.mp4", *FAST)
    assert res.code == 1 and "Traceback" not in res.err, res.err
    bad_name = f"f{bad_at:03d}.png"
    named = [line for line in _warnings(caplog) + res.err_lines if bad_name in line]
    assert len(named) == 1 and named[0].startswith(f"wsshm-rt: warning: skipped {folder / bad_name}: "), named
    assert "ended early" not in res.err and "truncated" not in res.err
    assert "7 frames in" in res.err and "1 frame skipped" in res.err
    first = 1 if bad_at == 0 else 0
    assert _times(tmp_path / "out.mp4") == [round((i - first) / 25, 3) for i in range(FRAMES) if i != bad_at]
    assert_no_partial_files(tmp_path)


def test_a_frame_of_another_size_is_scaled_to_the_first_frames_size(tmp_path, capfd, caplog):
    """A video has one size: the odd frame is scaled to cover it (one warning naming it, a count at the end),
    every frame is written and the run succeeds."""
    folder = _folder(tmp_path, resize_at=4)
    (folder / "f006.png").write_bytes(encode(portrait(96, 80)))
    res = run_cli(capfd, "video", folder, "-o", tmp_path / "out.mp4", *FAST)
    assert res.code == 0 and "Traceback" not in res.err, res.err
    warned = _warnings(caplog)
    assert len(warned) == 1 and "f004.png is 40x40 but the first frame is 64x48" in warned[0], warned
    assert "scaled to cover 64x48 and centre-cropped" in warned[0] and "2 frames of another size" in res.err
    assert "ended early" not in res.err and "truncated" not in res.err
    with av.open(str(tmp_path / "out.mp4")) as c:
        assert [(f.width, f.height) for f in c.decode(video=0)] == [(64, 48)] * FRAMES


def test_a_frame_folder_with_no_readable_frame_is_one_error(tmp_path, capfd, caplog):
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(3):
        (folder / f"f{i}.png").write_bytes(b"not an image")
    res = run_cli(capfd, "video", folder, "-o", tmp_path / "out.mp4", *FAST)
    assert res.code == 2 and "Traceback" not in res.err, res.err
    assert res.err_lines[-1] == f"wsshm-rt: error: none of the 3 images in {folder} could be read"
    warned = _warnings(caplog)
    assert len(warned) == 3 and all(w.startswith(f"wsshm-rt: warning: skipped {folder / f'f{i}.png'}: ")
                                    for i, w in enumerate(warned)), warned
    assert not (tmp_path / "out.mp4").exists()


@pytest.mark.parametrize("bad", [b"", b"not an image", png_bomb(30000, 30000)], ids=["empty", "text", "bomb"])
def test_a_frame_folder_of_one_bad_image_is_one_line(bad, tmp_path, capfd):
    folder = tmp_path / "frames"
    folder.mkdir()
    (folder / "f000.png").write_bytes(bad)
    res = run_cli(capfd, "video", folder, "-o", tmp_path / "out.mp4", *FAST)
    assert_error(res, "f000.png")
    assert not (tmp_path / "out.mp4").exists()


@pytest.mark.parametrize("fps", ["nan", "0", "-5", "1e9"])
def test_a_frame_rate_out_of_range_is_one_line(fps, tmp_path, capfd):
    res = run_cli(capfd, "video", _folder(tmp_path), "-o", tmp_path / "out.mp4", "--fps", fps, *FAST)
    assert_error(res, "--fps must be a frame rate")


@pytest.mark.parametrize("args, needle", [(["--max-frames", "0"], "--max-frames must be at least 1"),
                                          (["--short-side", "0"], "short_side must be at least 32"),
                                          (["--source", "7"], "no camera found at index 7")],
                         ids=["max-frames-0", "short-side-0", "no-camera"])
def test_webcam_options_are_one_line(args, needle, tmp_path, capfd):
    res = run_cli(capfd, "webcam", "--no-window", "-o", tmp_path / "w.mp4", *(["--source", _folder(tmp_path)]
                  if "--source" not in args else []), *args)
    assert_error(res, needle)
    assert not (tmp_path / "w.mp4").exists()
