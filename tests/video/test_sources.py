"""Frame sources: video files (alpha .webm, truncated, rotated, empty, not a video), image folders, cameras."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

av = pytest.importorskip("av")

from wsshm_rt.bench.synth_clip import moving_ellipse, write_clip  # noqa: E402
from wsshm_rt.errors import WsshmError  # noqa: E402
from wsshm_rt.video import matte_video, run_webcam  # noqa: E402
from wsshm_rt.video.sources import VideoFileSource  # noqa: E402

from .conftest import FRAMES, decode, no_temp_files  # noqa: E402


def test_webm_alpha_is_read_back_by_our_source(clips, matter, tmp_path):
    out = tmp_path / "alpha.webm"
    matte_video(clips / "clip.mp4", out, matter, alpha=True, progress=False)
    src = VideoFileSource(out)
    assert src._decoder.name == "libvpx-vp9" and len(list(src)) == FRAMES
    src.close()


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
    from wsshm_rt.bench.synth_clip import moving_ellipse
    from wsshm_rt.cli import main

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


def test_a_video_with_no_frames_is_one_sentence(video_model, tmp_path, capsys, caplog):
    """A real file whose video stream is empty (only audio was written): no warning before the error."""
    from wsshm_rt.bench.synth_clip import write_tone
    from wsshm_rt.cli import main

    src = tmp_path / "empty-video.mkv"
    with av.open(str(src), "w") as out:
        video = out.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = 128, 96, "yuv420p"
        write_tone(av, out, out.add_stream("aac", rate=44100), 0.4)
    with pytest.raises(SystemExit) as exc:
        main(["video", str(src), "-o", str(tmp_path / "o.mp4"), "-m", str(video_model), "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert exc.value.code == 2 and err == [f"wsshm-rt: error: {src}: no video frames could be decoded"]
    assert not caplog.records  # a truncation warning would be a second line on a terminal
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty-video.mkv"]


def _frame_folder(tmp_path, n=5, h=96, w=128):
    folder = tmp_path / "frames"
    folder.mkdir()
    frames, _ = moving_ellipse(n, h, w)
    for i, rgb in enumerate(frames):
        cv2.imwrite(str(folder / f"f{i}.png"), rgb[:, :, ::-1])
    return folder, frames


def test_unreadable_frames_in_an_image_folder_are_skipped_and_the_rest_written(matter, tmp_path):
    folder, _ = _frame_folder(tmp_path)
    (folder / "f3.png").write_bytes(b"\x89PNG cut off")
    (folder / "f0.png").write_bytes(b"text, not an image")  # the first: the size comes from the next one
    result = matte_video(folder, tmp_path / "o.mp4", matter, progress=False)
    frames, _ = decode(tmp_path / "o.mp4")
    assert result.frames == len(frames) == 3 and not result.truncated and result.resized == 0
    assert sorted(result.skipped) == [str(folder / "f0.png"), str(folder / "f3.png")]
    assert "not a readable image" in result.skipped[str(folder / "f0.png")]
    assert [round(f.time, 3) for f in frames] == [0, 0.04, 0.12]  # from f1, the first read; f3's time stays empty


def test_an_image_of_another_size_is_scaled_to_cover_the_first_ones(tmp_path):
    from wsshm_rt.compose import fit_cover
    from wsshm_rt.video.sources import ImageFolderSource

    folder, frames = _frame_folder(tmp_path)
    square = np.ascontiguousarray(cv2.resize(frames[2], (80, 80)))  # another aspect: covered, not stretched
    cv2.imwrite(str(folder / "f2.png"), square[:, :, ::-1])
    src = ImageFolderSource(folder)
    got = [f.rgb for f in src]
    assert src.size == (128, 96) and [g.shape for g in got] == [(96, 128, 3)] * 5
    assert np.array_equal(got[2], fit_cover(square, 96, 128)) and np.array_equal(got[3], frames[3])
    assert src.resized == 1 and not src.skipped and not src.truncated


def test_an_image_folder_with_nothing_readable_is_one_sentence(tmp_path):
    from wsshm_rt.video.sources import ImageFolderSource

    folder, _ = _frame_folder(tmp_path, n=2)
    for f in folder.iterdir():
        f.write_bytes(b"junk")
    with pytest.raises(WsshmError, match=r"^none of the 2 images in .*frames could be read$"):
        ImageFolderSource(folder)
    with pytest.raises(WsshmError, match=r"f0.png is not a readable image"):
        ImageFolderSource(folder / "f0.png")


def test_missing_camera_names_source(matter, tmp_path):
    with pytest.raises(WsshmError, match="--source"):
        run_webcam(matter, source=37, window=False, output=tmp_path / "o.mp4")
