"""The README's predict/export/demo commands, run as a user would (a subprocess), good and bad input."""

import subprocess
import sys

import cv2
import numpy as np
import pytest

from conftest import make_portrait, set_file_size_limit


def wsshm(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "wsshm_rt", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd)


def _write(path, rgb):
    assert cv2.imwrite(str(path), rgb[:, :, ::-1])
    return path


def _one_line_error(proc):
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("wsshm-rt: error: "), proc.stderr
    return lines[0]


def test_predict_single_file_writes_alpha_and_rgba(tmp_path, tiny_onnx):
    rgb, _ = make_portrait(90, 70)
    src = _write(tmp_path / "me.jpg", rgb)
    proc = wsshm("predict", src, "-o", tmp_path / "out", "--model", tiny_onnx, "--short-side", 64)
    assert proc.returncode == 0, proc.stderr
    alpha = cv2.imread(str(tmp_path / "out/me.alpha.png"), cv2.IMREAD_UNCHANGED)
    rgba = cv2.imread(str(tmp_path / "out/me.rgba.png"), cv2.IMREAD_UNCHANGED)
    assert alpha.shape == (90, 70) and rgba.shape == (90, 70, 4)
    assert np.array_equal(rgba[:, :, 3], alpha)
    assert not (tmp_path / "out/me.composite.png").exists()


