"""Starting and stopping: graceful shutdown, several workers, the CLI's one-line errors."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time

import pytest

from .conftest import decode_png, encode, photo, running, start_server


def _wait_for(condition, what: str):
    deadline = time.monotonic() + 120  # a hang guard, not a speed requirement
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_sigterm_finishes_the_request_in_flight():
    # The request waits in the batcher (2 s for companions) when the server is told to stop.
    server = start_server("--tta", "none", "--max-batch", "8", "--max-wait-ms", "2000")
    answer = {}
    jpeg = encode(photo())
    thread = threading.Thread(target=lambda: answer.update(zip("skb", server.matte(jpeg, "output=alpha"))))
    thread.start()
    _wait_for(lambda: server.metrics()["wsshm_requests_in_flight"] == 1, "the request to be in flight")
    # uvicorn, once done, ends itself with the signal it was given (as a process manager expects): -15
    assert server.stop() in (0, -15)
    thread.join(120)
    assert answer["s"] == 200 and decode_png(answer["b"]).shape == (180, 240)


@pytest.mark.slow
def test_two_workers_each_serve():
    with running("--tta", "none", "--workers", "2") as server:
        jpeg = encode(photo())
        for _ in range(4):
            status, _, body = server.matte(jpeg, "output=alpha")
            assert status == 200 and decode_png(body).shape == (180, 240)
        children = subprocess.run(["ps", "-ww", "--ppid", str(server.process.pid), "-o", "args="], capture_output=True,
                                  text=True).stdout.splitlines()
        assert sum("spawn_main" in c for c in children) == 2  # uvicorn's two worker processes
    assert server.process.returncode in (0, -15)


def _cli(*args: str, code: str = "") -> subprocess.CompletedProcess:
    script = f"import sys; {code}\nfrom wsshm_rt.cli import main; main({list(args)!r})"
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)


def test_missing_extra_prints_the_pip_line():
    # fastapi made unimportable in this one process, as on an install without the [serve] extra
    out = _cli("serve", code="sys.modules['fastapi'] = None")
    assert out.returncode == 2
    assert out.stderr.strip() == ("wsshm-rt: error: fastapi is not installed; install it with: "
                                  "pip install 'wsshm-rt[serve]'")


@pytest.mark.parametrize("args, words", [
    (("--max-batch", "0"), "--max-batch must be at least 1"),
    (("--max-wait-ms", "-1"), "--max-wait-ms must be 0 or more"),
    (("--tta", "all"), "tta must be"),
    (("--workers", "0"), "--workers must be at least 1"),
    (("--limit-concurrency", "0"), "--limit-concurrency must be at least 1"),
    (("--model", "no-such-model.onnx"), "does not exist"),
    (("--port", "99999"), "--port must be a whole number from 0 to 65535, not 99999"),
    (("--port", "65536"), "--port must be a whole number from 0 to 65535, not 65536"),
    (("--host", "192.0.2.1"), "--host 192.0.2.1 is not an address of this machine"),  # TEST-NET-1: nobody's
])
def test_bad_flags_are_one_line(args, words):
    out = _cli("serve", *args)
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and words in out.stderr


@pytest.mark.parametrize("listening", [True, False])
def test_a_port_in_use_is_one_line(listening):
    # Another program holds the port: a server listening on it, or a socket bound to it and not listening yet.
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        if listening:
            taken.listen()
        port = taken.getsockname()[1]
        out = _cli("serve", "--port", str(port))
    assert out.returncode == 2
    assert out.stderr == (f"wsshm-rt: error: port {port} on 127.0.0.1 is already in use (another server?); stop it "
                          "or choose another --port\n")


def test_the_cli_does_not_import_the_server_or_ray():
    code = ("import sys, wsshm_rt, wsshm_rt.cli\n"
            "print(sorted(m for m in ('fastapi', 'uvicorn', 'starlette', 'ray') if m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "[]"
