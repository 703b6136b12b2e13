"""Folder runs (predict, eval) over hostile files: every bad file is reported and skipped, every good one is written
(or scored); the summary says how many of each; exit 1 if any was skipped, 2 if none was written. A single bad
input, a bad output folder or a bad option is one line and exit 2."""

from __future__ import annotations

import errno
import os

import numpy as np
import pytest

from .conftest import assert_error, assert_no_partial_files, encode, make_fifo, pil_bytes, png_bomb, portrait, \
    run_cli

FAST = ["--tta", "none", "--short-side", 64]


def _deny(monkeypatch, name: str):
    """Reading ``name`` fails with EACCES, as for a user without the permission (the tests may run as root)."""
    from wsshm_rt import image_bytes

    real = image_bytes.os.open

    def opener(path, *args, **kwargs):
        if os.path.basename(path) == name:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(image_bytes.os, "open", opener)


@pytest.fixture
def mixed(tmp_path, monkeypatch):
    """A folder of 3 good photos (odd names among them) and 7 bad files, in name order among each other."""
    folder = tmp_path / "in"
    folder.mkdir()
    good = {"a photo.jpg": encode(portrait(seed=1), ".jpg"), "b-ünïcode.png": encode(portrait(seed=2)),
            "z.webp": pil_bytes(__import__("PIL.Image").Image.fromarray(portrait(seed=3)), "WEBP")}
    bad = {"c-text.jpg": b"not an image", "d-empty.png": b"", "e-cut.png": encode(portrait(300, 200))[:500],
           "f-bomb.png": png_bomb(20000, 20000), "g-locked.jpg": encode(portrait(), ".jpg"),
           "h-tiny.png": encode(portrait(4, 4))}
    for name, data in {**good, **bad}.items():
        (folder / name).write_bytes(data)
    make_fifo(folder / "i-pipe.jpg")
    (folder / "j-folder.png").mkdir()  # a folder named like an image is not an input at all
    _deny(monkeypatch, "g-locked.jpg")
    return folder, sorted(good), sorted([*bad, "i-pipe.jpg"])


def test_a_folder_with_bad_files_writes_the_good_ones_and_reports_the_rest(mixed, tmp_path, capfd):
    folder, good, bad = mixed
    out = tmp_path / "out"
    res = run_cli(capfd, "predict", folder, "-o", out, *FAST)
    assert "Traceback" not in res.err and res.code == 1, res.err
    assert f"{len(good)} written to {out}, {len(bad)} skipped" in res.err
    for name in bad:
        assert any(line.startswith(f"wsshm-rt: skipped {folder / name}: ") for line in res.err_lines), name
    written = sorted(p.name for p in out.iterdir())
    assert written == sorted(f"{os.path.splitext(g)[0]}.{k}.png" for g in good for k in ("alpha", "rgba"))
    assert_no_partial_files(out)


def test_an_output_that_only_this_file_cannot_have_is_skipped_not_the_end_of_the_run(tmp_path, capfd):
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    long_name = "n" * 248 + ".png"  # fine as an input; its output name would be longer than a file name may be
    for name in (long_name, "a.png", "b.png"):
        (folder / name).write_bytes(encode(portrait()))
    (out / "b.alpha.png").mkdir(parents=True)  # a folder where an output file goes
    res = run_cli(capfd, "predict", folder, "-o", out, *FAST)
    assert res.code == 1 and "Traceback" not in res.err, res.err
    assert f"1 written to {out}, 2 skipped" in res.err
    assert "File name too long" in res.err and "Is a directory" in res.err
    assert (out / "a.alpha.png").is_file() and (out / "a.rgba.png").is_file()
    assert_no_partial_files(out)


def test_a_folder_of_only_bad_files_is_exit_2_and_leaves_nothing(mixed, tmp_path, capfd):
    folder, good, bad = mixed
    for name in good:
        (folder / name).unlink()
    res = run_cli(capfd, "predict", folder, "-o", tmp_path / "out", *FAST)
    assert res.code == 2 and "Traceback" not in res.err
    assert res.err_lines[-1] == f"wsshm-rt: error: none of the {len(bad)} images could be read"
    assert not (tmp_path / "out").exists()


SINGLE = {
    "text": lambda t: (t / "x.jpg").write_bytes(b"hello") and t / "x.jpg",
    "fifo": lambda t: make_fifo(t / "x.jpg"),
    "dev-zero": lambda t: "/dev/zero",
    "bomb": lambda t: (t / "x.png").write_bytes(png_bomb(30000, 30000)) and t / "x.png",
    "missing": lambda t: t / "missing.jpg",
    "empty-folder": lambda t: (t / "empty").mkdir() or t / "empty",
    "no-match-glob": lambda t: t / "*.jpg",
    "folder-of-text": lambda t: ((t / "d").mkdir(), (t / "d" / "a.txt").write_text("x"))[0] or t / "d",
}


@pytest.mark.parametrize("name", list(SINGLE))
def test_a_single_bad_input_is_one_line(name, tmp_path, capfd):
    src = SINGLE[name](tmp_path)
    res = run_cli(capfd, "predict", src, "-o", tmp_path / "out", *FAST)
    assert_error(res)
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


