"""The live WebSocket (/v1/live) from a Python client: frames in, composites out, errors as JSON."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from .conftest import encode, photo

websockets = pytest.importorskip("websockets.sync.client", reason="the [serve] extra is not installed")


def _jpeg(data: bytes) -> np.ndarray:
    arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert arr is not None
    return cv2.cvtColor(arr, cv2.COLOR_BGR2RGB)


def test_frames_come_back_composited_and_bad_frames_do_not_end_the_session(server):
    frame = photo(120, 160)
    url = f"ws://127.0.0.1:{server.port}/v1/live?background=%23ff0000"
    with websockets.connect(url, open_timeout=60) as ws:
        ws.send(encode(frame))
        red = _jpeg(ws.recv(timeout=120))
        assert red.shape == frame.shape
        ws.send(b"not a frame")
        error = json.loads(ws.recv(timeout=120))
        assert error["frame"] is True and "not a readable image" in error["error"]
        ws.send(json.dumps({"background": "#0000ff"}))  # a setting: no answer of its own
        ws.send(encode(frame))
        blue = _jpeg(ws.recv(timeout=120))
        ws.send(json.dumps({"background": "/etc/passwd"}))
        assert json.loads(ws.recv(timeout=120))["frame"] is False
    # Where the frames differ, the background shows: red in the first, blue in the second.
    changed = np.abs(red.astype(int) - blue.astype(int)).sum(axis=2) > 60
    assert changed.mean() > 0.05
    assert red[changed][:, 0].mean() > red[changed][:, 2].mean() + 50
    assert blue[changed][:, 2].mean() > blue[changed][:, 0].mean() + 50
    assert server.metrics()["wsshm_live_frames_total"] >= 2


def test_a_bad_setting_at_connect_is_said_and_the_socket_closed(server):
    url = f"ws://127.0.0.1:{server.port}/v1/live?tta=flip%2Bscale"
    with websockets.connect(url, open_timeout=60) as ws:
        assert "tta must be none or flip" in json.loads(ws.recv(timeout=60))["error"]
        with pytest.raises(Exception):
            ws.recv(timeout=60)


def test_a_frame_over_max_bytes_is_an_error_answer_and_the_session_goes_on(server):
    """--max-bytes 2000000: a 3 MB frame gets the JSON error (it used to be cut off by the WebSocket's own size
    limit, closing the connection with 1009), and the next frame is matted."""
    url = f"ws://127.0.0.1:{server.port}/v1/live"
    with websockets.connect(url, open_timeout=60, max_size=None) as ws:
        ws.send(b"\xff\xd8" + bytes(3_000_000))
        error = json.loads(ws.recv(timeout=120))
        assert error["frame"] is True and "--max-bytes" in error["error"]
        ws.send(encode(photo(120, 160)))
        assert _jpeg(ws.recv(timeout=120)).shape == (120, 160, 3)
