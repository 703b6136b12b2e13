"""Video and webcam matting: decode -> matte -> composite -> encode/show, as a pipeline of threads.

>>> from wsshm_rt import Matter
>>> from wsshm_rt.video import matte_video
>>> matte_video("talk.mp4", "talk-green.mp4", Matter(), background="#00ff00")

Each stage runs in its own thread joined by small bounded queues, so decoding, inference, compositing and
encoding overlap (ONNX Runtime and OpenCV release the GIL). A live camera feeds the matting stage through a
one-frame slot that keeps only the newest frame: when inference is slower than the camera, stale frames are
dropped instead of queuing up as latency. Inference runs at ``matter.short_side``; the alpha is brought back
to the frame size with a guided filter, optionally after motion-gated temporal smoothing.

Sources, sinks and codecs: ``wsshm_rt.video_io``. Filters and the dtSSD flicker metric: ``wsshm_rt.video_filters``.
"""

from __future__ import annotations

import logging
import queue
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .errors import WsshmError, WsshmTypeError
from .images import load_image
from .preprocess import frame_tta, target_size
from .video_filters import GUIDED_EPS, GUIDED_RADIUS, MotionGatedSmoother, dtssd, grey, guided_refine, guided_upsample
from .video_io import Frame, check_output, open_sink, open_source
from .video_window import Controls, PreviewWindow, check_gui

log = logging.getLogger("wsshm_rt")

__all__ = ["FrameMatter", "VideoResult", "matte_video", "run_webcam", "run_pipeline", "dtssd", "LatestSlot"]

OUTPUT_MODES = ("composite", "rgba", "matte")
QUEUE_SIZE = 4  # frames in flight between two stages: enough to absorb jitter, small enough to bound memory


@dataclass
class VideoResult:
    """What a run produced: output path (None without one), frames written, wall time, FPS, input truncated?"""

    output: Path | None
    frames: int
    seconds: float
    truncated: bool = False
    dropped: int = 0
    interrupted: bool = False

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


