"""Frame sources for the video pipeline: a video file, a camera, a folder of images, each yielding ``Frame``s (RGB).

Video files are decoded with PyAV (the ``video`` extra), cameras read through cv2.VideoCapture. A .webm with an alpha
channel (as ``sinks`` writes it) is decoded with libvpx-vp9 so that its alpha is read back; a phone video stored
sideways with a display rotation is turned upright.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import WsshmError, require
from ..files import list_images
from ..image_bytes import check_pixels
from ..images import load_image, quiet_opencv
from ..predict import as_error, report_skipped

log = logging.getLogger("wsshm_rt")

DEFAULT_FPS = Fraction(25)
MIN_FPS, MAX_FPS = 0.1, 1000.0  # a frame rate a folder of frames may be given


@dataclass
class Frame:
    """One decoded frame: uint8 RGB Shape(H, W, 3), its time in seconds, and when it was captured (perf_counter)."""

    rgb: np.ndarray
    t: float
    captured: float


def _av():
    return require("av", "video")


class VideoFileSource:
    """Decode a video file with PyAV. A decode error mid-stream ends the frames with a warning (``truncated``)."""

    live = False

    def __init__(self, path):
        av = _av()
        self.path = Path(path)
        if not self.path.is_file():
            raise WsshmError(f"{self.path} does not exist" if not self.path.exists() else f"{self.path} is not a file")
        if self.path.stat().st_size == 0:
            raise WsshmError(f"{self.path} is empty (0 bytes)")
        try:
            self._container = av.open(str(self.path))
        except av.error.FFmpegError:
            raise WsshmError(f"{self.path} is not a readable video (corrupt, truncated or unsupported format)"
                             ) from None
        if not self._container.streams.video:
            self._container.close()
            raise WsshmError(f"{self.path} has no video stream")
        self._stream = self._container.streams.video[0]
        self._decoder = self._pick_decoder(av)
        self.fps = Fraction(self._stream.average_rate or self._stream.guessed_rate or DEFAULT_FPS)
        # Phones store portrait video as landscape frames plus a display rotation; the people in them are only
        # upright (as the model needs them) once the frames are turned as a player turns them.
        self.turns = self._display_turns(av)
        w, h = self._stream.width, self._stream.height
        try:
            check_pixels(str(self.path), w, h)  # a header declaring a giant frame is refused before any decode
        except WsshmError:
            self._container.close()
            raise
        self.size = (h, w) if self.turns % 2 else (w, h)
        self.frame_count = self._stream.frames or self._estimate_frames()
        self.has_audio = bool(self._container.streams.audio)
        self.truncated = False

    def _pick_decoder(self, av):
        """FFmpeg's native vp9 decoder drops the alpha side channel; libvpx-vp9 keeps it (needed to read our .webm)."""
        ctx = self._stream.codec_context
        if ctx is None:
            self._container.close()
            raise WsshmError(f"{self.path}: the video codec is not supported by this FFmpeg build")
        if ctx.name == "vp9" and self._stream.metadata.get("alpha_mode") == "1":
            dec = av.codec.CodecContext.create("libvpx-vp9", "r")
            dec.extradata = ctx.extradata
            return dec
        return ctx

    def _display_turns(self, av) -> int:
        """Quarter turns counter-clockwise (0-3) that the first frame's display matrix asks for."""
        try:
            with av.open(str(self.path)) as probe:
                for frame in probe.decode(video=0):
                    return round((frame.rotation or 0) / 90) % 4
        except (av.error.FFmpegError, AttributeError, TypeError, ValueError):
            pass  # an undecodable file is reported by the decoding loop, in its own words
        return 0

    def _estimate_frames(self) -> int | None:
        duration = self._duration()
        return round(duration * float(self.fps)) if duration else None

    def __iter__(self):
        av = _av()
        index, t, t0 = 0, 0.0, None
        try:
            for packet in self._container.demux(self._stream):
                if packet.size == 0 and self._decoder is not self._stream.codec_context:
                    continue  # the libvpx decoder is flushed below, not by the demuxer's empty packet
                for frame in self._decoder.decode(packet):
                    rgb = frame.to_ndarray(format="rgb24")
                    if self.turns:
                        rgb = np.ascontiguousarray(np.rot90(rgb, self.turns))
                    # The frame's own time: a variable frame rate keeps its timing (and the audio its sync).
                    t0 = frame.time if t0 is None and frame.time is not None else t0
                    t = frame.time - t0 if frame.time is not None else index / float(self.fps)
                    yield Frame(rgb, t, time.perf_counter())
                    index += 1
        except av.error.FFmpegError as exc:
            self.truncated = True
            if index:  # with no frame at all the run fails, and its error is the one line the user needs
                log.warning("wsshm-rt: %s: decoding stopped after %d frames (%s); keeping what was read",
                            self.path, index, exc)
            return
        self._check_complete(index, t)

    def _check_complete(self, index: int, t: float) -> None:
        """FFmpeg ends a cut-off file quietly; the header's duration is what tells that frames are missing. Judged by
        the last frame's time, not by a count from the average rate, which a variable frame rate makes wrong."""
        duration, step = self._duration(), 1 / float(self.fps)
        if duration and (index == 0 or t + 2 * step < 0.9 * duration):
            self.truncated = True
            if index:
                log.warning("wsshm-rt: %s: the frames read end at %.1f s of %.1f s (truncated file?)",
                            self.path, t + step, duration)

    def _duration(self) -> float | None:
        stream = self._stream
        if stream.duration and stream.time_base:
            return float(stream.duration * stream.time_base)
        return self._container.duration / 1e6 if self._container.duration else None

    def close(self) -> None:
        self._container.close()