@pytest.fixture
def photo(tmp_path):
    (tmp_path / "p.png").write_bytes(encode(portrait()))
    return tmp_path / "p.png"


BAD_OPTIONS = {
    "out-is-a-file": (lambda t: ["-o", t / "p.png"], "it is a file"),
    "out-unwritable": (lambda t: ["-o", "/proc/wsshm-out"], "cannot write to output folder"),
    "bg-bomb": (lambda t: ["-o", t / "o", "-b", (t / "b.png").write_bytes(png_bomb(20000, 20000)) and t / "b.png"],
                "MP"),
    "bg-fifo": (lambda t: ["-o", t / "o", "-b", make_fifo(t / "b.jpg")], "named pipe"),
    "bg-missing": (lambda t: ["-o", t / "o", "-b", t / "nope.jpg"], "does not exist"),
    "bg-bad-colour": (lambda t: ["-o", t / "o", "-b", "#12345z"], "#12345z"),
    "bad-outputs": (lambda t: ["-o", t / "o", "--outputs", "alpha,depth"], "unknown output 'depth'"),
    "composite-no-bg": (lambda t: ["-o", t / "o", "--outputs", "composite"], "needs --background"),
    "model-fifo": (lambda t: ["-o", t / "o", "--model", make_fifo(t / "m.onnx")], "not a regular file"),
    "model-missing": (lambda t: ["-o", t / "o", "--model", t / "m.onnx"], "does not exist"),
    "short-side-small": (lambda t: ["-o", t / "o", "--short-side", "8"], "short_side must be at least 32"),
    "threads-zero": (lambda t: ["-o", t / "o", "--threads", "0"], "threads must be at least 1"),
}


@pytest.mark.parametrize("name", list(BAD_OPTIONS))
def test_bad_outputs_and_options_are_one_line(name, photo, tmp_path, capfd):
    make, needle = BAD_OPTIONS[name]
    res = run_cli(capfd, "predict", photo, *make(tmp_path), "--tta", "none")
    assert_error(res, needle)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("flag, value, needle", [("--short-side", "nan", "Invalid value"),
                                                 ("--threads", "2.5", "Invalid value"),
                                                 ("--engine", "tflite", "engine must be auto, onnxruntime")])
def test_values_of_the_wrong_type_are_a_usage_error(flag, value, needle, photo, tmp_path, capfd):
    """Typer refuses a value of the wrong type; the library refuses an unknown engine (one sentence naming it)."""
    res = run_cli(capfd, "predict", photo, "-o", tmp_path / "o", flag, value)
    assert res.code == 2 and "Traceback" not in res.err and needle in res.err
    assert not (tmp_path / "o").exists()


# ---------------------------------------------------------------- eval


def _layout(root, n=3, masks="masks"):
    import cv2

    for sub in ("images", masks):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        rgb = portrait(seed=i)
        cv2.imwrite(str(root / "images" / f"{i}.png"), rgb[..., ::-1])
        cv2.imwrite(str(root / masks / f"{i}.png"), ((rgb[..., 0] > 128) * 255).astype(np.uint8))
    return root


@pytest.mark.parametrize("bad", ["text-image", "bomb-image", "locked-mask"])
def test_eval_skips_an_unreadable_pair_and_scores_the_rest(bad, tmp_path, capfd, monkeypatch):
    data = _layout(tmp_path / "seg", n=3)
    if bad == "text-image":
        (data / "images" / "1.png").write_bytes(b"not an image")
    elif bad == "bomb-image":
        (data / "images" / "1.png").write_bytes(png_bomb(20000, 20000))
    else:
        _deny(monkeypatch, "1.png")  # the image and its mask share the name: both unreadable
    res = run_cli(capfd, "eval", "--data", data, "--kind", "seg", "--tta", "none", "--refine", "none",
                  "--short-side", 64, "--json", tmp_path / "m.json")
    assert res.code == 1 and "Traceback" not in res.err, res.err
    assert "wsshm-rt: 2 scored, 1 skipped" in res.err and "iou" in res.out.lower()
    import json

    assert json.loads((tmp_path / "m.json").read_text())["skipped"] == 1


