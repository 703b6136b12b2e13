"""The package as `pip install` from a wheel gives it (not the source tree): the bundled model, the sample photo,
the web page and the type marker are inside, and the CLI runs from it."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", str(out)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"pip could not build a wheel here: {done.stderr.strip().splitlines()[-1:]}")
    return next(out.glob("wsshm_rt-*.whl"))


def test_the_wheel_holds_the_files_the_package_reads(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in ("wsshm_rt/assets/wsshm-r18-0.5.onnx", "wsshm_rt/assets/astronaut.jpg", "wsshm_rt/py.typed",
                 "wsshm_rt/serve/static/index.html", "wsshm_rt/serve/static/app.js"):
        assert name in names, name
    assert not any(n.startswith(("tests/", "docs/", "recipes/")) for n in names)


def test_the_installed_wheel_runs_the_demo_away_from_the_source_tree(wheel, tmp_path):
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
                   check=True, capture_output=True)
    env = {**os.environ, "PYTHONPATH": str(site)}
    where = subprocess.run([sys.executable, "-c", "import wsshm_rt; print(wsshm_rt.__file__)"], cwd=tmp_path, env=env,
                           capture_output=True, text=True, check=True).stdout.strip()
    assert Path(where).is_relative_to(site)
    done = subprocess.run([sys.executable, "-m", "wsshm_rt", "demo", "-o", "out"], cwd=tmp_path,
                          env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert {p.name for p in (tmp_path / "out").iterdir()} >= {"astronaut.alpha.png", "astronaut.rgba.png"}
