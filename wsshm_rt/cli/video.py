"""CLI commands for the video area (``video``, ``webcam``); registered on the main typer app by `wsshm_rt.cli`.

Heavy imports (av, onnxruntime, ...) happen inside the command functions, never at module import.
"""

from pathlib import Path
from typing import Optional

import typer

from . import options


REFINE_HELP = ("guided: bring the alpha to the frame's size with a colour guided filter that follows its edges "
               "(as predict does); none: a light edge-aware upsampling only.")
TTA_HELP = ("none: one network pass per frame (real time); flip: also the mirrored frame, averaged (better masks, "
            "twice the network's time).")




def _matter(model, engine, device, short_side, threads, refine="guided", tta="none", precision="fp32"):
    from ..errors import check_choice
    from ..matter import Matter
    from ..tta import FRAME_TTA_MODES

    check_choice("tta", tta, FRAME_TTA_MODES)  # flip+scale is for still images
    return Matter(model, engine=engine, device=device, short_side=short_side, threads=threads, refine=refine,
                  tta=tta, precision=precision)


def _video_matter(model, engine, device, short_side, threads, workers, refine="guided", tta="none",
                  precision="fp32"):
    """The Matter and worker count for a video file, as ``video.split_workers`` chooses them (auto: 2 frames at
    once with half the cores each on a CPU, 1 on a GPU)."""
    from ..errors import check_int
    from ..video import split_workers

    check_int("--workers", workers, 1, none_ok=True)  # before the model is loaded
    matter = _matter(model, engine, device, short_side, threads, refine, tta, precision)
    workers, per_worker = split_workers(matter.engine.device, workers, threads)
    if per_worker != threads:
        matter = _matter(model, engine, device, short_side, per_worker, refine, tta, precision)
    return matter, workers


def _report(result) -> None:
    """The run's summary line (and warnings) on stderr; exit code 1 when frames were skipped, as predict's."""
    where = f" -> {result.output}" if result.output else ""
    dropped = f", {result.dropped} stale camera frames dropped" if result.dropped else ""
    skipped = f", {_frames(len(result.skipped))} skipped (unreadable)" if result.skipped else ""
    resized = f", {_frames(result.resized)} of another size scaled to the first's" if result.resized else ""
    typer.echo(f"{result.frames} frames in {result.seconds:.1f} s ({result.fps:.1f} FPS){dropped}{skipped}{resized}"
               f"{where}", err=True)
    if result.interrupted:
        typer.echo("stopped by Ctrl-C; the output holds the frames processed so far", err=True)
    if result.truncated:
        typer.echo("warning: the input ended early (truncated or corrupt); the output holds the frames read",
                   err=True)
    if result.skipped:
        raise typer.Exit(1)


def _frames(n: int) -> str:
    return f"{n} frame{'s' if n != 1 else ''}"


def video(
    source: str = typer.Argument(..., help="Input video file, or a folder of images (frames in name order; an "
                                 "unreadable one is skipped, exit code 1; one of another size is scaled to cover "
                                 "the first's)."),
    output: Path = typer.Option(..., "-o", "--output", help="Output .mp4/.mov/.mkv/.webm/.avi, or a folder "
                                "(PNG sequence)."),
    background: Optional[str] = typer.Option(None, "--background", "-b", help="Colour ('#00ff00'), 'blur' or an "
                                             "image path. Default: green."),
    alpha: bool = typer.Option(False, "--alpha", help="Write RGBA instead of a composite: .webm (VP9), .mov "
                               "(ProRes 4444), .mkv (FFV1) or a folder of RGBA PNGs."),
    matte: bool = typer.Option(False, "--matte", help="Write the alpha matte itself as a grey video."),
    smooth: bool = typer.Option(False, "--smooth", help="Motion-gated temporal smoothing of the alpha."),
    full_res_foreground: bool = typer.Option(False, "--full-res-foreground", help="Estimate foreground colours at "
                                             "the frame's own size (about 4x slower compositing) instead of at "
                                             "the inference size."),
    model: Optional[Path] = options.model(),
    short_side: Optional[int] = options.short_side(help="Shorter side of the frame for inference (alpha is "
                                             "upsampled edge-aware).",
                                             show_default="the model's recommendation, else 512"),
    engine: str = options.engine(),
    device: str = options.device(),
    precision: str = options.precision(),
    threads: Optional[int] = options.threads(help="CPU threads for inference (per worker)."),
    workers: Optional[int] = typer.Option(None, help="Frames matted at once (default: 2 on a CPU, each with half "
                                          "the cores; 1 on a GPU)."),
    fps: Optional[float] = typer.Option(None, help="Frame rate for a folder of images (default 25)."),
    refine: str = options.refine(help=REFINE_HELP),
    tta: str = options.tta("none", help=TTA_HELP),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
):
    """Replace the background of a video (audio is kept), or write it with an alpha channel."""
    from ..errors import WsshmError
    from ..video import matte_video

    if alpha and matte:
        raise WsshmError("choose one of --alpha and --matte")
    if background is not None and (alpha or matte):
        raise WsshmError("--background makes a composite; it cannot be combined with --alpha or --matte")
    mode = "rgba" if alpha else "matte" if matte else "composite"
    matter, workers = _video_matter(model, engine, device, short_side, threads, workers, refine, tta, precision)
    result = matte_video(source, output, matter, background, mode=mode, smooth=smooth, progress=progress, fps=fps,
                         full_res_foreground=full_res_foreground, workers=workers)
    _report(result)


def webcam(
    background: Optional[list[str]] = typer.Option(None, "--background", "-b", help="Background(s) to cycle "
                                                   "with 'b' (then green and blur): colours, 'blur', image paths. "
                                                   "Repeat the option for several."),
    source: str = typer.Option("0", "--source", "-s", help="Camera index, video file or image folder."),
    window: bool = typer.Option(True, "--window/--no-window", help="Show the live window (needs a display)."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Also record the composite to this file "
                                          "or folder."),
    smooth: bool = typer.Option(False, "--smooth", help="Motion-gated temporal smoothing of the alpha."),
    model: Optional[Path] = options.model(),
    short_side: int = typer.Option(256, help="Shorter side for inference (lower is faster; 256-384 for live use)."),
    engine: str = options.engine(),
    device: str = options.device(),
    precision: str = options.precision(),
    threads: Optional[int] = options.threads(),
    max_frames: Optional[int] = typer.Option(None, help="Stop after this many frames."),
    refine: str = options.refine(help=REFINE_HELP),
    tta: str = options.tta("none", help=TTA_HELP),
):
    """Live background replacement: camera -> matte -> composite. Keys: b background, a alpha view, q quit."""
    from ..errors import check_int
    from ..video import run_webcam

    check_int("--max-frames", max_frames, 1, none_ok=True)
    matter = _matter(model, engine, device, short_side, threads, refine, tta, precision)
    result = run_webcam(matter, source, background or [], window, output, smooth, max_frames=max_frames)
    _report(result)


def register(app: typer.Typer) -> None:
    """Add this area's commands to `app`."""
    app.command()(video)
    app.command()(webcam)
