"""The live window: refused without a display, and its keys (with cv2's GUI faked)."""

from __future__ import annotations

import cv2
import pytest

av = pytest.importorskip("av")

from wsshm_rt.errors import WsshmError  # noqa: E402
from wsshm_rt.video import run_webcam  # noqa: E402


def test_window_on_headless_machine(matter, clips, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(WsshmError, match="--no-window --output"):
        run_webcam(matter, source=clips / "clip.mp4", window=True)


def test_window_keys_cycle_and_quit(clips, matter, monkeypatch):
    """The window loop with cv2's GUI faked: 'b' cycles the background, 'a' shows alpha, 'q' quits."""
    import cv2

    from wsshm_rt.video import api, window as video_window

    keys, shown, picked = iter([ord("b"), ord("a"), ord("q")]), [], []
    monkeypatch.setattr(api, "check_gui", lambda: None)
    monkeypatch.setattr(video_window, "check_gui", lambda: None)
    monkeypatch.setattr(cv2, "imshow", lambda title, img: shown.append(img))
    monkeypatch.setattr(cv2, "waitKey", lambda ms: next(keys))
    monkeypatch.setattr(cv2, "getWindowProperty", lambda *a: 1.0)
    monkeypatch.setattr(cv2, "destroyWindow", lambda *a: None)
    real_controls = api.Controls

    def recording_controls(backgrounds):
        picked.append(real_controls(backgrounds))
        return picked[-1]

    monkeypatch.setattr(api, "Controls", recording_controls)
    result = run_webcam(matter, source=clips / "clip.mp4", backgrounds=["#0000ff"], window=True)
    assert result.frames == len(shown) == 3 and shown[0].shape == (96, 128, 3)
    controls = picked[0]
    assert [b.kind for b in controls.backgrounds] == ["color", "color", "blur"]
    assert controls.index == 1 and controls.show_alpha
