"""``wsshm-rt predict --ray ray://HOST:PORT``: the CLI as a Ray Client of a cluster started with ``ray start --head``
(on this machine, 2 CPUs): the same alphas as without Ray."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import pytest

from conftest import make_portrait

pytest.importorskip("ray.data", reason="the [ray] extra is not installed")
pytest.importorskip("ray.util.client", reason="the [ray] extra is not installed")
pytestmark = pytest.mark.slow  # a cluster takes seconds to start


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def head(tmp_path):
    """``ray start --head --block`` in a process of this test's own, ended by its id; yields the ray:// address."""
    ray_cli = shutil.which("ray", path=os.path.dirname(sys.executable))
    client_port, gcs_port = _free_port(), _free_port()
    cmd = [ray_cli, "start", "--head", "--block", "--num-cpus", "2", "--include-dashboard=false",
           "--port", str(gcs_port), "--ray-client-server-port", str(client_port),
           "--dashboard-agent-listen-port", str(_free_port())]
    env = {**os.environ, "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "0"}  # nothing to drain: end at once on SIGTERM
    log = tmp_path / "ray-start.log"
    with open(log, "w") as out:
        process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 180  # a hang guard, not a speed requirement
    while "Ray runtime started" not in log.read_text() and process.poll() is None:
        assert time.monotonic() < deadline, "ray start did not finish starting"
        time.sleep(0.5)
    if process.poll() is not None:
        pytest.fail(f"ray start failed: {log.read_text()[-2000:]}")
    yield f"ray://127.0.0.1:{client_port}"
    process.send_signal(signal.SIGTERM)  # it ends the cluster's processes it started
    try:
        process.wait(180)
    except subprocess.TimeoutExpired:
        process.kill()
    # `ray start` notes its cluster for later `ray.init()` calls to join; this one is gone.
    note = Path(tempfile.gettempdir()) / "ray" / "ray_current_cluster"
    if note.is_file() and note.read_text().strip().endswith(f":{gcs_port}"):
        note.unlink()


def test_predict_over_ray_client_writes_the_same_alphas(head, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for i, size in enumerate(((96, 72), (80, 120))):
        cv2.imwrite(str(photos / f"p{i}.png"), cv2.cvtColor(make_portrait(*size, seed=i)[0], cv2.COLOR_RGB2BGR))
    (photos / "bad.jpg").write_bytes(b"no image")
    base = [sys.executable, "-m", "wsshm_rt", "predict", str(photos), "--outputs", "alpha"]
    plain = subprocess.run([*base, "-o", str(tmp_path / "plain")], capture_output=True, text=True, timeout=600)
    env = {**os.environ, "RAY_AUTH_MODE": "token"}  # the cluster's token (~/.ray/auth_token) goes with each call
    env.pop("RAY_ADDRESS", None)
    on_ray = subprocess.run([*base, "-o", str(tmp_path / "ray"), "--ray", head], capture_output=True, text=True,
                            timeout=600, env=env)
    assert plain.returncode == on_ray.returncode == 1, on_ray.stderr  # 1: a file was skipped
    assert f"skipped {photos / 'bad.jpg'}" in on_ray.stderr and "2 written" in on_ray.stderr
    written = sorted(p.name for p in (tmp_path / "plain").iterdir())
    assert written == ["p0.alpha.png", "p1.alpha.png"]
    for name in written:
        assert (tmp_path / "ray" / name).read_bytes() == (tmp_path / "plain" / name).read_bytes()
