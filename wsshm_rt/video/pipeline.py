"""The threaded pipeline under ``matte_video`` and ``run_webcam``: source -> matte -> composite -> sink and/or window.

Each stage runs in its own thread joined by small bounded queues, so decoding, inference, compositing and
encoding overlap (ONNX Runtime and OpenCV release the GIL). A live camera feeds the matting stage through a
one-frame slot (``LatestSlot``) that keeps only the newest frame: when inference is slower than the camera, stale
frames are dropped instead of queuing up as latency.
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import WsshmError
from ..frames import FrameMatter
from .window import PreviewWindow

QUEUE_SIZE = 4  # frames in flight between two stages: enough to absorb jitter, small enough to bound memory


@dataclass
class VideoResult:
    """What a run produced: output path (None without one), frames written, wall time, FPS, input truncated?

    dropped: stale camera frames not matted. skipped: the frames of an image folder that could not be read and
    were left out (path -> reason). resized: the frames of an image folder scaled to the first frame's size.
    """

    output: Path | None
    frames: int
    seconds: float
    truncated: bool = False
    dropped: int = 0
    interrupted: bool = False
    skipped: dict[str, str] = field(default_factory=dict)
    resized: int = 0

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


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
                       getattr(decoded, "dropped", 0), interrupted, dict(getattr(source, "skipped", {})),
                       getattr(source, "resized", 0))


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