def _photos(tmp_path, n: int, name: str = "good", bad: str = "corrupt.jpg"):
    """A folder of ``n`` generated portraits and one JPEG cut off after its header."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(n):
        _write(folder / f"{name}{i}.png", make_portrait(64, 48, seed=i)[0])
    (folder / bad).write_bytes(b"\xff\xd8\xff\xe0 broken")
    return folder


def test_predict_folder_skips_bad_files_and_says_so(tmp_path, tiny_onnx):
    folder = _photos(tmp_path, 3)
    (folder / "empty.png").write_bytes(b"")
    proc = wsshm("predict", folder, "-o", tmp_path / "out", "-m", tiny_onnx, "--short-side", 64,
                 "--background", "#00ff00")
    assert proc.returncode == 1, proc.stderr
    assert "corrupt.jpg" in proc.stderr and "empty.png" in proc.stderr and "Traceback" not in proc.stderr
    # The closing summary counts what happened and names the engine that was taken.
    assert "3 written" in proc.stderr and "2 skipped" in proc.stderr and "onnxruntime on cpu" in proc.stderr
    for i in range(3):
        for kind in ("alpha", "rgba", "composite"):
            assert (tmp_path / f"out/good{i}.{kind}.png").is_file()
    assert not list((tmp_path / "out").glob("corrupt*")) and not list((tmp_path / "out").glob(".*"))


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX")
def test_a_failed_write_stops_the_folder_run_and_says_how_far_it_got(tmp_path, tiny_onnx):
    folder = tmp_path / "photos"
    folder.mkdir()
    _write(folder / "a.png", np.full((48, 48, 3), 90, np.uint8))  # flat: its cut-out PNG is small
    noise = np.random.default_rng(0).integers(0, 256, (160, 160, 3), dtype=np.uint8)
    for name in ("b.png", "c.png"):
        _write(folder / name, noise)  # noise: its cut-out PNG is ~100 KB, past the limit
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "wsshm_rt", "predict", str(folder), "-o", str(out), "-m",
                           str(tiny_onnx), "--short-side", "64", "--outputs", "rgba"],
                          capture_output=True, text=True, preexec_fn=lambda: set_file_size_limit(20_000))
    line = _one_line_error(proc)
    assert "cannot write" in line and "b.rgba.png" in line and "File too large" in line, line
    assert "stopped after 1 of 3 images were written" in line, line
    # The image before the failure is complete; nothing half-written or temporary is left; c was not attempted.
    assert sorted(p.name for p in out.iterdir()) == ["a.rgba.png"]
    assert cv2.imread(str(out / "a.rgba.png"), cv2.IMREAD_UNCHANGED).shape == (48, 48, 4)


def test_predict_glob_and_composite_colour(tmp_path, tiny_onnx):
    for i in range(2):
        _write(tmp_path / f"a{i}.png", make_portrait(64, 48, seed=i)[0])
    proc = wsshm("predict", str(tmp_path / "a*.png"), "-o", tmp_path / "out", "-m", tiny_onnx,
                 "--short-side", 64, "--outputs", "composite", "-b", "#ff0000")
    assert proc.returncode == 0, proc.stderr
    comp = cv2.imread(str(tmp_path / "out/a0.composite.png"))
    assert comp.shape == (64, 48, 3)
    assert not (tmp_path / "out/a0.alpha.png").exists()


def test_inputs_with_the_same_name_never_overwrite_each_other(tmp_path, tiny_onnx):
    # x.png beside x.jpg, and the same file name in two folders reached by a recursive glob: four inputs, four
    # sets of outputs, each the matte of its own photo (different sizes tell them apart).
    sizes = {"shoot/x.png": (64, 48), "shoot/x.jpg": (72, 56), "shoot/day1/IMG_1.png": (80, 40),
             "shoot/day2/IMG_1.png": (56, 64)}
    for i, (name, (h, w)) in enumerate(sizes.items()):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        _write(tmp_path / name, make_portrait(h, w, seed=i)[0])
    (tmp_path / "shoot/solo.png").write_bytes((tmp_path / "shoot/x.png").read_bytes())
    _write(tmp_path / "shoot/x.jpg.png", make_portrait(40, 32, seed=9)[0])  # its stem is x.jpg, as x.jpg's new name
    proc = wsshm("predict", str(tmp_path / "shoot/**/*.*"), "-o", tmp_path / "out", "-m", tiny_onnx,
                 "--short-side", 64, "--outputs", "alpha")
    assert proc.returncode == 0, proc.stderr
    assert "6 written" in proc.stderr
    expected = {"x.png": (64, 48), "x.jpg": (72, 56), "day1_IMG_1.png": (80, 40), "day2_IMG_1.png": (56, 64),
                "solo": (64, 48), "x.jpg-2": (40, 32)}
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(f"{n}.alpha.png" for n in expected)
    for name, shape in expected.items():
        assert cv2.imread(str(tmp_path / f"out/{name}.alpha.png"), cv2.IMREAD_UNCHANGED).shape == shape


@pytest.mark.slow
def test_results_written_into_the_input_folder_are_not_matted_again(tmp_path, tiny_onnx):
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(2):
        _write(folder / f"p{i}.png", make_portrait(64, 48, seed=i)[0])
    for run in range(2):  # the second run sees the first run's results beside the photos
        proc = wsshm("predict", folder, "-o", folder, "-m", tiny_onnx, "--short-side", 64)
        assert proc.returncode == 0 and "2 written" in proc.stderr, (run, proc.stderr)
    assert sorted(p.name for p in folder.iterdir()) == ["p0.alpha.png", "p0.png", "p0.rgba.png", "p1.alpha.png",
                                                        "p1.png", "p1.rgba.png"]
    # Results in another folder are photos like any other, and an explicit file is always taken.
    proc = wsshm("predict", str(folder / "*.alpha.png"), "-o", tmp_path / "again", "-m", tiny_onnx,
                 "--short-side", 64)
    assert proc.returncode == 0 and "2 written" in proc.stderr, proc.stderr
    assert "p0.alpha.alpha.png" in {p.name for p in (tmp_path / "again").iterdir()}
    for f in folder.glob("p?.png"):
        f.unlink()
    assert "holds only results of an earlier run" in _one_line_error(
        wsshm("predict", folder, "-o", folder, "-m", tiny_onnx))
    assert "it is a file, not a folder" in _one_line_error(
        wsshm("predict", folder / "p0.alpha.png", "-o", folder / "p0.rgba.png", "-m", tiny_onnx))


@pytest.mark.slow
def test_an_interrupted_folder_run_is_finished_with_skip_existing(tmp_path, tiny_onnx, monkeypatch, capsys):
    import wsshm_rt.predict as predict_mod

    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(4):
        _write(folder / f"p{i}.png", make_portrait(64, 48, seed=i)[0])
    opts = predict_mod.PredictOptions(out=tmp_path / "out")
    real, calls = predict_mod._predict_one, []

    def ctrl_c_on_the_third(matter, path, *args):
        calls.append(path.name)
        if len(calls) == 3:
            raise KeyboardInterrupt  # what Python raises when the user presses Ctrl-C
        return real(matter, path, *args)

    monkeypatch.setattr(predict_mod, "_predict_one", ctrl_c_on_the_third)
    with pytest.raises(KeyboardInterrupt):
        predict_mod.run_predict([folder], opts, model=tiny_onnx, short_side=64)
    assert "interrupted after 2 of 4 images were written; run the same command with --skip-existing" in \
        capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["p0.alpha.png", "p0.rgba.png", "p1.alpha.png",
                                                                     "p1.rgba.png"]
    monkeypatch.undo()
    kept = (tmp_path / "out/p0.alpha.png").stat().st_mtime_ns
    (tmp_path / "out/p1.rgba.png").unlink()  # p1 is no longer complete: it is matted again
    proc = wsshm("predict", folder, "-o", tmp_path / "out", "-m", tiny_onnx, "--short-side", 64, "--skip-existing")
    assert proc.returncode == 0 and "3 written to" in proc.stderr and "1 already there" in proc.stderr, proc.stderr
    assert (tmp_path / "out/p0.alpha.png").stat().st_mtime_ns == kept
    assert len(list((tmp_path / "out").iterdir())) == 8
    # Without the flag every image is matted again.
    proc = wsshm("predict", folder, "-o", tmp_path / "out", "-m", tiny_onnx, "--short-side", 64)
    assert "4 written to" in proc.stderr and "already there" not in proc.stderr


def test_a_skip_existing_rerun_with_one_bad_file_is_exit_1_not_an_error(tmp_path, tiny_onnx):
    """The images done before are not 'none could be read': a retry loop sees the same exit code as the first run."""
    folder = _photos(tmp_path, 2, "p", "bad.jpg")
    args = ("predict", folder, "-o", tmp_path / "out", "-m", tiny_onnx, "--short-side", 64, "--skip-existing")
    first, again = wsshm(*args), wsshm(*args)
    assert first.returncode == 1 and "2 written" in first.stderr, first.stderr
    assert again.returncode == 1 and "0 written" in again.stderr and "2 already there" in again.stderr, again.stderr
    assert "none of the" not in again.stderr


@pytest.mark.slow
def test_bad_input_gives_one_sentence_and_exit_2(tmp_path, tiny_onnx):
    rgb, _ = make_portrait(64, 48)
    good = _write(tmp_path / "good.png", rgb)
    (tmp_path / "empty_dir").mkdir()
    (tmp_path / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 broken")
    (tmp_path / "zero.jpg").write_bytes(b"")
    _write(tmp_path / "one.png", rgb[:1, :1])
    (tmp_path / "notes.txt").write_text("not a model")
    (tmp_path / "blocker").write_text("a file where a folder should be")
    m = ["-m", tiny_onnx]
    cases = {
        "does not exist": ("predict", tmp_path / "missing.jpg", "-o", tmp_path / "o", *m),
        "holds no images": ("predict", tmp_path / "empty_dir", "-o", tmp_path / "o", *m),
        "not a readable image": ("predict", tmp_path / "corrupt.jpg", "-o", tmp_path / "o", *m),
        "empty (0 bytes)": ("predict", tmp_path / "zero.jpg", "-o", tmp_path / "o", *m),
        "1x1 pixels": ("predict", tmp_path / "one.png", "-o", tmp_path / "o", *m),
        "not a loadable ONNX model": ("predict", good, "-o", tmp_path / "o", "-m", tmp_path / "notes.txt"),
        "cannot write to output folder": ("predict", good, "-o", tmp_path / "blocker" / "out", *m),
        "refine must be guided or none, not 'sharp'": ("predict", good, "-o", tmp_path / "o", *m, "--refine",
                                                        "sharp"),
        "tta must be flip+scale, flip or none, not 'yes'": ("predict", good, "-o", tmp_path / "o", *m, "--tta", "yes"),
    }
    for expected, args in cases.items():
        line = _one_line_error(wsshm(*args))
        assert expected in line, line
    assert not (tmp_path / "o").exists()  # failed runs leave no empty output folder behind


@pytest.mark.slow
def test_export_command_and_wrong_weights(tmp_path, tiny_weights):
    proc = wsshm("export", "--weights", tiny_weights, "-o", tmp_path / "m.onnx")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "m.onnx").stat().st_size > 1_000_000
    (tmp_path / "bad.safetensors").write_bytes(b"PK\x03\x04 pretending to be a torch.save zip")
    assert "never unpickles" in _one_line_error(wsshm("export", "--weights", tmp_path / "bad.safetensors",
                                                      "-o", tmp_path / "x.onnx"))
    assert "does not match" in _one_line_error(wsshm("export", "--weights", tiny_weights, "--model", "r18",
                                                     "-o", tmp_path / "x.onnx"))
    assert not (tmp_path / "x.onnx").exists()
    assert "at least 32" in _one_line_error(wsshm("export", "--weights", tiny_weights, "--short-side", "16",
                                                  "-o", tmp_path / "x.onnx"))


@pytest.mark.slow
def test_export_records_the_recommended_inference_size(tmp_path, tiny_weights):
    from wsshm_rt import Matter

    assert wsshm("export", "--weights", tiny_weights, "-o", tmp_path / "s.onnx", "--short-side", 96).returncode == 0
    assert Matter(tmp_path / "s.onnx").short_side == 96  # what Matter, predict and video then use by default
    assert wsshm("export", "--weights", tiny_weights, "-o", tmp_path / "d.onnx").returncode == 0
    assert Matter(tmp_path / "d.onnx").short_side == 512  # the weights recommend none


@pytest.mark.slow
def test_huge_image_stays_under_2gb(tmp_path, tiny_onnx):
    """A 10000x10000 photo is downscaled before inference; the alpha is upscaled after."""
    src = tmp_path / "big.jpg"
    # Made in a child process: a forked child inherits its parent's peak RSS, which would spoil the measure.
    make = ("import numpy as np, cv2, sys\n"
            "row = np.linspace(0, 255, 10000, dtype=np.float32)\n"
            "img = np.empty((10000, 10000, 3), np.uint8)\n"
            "img[:, :, 0] = row[:, None]; img[:, :, 1] = row[None, :]; img[:, :, 2] = 128\n"
            "assert cv2.imwrite(sys.argv[1], img)\n")
    subprocess.run([sys.executable, "-c", make, str(src)], check=True)
    # VmHWM, not ru_maxrss: ru_maxrss survives exec, so the child would start at pytest's own peak.
    code = ("import re, sys\nfrom wsshm_rt.cli import main\n"
            "try:\n    main(sys.argv[1:])\nfinally:\n"
            "    hwm = re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1)\n"
            "    print('maxrss_kb', hwm, file=sys.stderr)\n")
    proc = subprocess.run([sys.executable, "-c", code, "predict", str(src), "-o", str(tmp_path / "out"),
                           "-m", str(tiny_onnx), "--outputs", "alpha,rgba"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    rss_kb = int(proc.stderr.split("maxrss_kb")[-1])
    assert rss_kb < 2 * 1024 * 1024, f"peak memory {rss_kb / 1024:.0f} MB"
    alpha = cv2.imread(str(tmp_path / "out/big.alpha.png"), cv2.IMREAD_UNCHANGED)
    assert alpha.shape == (10000, 10000)


def test_a_gif_in_a_folder_is_matted_as_a_gif_given_alone_is(tmp_path, tiny_onnx):
    """A GIF (its first frame) is an image in a folder or a glob too, not silently left out; ``out`` may be a str."""
    from PIL import Image

    from wsshm_rt.predict import PredictOptions, run_predict

    folder = tmp_path / "photos"
    folder.mkdir()
    frames = [Image.fromarray(make_portrait(64, 48, seed=i)[0]) for i in range(2)]
    frames[0].save(folder / "anim.gif", save_all=True, append_images=frames[1:])
    _write(folder / "p.png", make_portrait(64, 48)[0])
    run_predict([folder], PredictOptions(str(tmp_path / "out"), outputs="alpha"), model=tiny_onnx, short_side=64)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["anim.alpha.png", "p.alpha.png"]
