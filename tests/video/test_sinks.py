"""Sinks: video files with the audio carried over, alpha video (.webm, .mov, .mkv), RGBA PNG sequences,
and outputs that cannot be written."""

from __future__ import annotations

import os

import cv2
import pytest

av = pytest.importorskip("av")

from wsshm_rt.errors import WsshmError  # noqa: E402
from wsshm_rt.video import matte_video, run_webcam  # noqa: E402

from .conftest import FRAMES, decode, no_temp_files  # noqa: E402


def test_composite_keeps_frame_count_and_audio(clips, matter, tmp_path):
    out = tmp_path / "green.mp4"
    result = matte_video(clips / "clip.mp4", out, matter, background="#00ff00", progress=False)
    frames, audio = decode(out)
    assert result.frames == len(frames) == FRAMES and not result.truncated
    assert frames[0].width == 128 and frames[0].height == 96
    assert len(audio) == 1 and audio[0][0] == "aac"  # copied as is
    assert audio[0][1] == pytest.approx(FRAMES / 25, abs=0.1)
    assert no_temp_files(tmp_path)


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


def test_png_sequence_is_rgba(clips, matter, tmp_path):
    import cv2

    out = tmp_path / "frames"
    matte_video(clips / "clip.mp4", out, matter, alpha=True, progress=False)
    files = sorted(out.glob("frame_*.png"))
    assert len(files) == FRAMES
    assert cv2.imread(str(files[0]), cv2.IMREAD_UNCHANGED).shape == (96, 128, 4)


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts open files through /proc (Linux)")
def test_an_aborted_output_with_audio_closes_the_audio_input(clips, tmp_path):
    from fractions import Fraction

    from wsshm_rt.video.sinks import VideoFileSink

    open_files = lambda: len(os.listdir("/proc/self/fd"))  # noqa: E731
    before = open_files()
    for _ in range(4):
        VideoFileSink(tmp_path / "x.mp4", Fraction(25), (128, 96), audio_from=clips / "clip.mp4").abort()
    assert open_files() == before and not list(tmp_path.iterdir())


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