class CameraSource:
    """Frames from a camera through cv2.VideoCapture; timestamps are wall-clock seconds since opening."""

    live = True
    has_audio = False
    truncated = False
    frame_count = None

    def __init__(self, index: int, size: tuple[int, int] | None = None):
        import cv2

        self.path = None
        with quiet_opencv():  # OpenCV prints backend warnings for a missing camera; our own message says it better
            self._cap = cv2.VideoCapture(index)
        if size and self._cap.isOpened():
            self._cap.set(cv2.CAP_PROP_FRAME_WIDTH, size[0])
            self._cap.set(cv2.CAP_PROP_FRAME_HEIGHT, size[1])
        ok, first = self._cap.read() if self._cap.isOpened() else (False, None)
        if not ok or first is None:
            self._cap.release()
            raise WsshmError(f"no camera found at index {index}; pass --source with another camera index, "
                             "a video file or a folder of images")
        self._first = first
        fps = self._cap.get(cv2.CAP_PROP_FPS)
        self.fps = Fraction(fps).limit_denominator(1001) if 1 <= fps <= 240 else Fraction(30)
        self.size = (first.shape[1], first.shape[0])
        self._t0 = time.perf_counter()

    def __iter__(self):
        import cv2

        bgr, self._first = self._first, None
        while bgr is not None or self._cap.isOpened():
            if bgr is None:
                ok, bgr = self._cap.read()
                if not ok:
                    log.warning("wsshm-rt: the camera stopped delivering frames")
                    return
            now = time.perf_counter()
            yield Frame(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), now - self._t0, now)
            bgr = None

    def close(self) -> None:
        self._cap.release()


class ImageFolderSource:
    """Frames from a folder (or glob) of images in name order, at a given frame rate.

    A file that cannot be read is reported (one line) and skipped, as ``predict`` does: its time stays empty (the
    frame before it is shown longer), so every other frame keeps its time (counted from the first readable one).
    A video has one size: an image of another size than the first readable one is scaled to cover that size and
    centre-cropped (as a background image is), the first such image named in a warning. ``skipped`` (path ->
    reason) and ``resized`` (a count) say what was done; the input never ends early (``truncated`` stays False).
    """

    live = False
    has_audio = False
    truncated = False

    def __init__(self, spec, fps: float | None = None):
        if fps is not None and not (math.isfinite(fps) and MIN_FPS <= fps <= MAX_FPS):
            raise WsshmError(f"--fps must be a frame rate from {MIN_FPS:g} to {MAX_FPS:g}, not {fps:g}")
        self.path = Path(spec)
        self._files = list_images(spec)
        self.skipped: dict[str, str] = {}
        self.resized = 0
        self._start, self._first = self._first_readable()
        self.size = (self._first.shape[1], self._first.shape[0])
        self.fps = Fraction(fps).limit_denominator(1001) if fps else DEFAULT_FPS
        self.frame_count = len(self._files)

    def _first_readable(self) -> tuple[int, np.ndarray]:
        """The index and pixels of the first image that can be read (it sets the size); the ones before it are
        reported and skipped. None readable: one sentence (the file's own where there is one file)."""
        for i, path in enumerate(self._files):
            try:
                return i, load_image(path)
            except Exception as exc:  # noqa: BLE001 - any failure is this file's: skip it, try the next
                if len(self._files) == 1:
                    raise as_error(exc, path) from None
                report_skipped(path, exc, self.skipped)
        raise WsshmError(f"none of the {len(self._files)} images in {self.path} could be read")

    def __iter__(self):
        for i in range(self._start, len(self._files)):
            path = self._files[i]
            if i == self._start:
                rgb, self._first = self._first, None  # decoded once, by __init__
            else:
                try:
                    rgb = load_image(path)
                except Exception as exc:  # noqa: BLE001 - reported and skipped; the other frames are written
                    report_skipped(path, exc, self.skipped)
                    continue
            yield Frame(self._fit(rgb, path), (i - self._start) / float(self.fps), time.perf_counter())

    def _fit(self, rgb: np.ndarray, path: Path) -> np.ndarray:
        """``rgb`` at the video's size: as it is, or scaled to cover it and centre-cropped."""
        from ..compose import fit_cover

        w, h = self.size
        if rgb.shape[:2] == (h, w):
            return rgb
        if not self.resized:
            log.warning("wsshm-rt: warning: %s is %dx%d but the first frame is %dx%d; it and any other image of "
                        "another size are scaled to cover %dx%d and centre-cropped", path, rgb.shape[1], rgb.shape[0],
                        w, h, w, h)
        self.resized += 1
        return fit_cover(rgb, h, w)

    def close(self) -> None:
        self._first = None


def open_source(spec, fps: float | None = None, camera_size: tuple[int, int] | None = None):
    """A camera index ('0', 0), a video file, or a folder/glob of images -> a frame source."""
    text = str(spec)
    if isinstance(spec, int) or text.isdigit():
        return CameraSource(int(text), camera_size)
    path = Path(text)
    if path.is_dir() or any(ch in text for ch in "*?["):
        return ImageFolderSource(text, fps)
    if not path.exists():
        raise WsshmError(f"{path} does not exist; pass a video file, a folder of images or a camera index")
    return VideoFileSource(path)
