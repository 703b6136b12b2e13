"""Finding the data: the known dataset layouts, pairs by file stem, bad files reported (a warning) and skipped."""

import logging
from pathlib import Path

import pytest

from wsshm_rt.errors import WsshmError
from wsshm_rt.training import data

from ..conftest import make_matte, make_seg, relayout, warnings_of


def test_pairs_layouts_and_bad_files(tmp_path, caplog):
    root = make_seg(tmp_path / "p3m", n=4)
    (root / "images").rename(root / "blurred_image")
    (root / "masks").rename(root / "mask")
    (root / "blurred_image" / "orphan.jpg").write_bytes((root / "blurred_image" / "s00.jpg").read_bytes())
    (root / "blurred_image" / "s03.jpg").write_bytes(b"not a jpeg")
    pairs = data.find_pairs(root, "segmentation")
    assert [p.image.stem for p in pairs] == ["s00", "s01", "s02"]
    warnings = warnings_of(caplog)
    assert len(warnings) == 1 and warnings[0].startswith("wsshm-rt: warning: ") and \
        "1 unpaired and 1 unreadable" in warnings[0]

    ppm = make_matte(tmp_path / "ppm", n=2)
    (ppm / "fg").rename(ppm / "image")
    (ppm / "alpha").rename(ppm / "matte")
    assert len(data.find_pairs(ppm, "matte")) == 2


@pytest.mark.parametrize("images, labels", [
    ("original", "mask"),                     # AM-2k (train/ and validation/)
    ("blurred_image", "mask"),                # P3M-10k train, P3M-500-P
    ("original_image", "mask"),               # P3M-500-NP
    ("image", "matte"),                       # PPM-100
    ("Train/FG", "Train/Alpha"),              # Human-2K style: capitalised folders, a train/ level
])
def test_public_matting_layouts_are_read(tmp_path, images, labels):
    from wsshm_rt.training.evaluate import _detect_kind

    root = relayout(make_matte(tmp_path / "set", n=3), images, labels)
    pairs = data.find_pairs(root, "matte")
    assert [(p.image.parent.name, p.label.parent.name, p.image.stem) for p in pairs] == \
        [(Path(images).name, Path(labels).name, f"m{i:02d}") for i in range(3)]
    # Benchmark layouts of real photos are scored as they are; fg/alpha folders need compositing.
    assert _detect_kind(root) == ("matte" if images.endswith("FG") else "photo")


def test_bad_folders_are_one_sentence(tmp_path):
    with pytest.raises(WsshmError, match="does not exist"):
        data.find_pairs(tmp_path / "nope", "segmentation")
    with pytest.raises(WsshmError, match="expected sub-folders"):
        data.find_pairs(tmp_path, "segmentation")
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    with pytest.raises(WsshmError, match="no readable"):
        data.find_pairs(tmp_path, "segmentation")


def test_a_warning_reaches_stderr_where_logging_is_not_configured(tmp_path, capsys):
    """As in the CLI, which configures no logging: Python's last-resort handler prints the warning alone, one line on
    stderr, in the words it always had (pytest's own log handlers are set aside while it is logged)."""
    bgs = tmp_path / "bgs"
    bgs.mkdir()
    (bgs / "bad.png").write_bytes(b"not an image")
    (bgs / "good.png").write_bytes((make_matte(tmp_path / "m", n=1) / "alpha" / "m00.png").read_bytes())
    root, saved = logging.getLogger(), logging.getLogger().handlers[:]
    assert logging.lastResort is not None and not logging.getLogger("wsshm_rt").handlers
    try:
        root.handlers.clear()
        capsys.readouterr()
        data.find_backgrounds(bgs)
        out, err = capsys.readouterr()
    finally:
        root.handlers[:] = saved
    assert out == "" and err == f"wsshm-rt: warning: {bgs}: skipped 1 unreadable background(s) of 2\n"