class FrameMatter:
    """Alpha for consecutive frames of one stream: downscale to the Matter's short side, predict, smooth, upsample.

    What ``Matter.stream()`` returns. Stateful when ``smooth`` (the EMA remembers the previous frame), so use one
    per stream, frames in order, and ``reset()`` at a scene cut.
    """

    def __init__(self, matter, smooth: bool = False, strength: float = 0.7):
        self.matter = matter
        self.tta = frame_tta(matter.tta)  # flip+scale's larger pass would only see the frame already downscaled
        self.smoother = MotionGatedSmoother(strength) if smooth else None

    def __call__(self, frame, channels: str = "RGB") -> np.ndarray:
        """A frame (uint8 RGB Shape(H, W, 3), or any image ``Matter.predict`` takes, e.g. a BGR frame from OpenCV
        with channels="BGR") -> float32 alpha Shape(H, W) in [0, 1]. A contiguous uint8 RGB frame is not copied."""
        return self.matte(load_image(frame, channels))[0]

    def reset(self) -> None:
        """Forget the previous frames (a scene cut, or a new stream through the same object)."""
        if self.smoother is not None:
            self.smoother.reset()

    def matte(self, rgb: np.ndarray) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray] | None]:
        """(alpha Shape(H, W), lowres): lowres is (small frame, its alpha) at the inference size, for the
        compositor's cheap foreground estimate, or None when the frame was matted at its own size."""
        return self.finish(rgb, *self.infer(rgb))

    def infer(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(small frame, its raw alpha) at the inference size. Stateless: frames may go through in parallel."""
        height, width = rgb.shape[:2]
        th, tw = target_size(height, width, self.matter.short_side, self.matter.max_long_side)
        upscale = th * tw >= height * width  # a frame already at (or below) the inference size is used as is
        small = rgb if upscale else cv2.resize(rgb, (tw, th), interpolation=cv2.INTER_AREA)
        return small, self.matter.predict(small, refine="none", tta=self.tta)

    def finish(self, rgb: np.ndarray, small: np.ndarray, alpha: np.ndarray):
        """Smoothing (stateful: frames in order), then the Matter's guided refinement (or, with refine="none", a
        light edge-aware upsampling) of ``infer``'s output to the frame's size."""
        small_grey = grey(small)
        if self.smoother is not None:
            alpha = self.smoother(alpha, small_grey)
        if self.matter.refine == "guided":  # the same guided refinement as Matter.predict on a still image
            full = guided_refine(alpha, rgb, small)
        elif small is rgb:
            return alpha, None
        else:  # refine="none": a light edge-aware upsampling only
            full = guided_upsample(alpha, rgb, GUIDED_RADIUS, GUIDED_EPS, guide_small=small_grey)
        return full, (None if small is rgb else (small, alpha))


def make_compositor(mode: str = "composite", background=None, controls: Controls | None = None):
    """(rgb, alpha, lowres=None) -> output image: a composite (uint8 RGB), an RGBA cut-out, or the matte as grey RGB.

    ``lowres`` (from FrameMatter.matte) lets the foreground colours be estimated at the inference size (see
    compose.replace_background). With ``controls`` (the live window) the background and the alpha view follow
    the user's keys.
    """
    from .compose import alpha_to_uint8, cutout_rgba, parse_background, replace_background

    if mode not in OUTPUT_MODES:
        raise WsshmError(f"unknown output mode {mode!r}; choose from {', '.join(OUTPUT_MODES)}")
    if mode == "rgba":
        return lambda rgb, alpha, lowres=None: cutout_rgba(rgb, alpha, lowres=lowres)
    if mode == "matte":
        return lambda rgb, alpha, lowres=None: cv2.cvtColor(alpha_to_uint8(alpha), cv2.COLOR_GRAY2RGB)
    if controls is None:
        bg = parse_background(background if background is not None else "#00ff00")
        return lambda rgb, alpha, lowres=None: replace_background(rgb, alpha, bg, lowres=lowres)

    def live(rgb, alpha, lowres=None):
        bg, show_alpha = controls.current()
        if show_alpha:
            return cv2.cvtColor(alpha_to_uint8(alpha), cv2.COLOR_GRAY2RGB)
        return replace_background(rgb, alpha, bg, lowres=lowres)

    return live


# ---------------------------------------------------------------- threads and queues


class _Failed:
    """An exception raised in a stage thread, passed downstream so the main thread re-raises it."""

    def __init__(self, exc: BaseException):
        self.exc = exc


_END = object()


class LatestSlot:
    """A one-item queue whose put() replaces an unread item: the reader always gets the newest frame."""

    def __init__(self):
        self._item, self._full = None, False
        self._cond = threading.Condition()
        self.dropped = 0

    def put(self, item, timeout: float | None = None) -> None:
        with self._cond:
            if self._full and item is not _END and not isinstance(item, _Failed):
                self.dropped += 1
            if not (self._full and (self._item is _END or isinstance(self._item, _Failed))):
                self._item, self._full = item, True
            self._cond.notify()

    def get(self, timeout: float | None = None):
        with self._cond:
            if not self._cond.wait_for(lambda: self._full, timeout):
                raise queue.Empty
            item, self._item, self._full = self._item, None, False
            return item


def _put(q, item, stop: threading.Event) -> bool:
    """Put, waking up every 0.1 s to see whether the run was stopped (no deadlock on a full queue)."""
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def _get(q, stop: threading.Event):
    while not stop.is_set():
        try:
            return q.get(timeout=0.1)
        except queue.Empty:
            continue
    return _END


def _read(source, out, stop) -> None:
    try:
        for frame in source:
            if not _put(out, frame, stop):
                return
        _put(out, _END, stop)
    except BaseException as exc:  # noqa: BLE001 - handed to the main thread, which re-raises it
        _put(out, _Failed(exc), stop)


def _stage(fn, inp, out, stop) -> None:
    """Apply fn to every item of ``inp`` in order; the end marker and failures pass through."""
    try:
        while True:
            item = _get(inp, stop)
            if item is _END or isinstance(item, _Failed):
                _put(out, item, stop)
                return
            if not _put(out, fn(item), stop):
                return
    except BaseException as exc:  # noqa: BLE001
        _put(out, _Failed(exc), stop)


def _matte_stage(frame_matter: FrameMatter, inp, out, stop, workers: int) -> None:
    """Matte frames in order; with ``workers`` > 1 that many frames are inferred at once (a thread pool), the
    results taken back in input order for the stateful smoothing and upsampling."""
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    def emit(frame, future) -> bool:
        return _put(out, (frame, frame_matter.finish(frame.rgb, *future.result())), stop)

    pool, pending = ThreadPoolExecutor(workers, thread_name_prefix="wsshm-matte"), deque()
    try:
        while True:
            item = _get(inp, stop)
            if item is _END or isinstance(item, _Failed):
                while pending:
                    if not emit(*pending.popleft()):
                        return
                _put(out, item, stop)
                return
            pending.append((item, pool.submit(frame_matter.infer, item.rgb)))
            if len(pending) >= workers and not emit(*pending.popleft()):
                return
    except BaseException as exc:  # noqa: BLE001
        _put(out, _Failed(exc), stop)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def run_pipeline(source, frame_matter: FrameMatter, compositor, sink=None, window: PreviewWindow | None = None,
                 progress: bool = True, max_frames: int | None = None, workers: int = 1) -> VideoResult:
    """Run source -> matte -> composite -> sink/window until the source ends, the window quits or max_frames.

    The sink is finalised (``close``) when at least one frame was written, else aborted and a WsshmError raised.
    Ctrl-C ends the run like the end of the input (the way to stop a headless webcam recording).
    """
    from tqdm import tqdm

    stop = threading.Event()
    decoded = LatestSlot() if source.live else queue.Queue(QUEUE_SIZE)
    matted, composed = queue.Queue(QUEUE_SIZE), queue.Queue(QUEUE_SIZE)

    def composite(item):
        frame, (alpha, lowres) = item
        return frame, compositor(frame.rgb, alpha, lowres)

    threads = [threading.Thread(target=_read, args=(source, decoded, stop), daemon=True),
               threading.Thread(target=_matte_stage, args=(frame_matter, decoded, matted, stop, max(1, workers)),
                                daemon=True),
               threading.Thread(target=_stage, args=(composite, matted, composed, stop), daemon=True)]
    # Drawn on a terminal only (as predict's): in a log it is noise around the summary and error lines.
    bar = tqdm(total=max_frames or source.frame_count, unit="frame", disable=not (progress and sys.stderr.isatty()),
               dynamic_ncols=True)
    frames, t0, interrupted = 0, time.perf_counter(), False
    try:
        for t in threads:
            t.start()
        while max_frames is None or frames < max_frames:
            item = _get(composed, stop)
            if item is _END:
                break
            if isinstance(item, _Failed):
                raise item.exc
            frame, image = item
            if sink is not None:
                sink.write(image, frame.t)
            frames += 1
            bar.update()
            if window is not None:
                window.show(image[:, :, :3], frame.captured)
                if window.closed:
                    break
    except KeyboardInterrupt:
        interrupted = True
    except BaseException:
        if sink is not None:
            sink.abort()
        raise
    finally:
        stop.set()
        bar.close()
        for t in threads:
            t.join(timeout=5)
        source.close()
        if window is not None:
            window.close()
    seconds = time.perf_counter() - t0
    _finish(sink, frames, source)
    return VideoResult(getattr(sink, "path", None), frames, seconds, source.truncated,
                       getattr(decoded, "dropped", 0), interrupted)


def _finish(sink, frames: int, source) -> None:
    if frames == 0:
        if sink is not None:
            sink.abort()
        raise WsshmError(f"{source.path or 'the source'}: no video frames could be decoded")
    if sink is not None:
        try:
            sink.close()
        except BaseException:
            sink.abort()
            raise


# ---------------------------------------------------------------- the two user-facing runs


def matte_video(source, output, matter, background=None, alpha: bool = False, mode: str | None = None,
                smooth: bool = False, progress: bool = True, fps: float | None = None,
                full_res_foreground: bool = False, workers: int = 1) -> VideoResult:
    """Matte every frame of ``source`` (video file or image folder) and write ``output``.

    output: a video file (.mp4, .mov, .mkv, .webm, .avi) or a folder (PNG sequence). With ``alpha`` the output
    is RGBA (.webm VP9, .mov ProRes 4444, .mkv FFV1, or RGBA PNGs); otherwise each frame is composited over
    ``background`` (colour, 'blur' or image; default green). ``mode='matte'`` writes the alpha as grey video.
    Audio is carried over when both input and output are video files. ``fps`` applies to image folders.
    Foreground colours are estimated at the inference size and their correction upsampled
    (compose.replace_background's ``lowres``), unless ``full_res_foreground``. ``workers`` frames are matted
    at once (on a CPU give the Matter ``threads = cores // workers``); the output keeps the input's order.
    """
    if not callable(getattr(matter, "predict", None)):
        raise WsshmTypeError(f"matter must be a wsshm_rt.Matter, not {type(matter).__name__}")
    mode = mode or ("rgba" if alpha else "composite")
    check_output(output, mode == "rgba", source)
    compositor = make_compositor(mode, background)
    if full_res_foreground:
        lowres_compositor = compositor
        compositor = lambda rgb, alpha, lowres=None: lowres_compositor(rgb, alpha)  # noqa: E731
    src = open_source(source, fps)
    try:
        sink = open_sink(output, src.fps, src.size, mode == "rgba", src.path if src.has_audio else None)
    except BaseException:
        src.close()
        raise
    return run_pipeline(src, FrameMatter(matter, smooth), compositor, sink, progress=progress, workers=workers)


def run_webcam(matter, source=0, backgrounds=(), window: bool = True, output=None,
               smooth: bool = False, progress: bool | None = None, max_frames: int | None = None) -> VideoResult:
    """Live: camera (or ``source``) -> matte -> composite, shown in a window and/or written to ``output``.

    backgrounds: what the 'b' key cycles through (colours, 'blur', image paths), then green and blur; the
    first is shown first. Without a window an
    output is required. A camera feed drops stale frames; a file source is processed frame by frame.
    """
    from .compose import parse_background

    if not window and output is None:
        raise WsshmError("without a window there is nothing to show; pass --output FILE (or drop --no-window)")
    if window:
        check_gui()
    if output is not None:
        check_output(output, False, source)
    controls = Controls([parse_background(b) for b in dict.fromkeys([*backgrounds, "#00ff00", "blur"])])
    src = open_source(source)
    try:
        sink = open_sink(output, src.fps, src.size, False, src.path if src.has_audio else None) if output else None
        win = PreviewWindow(controls) if window else None
    except BaseException:
        src.close()
        raise
    progress = (not window) if progress is None else progress
    return run_pipeline(src, FrameMatter(matter, smooth), make_compositor("composite", controls=controls), sink,
                        win, progress=progress, max_frames=max_frames)
