"""The video and webcam commands: output, one-sentence errors, workers, engines, --refine/--tta, the
model's recommended size."""

from __future__ import annotations

import os

import numpy as np
import pytest

av = pytest.importorskip("av")

from wsshm_rt.video.sources import VideoFileSource  # noqa: E402

from .conftest import FRAMES, decode  # noqa: E402


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

    from wsshm_rt.cli.video import _video_matter

    matter, workers = _video_matter(video_model, "onnxruntime", "cpu", 64, None, None)
    assert workers == 2
    assert matter.engine.session.get_session_options().intra_op_num_threads == max(1, (os.cpu_count() or 2) // 2)
    matter, workers = _video_matter(video_model, "onnxruntime", "cpu", 64, 3, 1)
    assert workers == 1 and matter.engine.session.get_session_options().intra_op_num_threads == 3


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


def test_cli_video_refine_option(clips, tmp_path, capsys):
    """`video --refine/--tta`: each frame's matte is FrameMatter's with those options (one network pass by default,
    for real time); a bad value is one sentence."""
    from wsshm_rt.cli import main
    from wsshm_rt.frames import FrameMatter
    from wsshm_rt.images import load_image
    from wsshm_rt.matter import Matter, default_model_path

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
    from wsshm_rt.frames import FrameMatter
    from wsshm_rt.images import load_image
    from wsshm_rt.matter import Matter, default_model_path

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
