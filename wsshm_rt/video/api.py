"""Video and webcam matting, the calls users make: a video file (or image folder) in, a matted video out; a live camera
shown in a window.

>>> from wsshm_rt import Matter
>>> from wsshm_rt.video import matte_video
>>> matte_video("talk.mp4", "talk-green.mp4", Matter(), background="#00ff00")

Inference runs at ``matter.short_side``; the alpha is brought back to the frame size with the guided refinement,
optionally after motion-gated temporal smoothing (``wsshm_rt.frames.FrameMatter``), through the threads of
``pipeline``.
"""

from __future__ import annotations

import os

import cv2

from ..errors import WsshmError, WsshmTypeError, check_int
from ..frames import FrameMatter
from .pipeline import VideoResult, run_pipeline
from .sinks import check_output, open_sink
from .sources import open_source
from .window import Controls, PreviewWindow, check_gui

OUTPUT_MODES = ("composite", "rgba", "matte")


def make_compositor(mode: str = "composite", background=None, controls: Controls | None = None):
    """(rgb, alpha, lowres=None) -> output image: a composite (uint8 RGB), an RGBA cut-out, or the matte as grey RGB.

    ``lowres`` (from FrameMatter.matte) lets the foreground colours be estimated at the inference size (see
    compose.replace_background). With ``controls`` (the live window) the background and the alpha view follow
    the user's keys.
    """
    from ..compose import alpha_to_uint8, cutout_rgba, parse_background, replace_background

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


def split_workers(device: str, workers: int | None = None, threads: int | None = None,
                  cores: int | None = None) -> tuple[int, int | None]:
    """How many frames of a video to matte at once, and the inference threads for the Matter: (workers, threads).

    What ``wsshm-rt video`` uses; pass ``threads`` to ``Matter(threads=...)`` and ``workers`` to ``matte_video``.
    device: where the Matter runs (its ``engine.device``: "cpu" or "cuda"). workers, threads: the caller's choice,
    None for automatic; given ones are kept as they are (threads None: the engine's default). Automatic workers:
    on a CPU 2, and unless ``threads`` is given each gets half the ``cores`` (default ``os.cpu_count()``), which
    measured ~10% more end-to-end FPS on 2 cores than one frame on both (frames in flight use the cores while
    decode, compositing and encode of other frames wait); on a GPU 1.
    """
    workers = check_int("workers", workers, 1, none_ok=True)
    if workers is not None:
        return workers, threads
    workers = 2 if device == "cpu" else 1
    if workers > 1 and threads is None:
        threads = max(1, (cores or os.cpu_count() or 2) // workers)
    return workers, threads


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
    at once (on a CPU give the Matter ``threads = cores // workers``; ``split_workers`` picks both as the CLI
    does); the output keeps the input's order.
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
    from ..compose import parse_background

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
