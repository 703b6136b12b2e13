"""Subprocess tests: SIGKILL mid-run then resume == uninterrupted (bitwise); torchrun x2 on CPU keeps replicas equal."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from wsshm_rt.weights import load_weights  # noqa: E402

from .conftest import TINY  # noqa: E402

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def teacher_weights(tmp_path_factory):
    from wsshm_rt.models import create_model
    from wsshm_rt.preprocess import IMAGENET_MEAN, IMAGENET_STD
    from wsshm_rt.weights import make_metadata, save_weights

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("teacher") / "teacher.safetensors"
    save_weights(create_model("r18-0.5").state_dict(), path, make_metadata("r18-0.5", IMAGENET_MEAN, IMAGENET_STD))
    return path


def student_cmd(tiny_data, teacher, out, iters=12):
    # The student stage carries the most state: Adam, cosine schedule, the EMA teacher, two views per image.
    return [sys.executable, "-m", "wsshm_rt", "train", "student", "--seg", str(tiny_data["seg"]), "--teacher",
            str(teacher), "--out", str(out), "--iters", str(iters), "--save-every", "3", "--val-every", "0",
            "--crop-max", "96", "--deterministic", *TINY]


@pytest.mark.slow
def test_sigkill_then_resume_equals_uninterrupted(tiny_data, teacher_weights, tmp_path):
    ref, killed = tmp_path / "ref", tmp_path / "killed"
    subprocess.run(student_cmd(tiny_data, teacher_weights, ref), env=ENV, check=True, capture_output=True)
    # saved every 3 steps, the last K = 3 step checkpoints kept
    assert sorted(p.name for p in (ref / "ckpt").iterdir()) == [f"step_{s:07d}.safetensors" for s in (6, 9, 12)]

    proc = subprocess.Popen(student_cmd(tiny_data, teacher_weights, killed), env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = killed / "state.pt"
    deadline = time.time() + 120
    while not state.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    step = torch.load(state, weights_only=True)["step"]
    assert 0 < step < 12

    subprocess.run(student_cmd(tiny_data, teacher_weights, killed), env=ENV, check=True, capture_output=True)
    a, _ = load_weights(ref / "last")
    b, _ = load_weights(killed / "last")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    ta = torch.load(ref / "state.pt", weights_only=True)["teacher"]
    tb = torch.load(killed / "state.pt", weights_only=True)["teacher"]
    assert all(torch.equal(ta[k], tb[k]) for k in ta)
    rows = [json.loads(line) for line in (killed / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if r["kind"] == "train"] == list(range(1, 13))  # records the killed run wrote past its checkpoint were dropped


# torchrun's own networking, not this project's code: a busy or DNS-less CI host can fail it (seen once in CI, with
# its stderr not kept). Such a failure is retried once; any other failure fails the test at once.
TRANSPORT = re.compile(r"Connection (reset|refused|closed)|Address already in use|Rendezvous\w*Error|Socket ?Timeout|"
                       r"DistNetworkError|failed to listen|Name or service not known|getaddrinfo|Temporary failure in")


@pytest.mark.skipif(shutil.which("torchrun", path=str(Path(sys.executable).parent)) is None,
                    reason="torchrun is not installed beside this python")
@pytest.mark.slow
def test_torchrun_two_cpu_ranks_stay_identical(tiny_data, tmp_path):
    torchrun = str(Path(sys.executable).parent / "torchrun")
    # Everything on loopback: without --local-addr the workers reach the store through the host's FQDN (a DNS lookup).
    env = {**ENV, "GLOO_SOCKET_IFNAME": "lo"} if Path("/sys/class/net/lo").exists() else ENV
    for attempt in (1, 2):
        out = tmp_path / f"ddp{attempt}"
        cmd = [torchrun, "--standalone", "--local-addr", "127.0.0.1", "--nproc_per_node=2", "-m", "wsshm_rt", "train",
               "pretrain", "--seg", str(tiny_data["seg"]), "--model", "r18-0.5", "--out", str(out), "--iters", "3",
               "--save-every", "3", *TINY]
        cmd[cmd.index("--batch-size") + 1] = "4"  # 2 per rank
        run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
        if run.returncode == 0 or attempt == 2 or not TRANSPORT.search(run.stderr):
            break
    assert run.returncode == 0, f"torchrun exited {run.returncode}:\n{run.stdout[-3000:]}\n{run.stderr[-6000:]}"
    digests = json.loads((out / "summary.json").read_text())["replica_digests"]
    assert len(digests) == 2 and digests[0] == digests[1]
    assert (out / "last.safetensors").is_file()
