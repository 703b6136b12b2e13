"""Video benchmarks: end-to-end FPS vs model-only FPS, and flicker (dtSSD) with and without smoothing.

    python -m wsshm_rt.bench.video_bench                       # untrained r18-0.5, 640x480, 60 frames
    python -m wsshm_rt.bench.video_bench --model m.onnx --width 1280 --height 720
    python -m wsshm_rt.bench.video_bench --model m.onnx --short-sides 256 --engine openvino --precision bf16 --runs 5

End-to-end = decode (PyAV) -> downscale + matte + guided upsample -> composite over green (foreground
estimation on) -> encode H.264 + copy the audio, through the threaded pipeline (``matte_video``), once
with one matting worker and once with ``--workers`` (2) workers of cores // workers threads each, which is
what ``wsshm-rt video`` does on a CPU.
"Sequential" runs the very same steps one after another in one thread, to show what the overlap buys.
Model-only = ``Matter.predict`` on a frame already at the inference size. Stages: the sequential run's wall time per
frame in each step (decode, infer, refine, composite, encode), to show where the time goes.
Flicker: a moving soft ellipse under random camera shake (known alpha), dtSSD x 100 as in RVM's evaluation.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2

from ..preprocess import target_size
from ..frames import FrameMatter
from ..video import dtssd, make_compositor, matte_video, open_sink, open_source
from .synth_clip import moving_ellipse, write_clip
from .timing import summarise, time_runs


def model_only_fps(matter, frame, runs: int = 15) -> float:
    h, w = target_size(*frame.shape[:2], matter.short_side, matter.max_long_side)
    small = cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA)
    return summarise(time_runs(lambda: matter.predict(small, refine="none"), runs=runs, warmup=2))["fps"]


STAGES = ("decode", "infer", "refine", "composite", "encode")


def sequential_fps(matter, clip: Path, out: Path, stages: dict | None = None) -> float:
    """The pipeline's steps without threads: decode, matte, composite, encode, frame after frame. ``stages``: a dict
    that gets each step's wall times (ms per frame) in STAGES order."""
    src = open_source(clip)
    sink = open_sink(out, src.fps, src.size, audio_from=clip)
    frame_matter, compose = FrameMatter(matter), make_compositor("composite", "#00ff00")
    times = stages if stages is not None else {}
    t0, n, frames = time.perf_counter(), 0, iter(src)
    while True:
        t = [time.perf_counter()]
        frame = next(frames, None)
        if frame is None:
            break
        t.append(time.perf_counter())
        small, alpha = frame_matter.infer(frame.rgb)
        t.append(time.perf_counter())
        full, lowres = frame_matter.finish(frame.rgb, small, alpha)
        t.append(time.perf_counter())
        image = compose(frame.rgb, full, lowres)
        t.append(time.perf_counter())
        sink.write(image, frame.t)
        t.append(time.perf_counter())
        for name, a, b in zip(STAGES, t, t[1:]):
            times.setdefault(name, []).append((b - a) * 1e3)
        n += 1
    sink.close()
    src.close()
    return n / (time.perf_counter() - t0)


def speed_table(model, clip: Path, frame, short_sides, workdir: Path, threads=None, workers=2, engine="auto",
                precision="fp32", runs: int = 1) -> list[dict]:
    """Per shorter side: model-only, pipelined with one matting worker (``threads``), pipelined with
    ``workers`` matting workers of cores // workers threads each (the CLI's CPU default), and sequential, each the
    median of ``runs`` runs (interleaved), and the sequential run's median time per stage."""
    import os
    import statistics

    from ..matter import Matter

    rows = []
    for side in short_sides:
        kw = dict(short_side=side, tta="none", engine=engine, precision=precision)
        matter = Matter(model, threads=threads, **kw)
        split = Matter(model, threads=max(1, (os.cpu_count() or 2) // workers), **kw)
        matte_video(clip, workdir / "warm.mp4", matter, progress=False)  # warm-up: allocations, page cache
        fps, stages = {"e2e": [], "workers": [], "seq": []}, {}
        for _ in range(runs):
            fps["e2e"].append(matte_video(clip, workdir / f"e2e-{side}.mp4", matter, background="#00ff00",
                                          progress=False).fps)
            fps["workers"].append(matte_video(clip, workdir / f"e2e-{side}.mp4", split, background="#00ff00",
                                              progress=False, workers=workers).fps)
            fps["seq"].append(sequential_fps(matter, clip, workdir / f"seq-{side}.mp4", stages))
        med = {k: statistics.median(v) for k, v in fps.items()}
        rows.append({"short_side": side, "model_fps": model_only_fps(matter, frame), "e2e_fps": med["e2e"],
                     "e2e_workers_fps": med["workers"], "sequential_fps": med["seq"], "runs": fps,
                     "stages_ms": {k: statistics.median(v) for k, v in stages.items()}, "engine": matter.info})
    return rows


def flicker(model, short_side: int = 256, frames: int = 30, jitter: float = 1.0, noise: float = 0.05) -> dict:
    """dtSSD on the jitter clip: the Matter, and an oracle (true alpha + per-frame noise), each +/- smoothing."""
    import numpy as np

    from ..matter import Matter
    from ..frames import MotionGatedSmoother, grey

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
    parser.add_argument("--engine", default="auto", help="auto, onnxruntime, openvino, tensorrt or torch")
    parser.add_argument("--precision", default="fp32", help="fp32, or bf16 (openvino, torch)")
    parser.add_argument("--runs", type=int, default=1, help="end-to-end runs per column; the median is shown")
    parser.add_argument("--no-flicker", action="store_true", help="skip the flicker measurement")
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
        rows = speed_table(model, work / "clip.mp4", frames[0], sides, work, args.threads, args.workers,
                           args.engine, args.precision, args.runs)
        for r in rows:
            print(f"| {r['short_side']} | {r['model_fps']:.1f} | {r['e2e_fps']:.1f} | {r['e2e_workers_fps']:.1f} "
                  f"| {r['sequential_fps']:.1f} |")
        print(f"\n{rows[0]['engine']}; median of {args.runs} run(s) per column. Sequential run, wall ms per frame:")
        for r in rows:
            print(f"  {r['short_side']}: " + ", ".join(f"{k} {v:.1f}" for k, v in r["stages_ms"].items())
                  + f"  (sum {sum(r['stages_ms'].values()):.1f})")
        if args.no_flicker:
            return
        print("\nflicker, dtSSD x100 (lower is steadier), 320x240 moving ellipse with 1 px camera shake:")
        for name, value in flicker(model).items():
            print(f"  {name:28s} {value:.3f}")


if __name__ == "__main__":
    main()
