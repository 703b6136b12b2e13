"""Batch matting on a local Ray instance (2 CPUs): the same files as ``predict``, bad files reported and skipped."""

from __future__ import annotations

import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from conftest import make_portrait

ray = pytest.importorskip("ray", reason="the [ray] extra is not installed")
pytest.importorskip("ray.data", reason="the [ray] extra is not installed")

from wsshm_rt.cli import _bare_ray_flag  # noqa: E402
from wsshm_rt.predict import PredictOptions, run_predict  # noqa: E402
from wsshm_rt.ray import matte_dataset, matte_videos  # noqa: E402

pytestmark = pytest.mark.slow  # a Ray instance takes seconds to start


@pytest.fixture(scope="module")
def local_ray():
    ray.init("local", num_cpus=2, include_dashboard=False, log_to_driver=False)  # a new instance, always
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """Three small portraits (one nested, two sharing a stem) and a file that is no image."""
    root = tmp_path_factory.mktemp("photos")
    (root / "sub").mkdir()
    for i, (name, size) in enumerate({"a.jpg": (96, 72), "b.png": (80, 120), "sub/a.png": (64, 64)}.items()):
        rgb, _ = make_portrait(*size, seed=i)
        cv2.imwrite(str(root / name), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    (root / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    return root


def _inputs(root):
    return [str(root / "a.jpg"), str(root / "b.png"), str(root / "sub" / "a.png"), str(root / "broken.jpg")]


def _pngs(folder) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_same_outputs_as_predict_and_the_bad_file_skipped(local_ray, photos, tmp_path, capsys):
    plain, on_ray = tmp_path / "plain", tmp_path / "ray"
    assert run_predict(_inputs(photos), PredictOptions(plain, background="#00ff00"), progress=False) == 1
    run = matte_dataset(_inputs(photos), PredictOptions(on_ray, background="#00ff00"), actors=2)
    assert (run.written, run.existing) == (3, 0)
    assert list(run.failed) == [str(photos / "broken.jpg")]
    assert "broken.jpg" in run.failed[str(photos / "broken.jpg")]
    assert f"skipped {photos / 'broken.jpg'}" in capsys.readouterr().err
    assert sorted(_pngs(on_ray)) == sorted(_pngs(plain)) and len(_pngs(plain)) == 9  # a.jpg.*, a.png.*, b.*
    for name, data in _pngs(plain).items():
        got = cv2.imdecode(np.frombuffer(_pngs(on_ray)[name], np.uint8), cv2.IMREAD_UNCHANGED)
        want = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        assert np.array_equal(got, want), name


def test_skip_existing_and_all_bad(local_ray, photos, tmp_path):
    out = tmp_path / "out"
    first = matte_dataset([str(photos / "a.jpg")], PredictOptions(out, outputs="alpha"), progress=False)
    again = matte_dataset([str(photos / "a.jpg"), str(photos / "b.png")],
                          PredictOptions(out, outputs="alpha", skip_existing=True), progress=False)
    assert (first.written, again.written, again.existing) == (1, 1, 1)
    from wsshm_rt.errors import WsshmError

    with pytest.raises(WsshmError, match="none of the 1 images could be read"):
        matte_dataset([str(photos / "broken.jpg")], PredictOptions(tmp_path / "bad"), progress=False)
    # Done before, the good one is not matted again; the bad one alone is no longer "none could be read".
    rerun = matte_dataset([str(photos / "a.jpg"), str(photos / "broken.jpg")],
                          PredictOptions(out, outputs="alpha", skip_existing=True), progress=False)
    assert (rerun.written, rerun.existing, len(rerun.failed)) == (0, 1, 1)


def test_cli_predict_with_ray_writes_the_same_alphas(local_ray, photos, tmp_path):
    env = {**os.environ, "RAY_ADDRESS": local_ray}  # the CLI joins this test's local instance
    good = [str(photos / "a.jpg"), str(photos / "b.png")]
    plain = subprocess.run([sys.executable, "-m", "wsshm_rt", "predict", *good, "-o", str(tmp_path / "plain"),
                            "--outputs", "alpha"], capture_output=True, text=True, timeout=600)
    assert plain.returncode == 0, plain.stderr
    on_ray = subprocess.run([sys.executable, "-m", "wsshm_rt", "predict", *good, "-o", str(tmp_path / "ray"),
                             "--outputs", "alpha", "--ray"], capture_output=True, text=True, timeout=600, env=env)
    assert on_ray.returncode == 0, on_ray.stderr
    assert "2 written" in on_ray.stderr and "on Ray" in on_ray.stderr
    assert _pngs(tmp_path / "ray") == _pngs(tmp_path / "plain")


def test_bare_ray_flag_is_told_from_an_address():
    assert _bare_ray_flag(["predict", "d", "-o", "o", "--ray"]) == ["predict", "d", "-o", "o", "--ray="]
    assert _bare_ray_flag(["predict", "--ray", "photos/", "-o", "o"])[1] == "--ray="
    assert _bare_ray_flag(["predict", "--ray", "-o", "o", "d"])[1] == "--ray="
    for address in ("auto", "local", "ray://head:10001", "10.0.0.5:6379"):
        assert _bare_ray_flag(["predict", "d", "--ray", address]) == ["predict", "d", "--ray", address]


def test_missing_extra_prints_the_pip_line(tmp_path):
    code = ("import sys; sys.modules['ray'] = None\n"
            f"from wsshm_rt.cli import main; main(['predict', {str(tmp_path)!r}, '-o', {str(tmp_path / 'o')!r}, "
            "'--ray'])")
    cv2.imwrite(str(tmp_path / "x.png"), make_portrait()[0])
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 2
    assert out.stderr.strip() == "wsshm-rt: error: ray is not installed; install it with: pip install 'wsshm-rt[ray]'"


def test_videos_one_task_per_file(local_ray, tmp_path):
    pytest.importorskip("av", reason="the [video] extra is not installed")
    from wsshm_rt.bench.synth_clip import moving_ellipse, write_clip

    for name, seed in (("one.mp4", 0), ("two.mp4", 1)):
        write_clip(tmp_path / name, moving_ellipse(6, 64, 96, seed=seed)[0], fps=10, audio=False)
    (tmp_path / "bad.mp4").write_bytes(b"not a video at all")
    videos = [tmp_path / n for n in ("one.mp4", "bad.mp4", "two.mp4")]
    run = matte_videos(videos, tmp_path / "out", cpus_per_task=1)
    assert run.written == 2 and list(run.failed) == [str(tmp_path / "bad.mp4")]
    import av

    for name in ("one.mp4", "two.mp4"):
        with av.open(str(tmp_path / "out" / name)) as clip:
            frames = [f.to_ndarray(format="rgb24") for f in clip.decode(video=0)]
        assert len(frames) == 6 and frames[0].shape == (64, 96, 3)
