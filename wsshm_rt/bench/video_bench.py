"""Video benchmarks: end-to-end FPS vs model-only FPS, and flicker (dtSSD) with and without smoothing.

    python -m wsshm_rt.bench.video_bench                       # untrained r18-0.5, 640x480, 60 frames
    python -m wsshm_rt.bench.video_bench --model m.onnx --width 1280 --height 720

End-to-end = decode (PyAV) -> downscale + matte + guided upsample -> composite over green (foreground
estimation on) -> encode H.264 + copy the audio, through the threaded pipeline (``matte_video``), once
with one matting worker and once with ``--workers`` (2) workers of cores // workers threads each, which is
what ``wsshm-rt video`` does on a CPU.
"Sequential" runs the very same steps one after another in one thread, to show what the overlap buys.
Model-only = ``Matter.predict`` on a frame already at the inference size.
Flicker: a moving soft ellipse under random camera shake (known alpha), dtSSD x 100 as in RVM's evaluation.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2

from ..preprocess import target_size
from ..video import FrameMatter, make_compositor, matte_video
from ..video_filters import dtssd
from ..video_io import open_sink, open_source
from ..video_synth import moving_ellipse, write_clip
from .timing import summarise, time_runs


def model_only_fps(matter, frame, runs: int = 15) -> float:
    h, w = target_size(*frame.shape[:2], matter.short_side, matter.max_long_side)
    small = cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA)
    return summarise(time_runs(lambda: matter.predict(small, refine="none"), runs=runs, warmup=2))["fps"]


def sequential_fps(matter, clip: Path, out: Path) -> float:
    """The pipeline's steps without threads: decode, matte, composite, encode, frame after frame."""
    src = open_source(clip)
    sink = open_sink(out, src.fps, src.size, audio_from=clip)
    frame_matter, compose = FrameMatter(matter), make_compositor("composite", "#00ff00")
    t0, n = time.perf_counter(), 0
    for frame in src:
        sink.write(compose(frame.rgb, *frame_matter.matte(frame.rgb)), frame.t)
        n += 1
    sink.close()
    src.close()
    return n / (time.perf_counter() - t0)


def speed_table(model, clip: Path, frame, short_sides, workdir: Path, threads=None, workers=2) -> list[dict]:
    """Per shorter side: model-only, pipelined with one matting worker (``threads``), pipelined with
    ``workers`` matting workers of cores // workers threads each (the CLI's CPU default), and sequential."""
    import os

    from ..matter import Matter

    rows = []
    for side in short_sides:
        matter = Matter(model, short_side=side, threads=threads, tta="none")
        split = Matter(model, short_side=side, threads=max(1, (os.cpu_count() or 2) // workers), tta="none")
        matte_video(clip, workdir / "warm.mp4", matter, progress=False)  # warm-up: ORT allocations, page cache
        e2e = matte_video(clip, workdir / f"e2e-{side}.mp4", matter, background="#00ff00", progress=False).fps
        e2e_workers = matte_video(clip, workdir / f"e2e-{side}.mp4", split, background="#00ff00", progress=False,
                                  workers=workers).fps
        rows.append({"short_side": side, "model_fps": model_only_fps(matter, frame), "e2e_fps": e2e,
                     "e2e_workers_fps": e2e_workers,
                     "sequential_fps": sequential_fps(matter, clip, workdir / f"seq-{side}.mp4")})
    return rows


def flicker(model, short_side: int = 256, frames: int = 30, jitter: float = 1.0, noise: float = 0.05) -> dict:
    """dtSSD on the jitter clip: the Matter, and an oracle (true alpha + per-frame noise), each +/- smoothing."""
    import numpy as np

    from ..matter import Matter
    from ..video_filters import MotionGatedSmoother, grey

    rgbs, true = moving_ellipse(frames, 240, 320, jitter=jitter, seed=3)
    out = {}
    for smooth in (False, True):
        fm = FrameMatter(Matter(model, short_side=short_side, tta="none"), smooth)
        out[f"matter smooth={smooth}"] = dtssd([fm(rgb) for rgb in rgbs], true)
    rng = np.random.default_rng(0)
    noisy = [np.clip(a + rng.normal(0, noise, a.shape), 0, 1).astype(np.float32) for a in true]
    out["oracle+noise smooth=False"] = dtssd(noisy, true)
    smoother = MotionGatedSmoother()
    out["oracle+noise smooth=True"] = dtssd([smoother(a, grey(rgb)) for a, rgb in zip(noisy, rgbs)], true)
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="ONNX model; default: an untrained r18-0.5 exported now")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--short-sides", default="256,384,512")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--workers", type=int, default=2, help="matting workers of the second end-to-end column")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model = args.model
        if model is None:
            from ..export.api import export_onnx_file

            model = export_onnx_file(work / "r18-0.5.onnx", model="r18-0.5")
        frames, _ = moving_ellipse(args.frames, args.height, args.width)
        write_clip(work / "clip.mp4", frames)
        sides = [int(s) for s in args.short_sides.split(",")]
        print(f"clip {args.width}x{args.height}, {args.frames} frames, model {model.name}")
        print(f"| short side | model-only FPS | end-to-end FPS (pipelined) | end-to-end FPS, {args.workers} workers "
              "| sequential FPS |")
        print("|---|---|---|---|---|")
        for r in speed_table(model, work / "clip.mp4", frames[0], sides, work, args.threads, args.workers):
            print(f"| {r['short_side']} | {r['model_fps']:.1f} | {r['e2e_fps']:.1f} | {r['e2e_workers_fps']:.1f} "
                  f"| {r['sequential_fps']:.1f} |")
        print("\nflicker, dtSSD x100 (lower is steadier), 320x240 moving ellipse with 1 px camera shake:")
        for name, value in flicker(model).items():
            print(f"  {name:28s} {value:.3f}")


if __name__ == "__main__":
    main()
