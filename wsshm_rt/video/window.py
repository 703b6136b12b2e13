"""The live preview window (cv2.imshow): keys to cycle backgrounds, toggle the alpha view, quit; FPS overlay."""

from __future__ import annotations

import os
import sys
import threading
import time

import numpy as np

from ..errors import WsshmError

KEYS_HELP = "b: next background  a: alpha view  q/Esc: quit"
NO_WINDOW = ("cannot open a preview window here (no display, or OpenCV without GUI support such as "
             "opencv-python-headless); pass --no-window --output FILE to write the result instead")


class Controls:
    """What the user picked in the window; read by the compositing thread, written by the window thread."""

    def __init__(self, backgrounds: list):
        self.backgrounds = backgrounds
        self.index = 0
        self.show_alpha = False
        self._lock = threading.Lock()

    def next_background(self) -> None:
        with self._lock:
            self.index = (self.index + 1) % len(self.backgrounds)
            self.show_alpha = False

    def toggle_alpha(self) -> None:
        with self._lock:
            self.show_alpha = not self.show_alpha

    def current(self):
        """(background, show_alpha) as one consistent pair."""
        with self._lock:
            return self.backgrounds[self.index], self.show_alpha


def check_gui() -> None:
    """Raise the one-sentence WsshmError when no window can be shown (before any work starts)."""
    import cv2

    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise WsshmError(NO_WINDOW)
    try:
        cv2.namedWindow("wsshm-rt probe", cv2.WINDOW_AUTOSIZE)
        cv2.destroyWindow("wsshm-rt probe")
    except cv2.error:
        raise WsshmError(NO_WINDOW) from None


class PreviewWindow:
    """Show frames with an FPS / latency overlay and handle the keys; ``closed`` turns True on quit."""

    def __init__(self, controls: Controls, title: str = "wsshm-rt"):
        check_gui()
        self.controls, self.title = controls, title
        self.closed = False
        self._fps, self._last = 0.0, None

    def show(self, rgb: np.ndarray, captured: float) -> None:
        import cv2

        now = time.perf_counter()
        if self._last is not None:
            fps = 1.0 / max(now - self._last, 1e-6)
            self._fps = fps if self._fps == 0 else 0.9 * self._fps + 0.1 * fps  # EMA: a readable number
        self._last = now
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        text = f"{self._fps:5.1f} FPS  latency {1e3 * (now - captured):4.0f} ms"
        for colour, width in (((0, 0, 0), 3), ((255, 255, 255), 1)):
            cv2.putText(bgr, text, (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, colour, width, cv2.LINE_AA)
            cv2.putText(bgr, KEYS_HELP, (8, bgr.shape[0] - 10), cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, width,
                        cv2.LINE_AA)
        cv2.imshow(self.title, bgr)
        self._handle(cv2.waitKey(1) & 0xFF)
        if cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1:
            self.closed = True

    def _handle(self, key: int) -> None:
        if key in (ord("q"), 27):
            self.closed = True
        elif key == ord("b"):
            self.controls.next_background()
        elif key == ord("a"):
            self.controls.toggle_alpha()

    def close(self) -> None:
        import cv2

        cv2.destroyWindow(self.title)
