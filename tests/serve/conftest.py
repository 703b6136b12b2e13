"""A real ``wsshm-rt serve`` in a subprocess on a free port of 127.0.0.1, and small HTTP helpers (stdlib only)."""

from __future__ import annotations

import contextlib
import http.client
import json
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass

import cv2
import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the [serve] extra is not installed")

from wsshm_rt.matter import ASSETS  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    process: subprocess.Popen
    port: int

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None,
                chunked: bool = False):
        """(status, content type, body bytes) of one request on a fresh connection."""
        status, answer_headers, answer = self.exchange(method, path, body, headers, chunked)
        return status, answer_headers.get("content-type", ""), answer

    def exchange(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None,
                 chunked: bool = False):
        """(status, headers with lower-case names, body bytes) of one request on a fresh connection."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=300)
        try:
            if chunked:
                conn.request(method, path, body=iter([body]), headers=headers or {}, encode_chunked=True)
            else:
                conn.request(method, path, body=body, headers=headers or {})
            res = conn.getresponse()
            return res.status, {k.lower(): v for k, v in res.getheaders()}, res.read()
        finally:
            conn.close()

    def matte(self, image: bytes, query: str = "", **kw):
        return self.request("POST", "/v1/matte" + (f"?{query}" if query else ""), image, **kw)

    def metrics(self) -> dict[str, float]:
        """The /metrics samples, 'name{labels}' -> value."""
        status, _, body = self.request("GET", "/metrics")
        assert status == 200
        lines = [ln for ln in body.decode().splitlines() if ln and not ln.startswith("#")]
        return {ln.rsplit(" ", 1)[0]: float(ln.rsplit(" ", 1)[1]) for ln in lines}

    def stop(self) -> int:
        """SIGTERM, as a process manager stops it; the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise


def start_server(*flags: str) -> Server:
    port = free_port()
    cmd = [sys.executable, "-m", "wsshm_rt", "serve", "--port", str(port), "--threads", "2", *flags]
    process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    server = Server(process, port)
    deadline = time.monotonic() + 180  # a hang guard for a loaded machine, not a speed requirement
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}: {process.stderr.read()}")
        with contextlib.suppress(OSError):
            if server.request("GET", "/healthz")[0] == 200:
                return server
        time.sleep(0.2)
    process.kill()
    raise RuntimeError("the server did not answer /healthz")


@contextlib.contextmanager
def running(*flags: str):
    server = start_server(*flags)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def server():
    """One server for a module's tests: one pass per image (tta none), small limits to test them with."""
    with running("--tta", "none", "--max-bytes", "2000000", "--max-pixels", "1000000") as s:
        yield s


def photo(height: int = 180, width: int = 240) -> np.ndarray:
    """The bundled astronaut portrait at a small size: uint8 RGB."""
    rgb = cv2.cvtColor(cv2.imread(str(ASSETS / "astronaut.jpg")), cv2.COLOR_BGR2RGB)
    return cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA)


def encode(rgb: np.ndarray, suffix: str = ".jpg") -> bytes:
    ok, buf = cv2.imencode(suffix, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    return buf.tobytes()


def decode_png(data: bytes) -> np.ndarray:
    """PNG bytes -> the array as stored (grey Shape(H, W), RGB or RGBA), channels in RGB order."""
    arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert arr is not None, data[:200]
    if arr.ndim == 3:
        arr = cv2.cvtColor(arr, cv2.COLOR_BGRA2RGBA if arr.shape[2] == 4 else cv2.COLOR_BGR2RGB)
    return arr


def multipart(fields: dict[str, tuple[str, bytes] | str]) -> tuple[bytes, dict]:
    """A multipart/form-data body: a (filename, bytes) value is a file, a str a text field."""
    boundary = "wsshmboundary7d1c"
    parts = []
    for name, value in fields.items():
        if isinstance(value, tuple):
            head = (f'Content-Disposition: form-data; name="{name}"; filename="{value[0]}"\r\n'
                    "Content-Type: application/octet-stream\r\n\r\n")
            parts.append(f"--{boundary}\r\n{head}".encode() + value[1] + b"\r\n")
        else:
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def error_of(body: bytes) -> str:
    """The one sentence of a JSON error answer."""
    message = json.loads(body)["error"]
    assert isinstance(message, str) and message and "\n" not in message and "Traceback" not in message
    return message
