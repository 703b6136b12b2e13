"""Decompression bombs and endless inputs, run in a subprocess so that its peak memory (RSS, from wait4) is what the
test measures: every bomb is refused under RSS_CEILING_MB, nothing hangs (a run past HANG_SECONDS is killed and
failed), and the good files beside the bombs are still written."""

from __future__ import annotations

import pytest

from wsshm_rt.files import IMAGE_SUFFIXES

from .conftest import RSS_CEILING_MB, encode, make_fifo, portrait, run_measured


def test_a_folder_of_bombs_is_refused_within_the_memory_ceiling(bombs, tmp_path):
    folder = next(iter(bombs.values())).parent
    (folder / "good.png").write_bytes(encode(portrait()))
    try:
        run = run_measured(["predict", folder, "-o", tmp_path / "out", "--tta", "none", "--short-side", 64],
                           tmp_path)
    finally:
        (folder / "good.png").unlink()
    listed = [p for p in bombs.values() if p.suffix in IMAGE_SUFFIXES]  # not .gif: no input for predict
    assert run.code == 1 and "Traceback" not in run.err, run.err
    assert f"1 written to {tmp_path / 'out'}, {len(listed)} skipped" in run.err
    for path in listed:
        assert f"wsshm-rt: skipped {path}: " in run.err, path.name
    assert run.peak_mb < RSS_CEILING_MB, run.peak_mb


@pytest.mark.parametrize("src", ["/dev/zero", "/dev/urandom", "fifo"])
def test_endless_paths_are_refused_at_once(src, tmp_path):
    path = make_fifo(tmp_path / "pipe.jpg") if src == "fifo" else src
    run = run_measured(["predict", path, "-o", tmp_path / "out"], tmp_path)
    assert run.code == 2 and "Traceback" not in run.err, run.err
    assert run.err.strip().startswith("wsshm-rt: error: ") and len(run.err.strip().splitlines()) == 1
    assert run.peak_mb < RSS_CEILING_MB, run.peak_mb


API_BOMBS = """
import io, sys
from wsshm_rt.errors import WsshmError
from wsshm_rt.images import load_image
refused = 0
for path in sys.argv[1:]:
    data = open(path, "rb").read()
    for src in (path, data, io.BytesIO(data)):
        try:
            load_image(src)
        except WsshmError:
            refused += 1
print(refused)
"""


def test_bombs_through_the_api_are_refused_within_the_memory_ceiling(bombs, tmp_path):
    run = run_measured(["-c", API_BOMBS, *map(str, bombs.values())], tmp_path)
    assert run.code == 0 and run.out.strip() == str(3 * len(bombs)), run.err
    assert run.peak_mb < RSS_CEILING_MB, run.peak_mb


ENDLESS_STREAM = """
from wsshm_rt.errors import WsshmError
from wsshm_rt.images import load_image

class Endless:
    def read(self, n=-1):
        return bytes(min(n if n > 0 else 1 << 20, 1 << 20))

try:
    load_image(Endless())
except WsshmError as exc:
    print(exc)
"""


def test_an_endless_file_object_is_cut_at_the_byte_cap(tmp_path):
    run = run_measured(["-c", ENDLESS_STREAM], tmp_path, timeout=60)
    assert run.code == 0 and "image is larger than 512 MB" in run.out, (run.out, run.err)
    assert run.peak_mb < 2 * 512 + 200, run.peak_mb  # bounded by the cap, not by the stream