@pytest.mark.parametrize("kind", ["seg", "matte"])
def test_eval_per_image_lists_each_scored_image_worst_first(kind, tmp_path, capfd):
    import csv
    import json

    import cv2
    from conftest import all_person_model

    data = _layout(tmp_path / kind, n=4, masks="masks" if kind == "seg" else "alpha")
    (data / "images" / "3.png").write_bytes(b"not an image")  # reported, skipped, and not in the CSV
    model = all_person_model(tmp_path / "all.safetensors")  # alpha 1 everywhere: a score is the label's share
    label = data / ("masks" if kind == "seg" else "alpha") / "2.png"
    cv2.imwrite(str(label), 255 - cv2.imread(str(label), cv2.IMREAD_GRAYSCALE))  # one image scored against its inverse
    extra = ["--kind", "seg"]
    if kind == "matte":
        extra = ["--kind", "matte", "--backgrounds", _layout(tmp_path / "bg") / "images"]
    res = run_cli(capfd, "eval", "--model", model, "--data", data, *extra, "--tta", "none", "--refine", "none",
                  "--short-side", 64, "--json", tmp_path / "m.json", "--per-image", tmp_path / "per.csv")
    assert res.code == 1 and "wsshm-rt: 3 scored, 1 skipped" in res.err, res.err
    rows = list(csv.DictReader((tmp_path / "per.csv").open()))
    assert sorted(r["image"] for r in rows) == ["images/0.png", "images/1.png", "images/2.png"]
    key = "iou" if kind == "seg" else "mse"
    values = [float(r[key]) for r in rows]
    assert values == sorted(values, reverse=kind != "seg") and rows[0]["image"] == "images/2.png"
    # The rows are the numbers the summary averages.
    assert np.mean(values) == pytest.approx(json.loads((tmp_path / "m.json").read_text())[key], rel=1e-4)


def test_eval_composites_scores_each_foreground_on_several_backgrounds(tmp_path, capfd):
    """--composites N: each foreground on N fixed backgrounds, the first the one a single composite uses; one
    per-image row a composite, numbered; the summary is their mean. Not for seg folders, not below 1."""
    import csv
    import json

    data, bgs = _layout(tmp_path / "matte", n=3, masks="alpha"), _layout(tmp_path / "bg") / "images"
    common = ["--data", data, "--backgrounds", bgs, "--tta", "none", "--refine", "none", "--short-side", 64]
    for n in (1, 3):
        res = run_cli(capfd, "eval", *common, "--composites", n, "--json", tmp_path / f"{n}.json",
                      "--per-image", tmp_path / f"{n}.csv")
        assert res.code == 0 and "wsshm-rt: 3 scored, 0 skipped" in res.err, res.err
    one = {r["image"]: r for r in csv.DictReader((tmp_path / "1.csv").open())}
    rows = list(csv.DictReader((tmp_path / "3.csv").open()))
    assert sorted((r["image"], r["composite"]) for r in rows) == [(f"images/{i}.png", str(j))
                                                                 for i in range(3) for j in range(3)]
    for r in rows:
        if r["composite"] == "0":  # the first composite is the single composite's
            assert r["mse"] == one[r["image"]]["mse"]
    assert len({r["mse"] for r in rows if r["image"] == "images/0.png"}) == 3  # three different pictures
    summary = json.loads((tmp_path / "3.json").read_text())
    assert summary["composites"] == 3 and summary["images"] == 3
    assert np.mean([float(r["mse"]) for r in rows]) == pytest.approx(summary["mse"], rel=1e-4)
    assert_error(run_cli(capfd, "eval", *common, "--composites", 0), "--composites must be in [1, 100]")
    res = run_cli(capfd, "eval", "--data", _layout(tmp_path / "seg"), "--composites", 2, "--short-side", 64)
    assert_error(res, "--composites 2: only matte folders are composited (this one is seg)")


def test_eval_skips_an_unreadable_background(tmp_path, capfd, caplog):
    data = _layout(tmp_path / "matte", n=2, masks="alpha")
    bgs = tmp_path / "bgs"
    bgs.mkdir()
    (bgs / "good.png").write_bytes(encode(portrait(seed=9)))
    (bgs / "bad.png").write_bytes(png_bomb(20000, 20000))  # passes the header check of find_backgrounds
    (bgs / "text.jpg").write_bytes(b"not an image")
    res = run_cli(capfd, "eval", "--data", data, "--kind", "matte", "--backgrounds", bgs, "--tta", "none",
                  "--refine", "none", "--short-side", 64)
    assert res.code == 1 and "Traceback" not in res.err, res.err
    # The warning is logged (on a terminal, one line on stderr: tests/training/data/test_layouts.py).
    assert "wsshm-rt: 2 scored, 2 skipped" in res.err and "skipped 2 unreadable background(s) of 3" in caplog.text


@pytest.mark.parametrize("args, needle", [(["--val-fraction", "nan", "--split", "val"], "--val-fraction must be in"),
                                          (["--kind", "depth"], "kind must be"), (["--split", "test"], "split must be"),
                                          (["--json", "/proc/m.json"], "cannot write /proc/m.json")],
                         ids=["val-fraction-nan", "kind", "split", "json-unwritable"])
def test_eval_options_are_one_line(args, needle, tmp_path, capfd):
    res = run_cli(capfd, "eval", "--data", _layout(tmp_path / "seg"), "--tta", "none", "--short-side", 64, *args)
    assert_error(res, needle)


def test_eval_of_only_unreadable_images_is_one_line(tmp_path, capfd):
    data = _layout(tmp_path / "seg", n=2)
    for p in (data / "images").iterdir():
        p.write_bytes(png_bomb(20000, 20000))
    res = run_cli(capfd, "eval", "--data", data, "--kind", "seg", "--tta", "none", "--short-side", 64)
    assert_error(res, "holds no readable segmentation pairs")
