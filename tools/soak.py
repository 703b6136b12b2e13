"""Soak benchmark (not a test): memory over a long run. Flat RSS from start to end is the bar.

    python tools/soak.py                      # Matter.predict over 1,000 images, then `video` over a 10-minute clip
    python tools/soak.py --images 200 --minutes 1 --json soak.json

Part 1 runs ``Matter().predict`` (the bundled model, default settings) in this process over generated photos of
varied sizes and kinds (arrays, PNG and JPEG files, encoded bytes) and samples this process's RSS. Part 2 writes a
clip of ``--minutes`` (generated, ``--video-size``, 25 fps, with an AAC tone) and runs ``wsshm-rt video`` on it in a
subprocess, sampling that process's RSS from /proc every ``--every`` seconds. Both report RSS at the start (after
the first image / once frames flow), at the end, and the peak. Linux only (/proc).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np


def rss_mb(pid: str | int = "self") -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process in MB, from /proc."""
    fields = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = int(value.split()[0]) / 1024
    return fields["VmRSS"], fields["VmHWM"]


def _photo(i: int, rng) -> np.ndarray:
    from wsshm_rt.bench.synth_clip import moving_ellipse

    h, w = [(240, 320), (480, 360), (300, 533), (600, 800)][i % 4]
    return moving_ellipse(1, h, w, seed=int(rng.integers(1 << 30)))[0][0]


def soak_predict(n: int, folder: Path, every: int) -> dict:
    """Matter().predict over ``n`` generated inputs (array, PNG, JPEG, bytes in turn); RSS every ``every`` images."""
    from wsshm_rt import Matter
    from wsshm_rt.images import encode_image

    matter, rng, samples = Matter(), np.random.default_rng(0), []
    t0 = time.perf_counter()
    for i in range(n):
        rgb = _photo(i, rng)
        kind = i % 4
        if kind in (1, 2):
            src = folder / f"p.{'png' if kind == 1 else 'jpg'}"
            src.write_bytes(encode_image(rgb, src.suffix))
        else:
            src = rgb if kind == 0 else encode_image(rgb, ".jpg")
        alpha = matter.predict(src)
        assert alpha.shape == rgb.shape[:2]
        if i == 0 or (i + 1) % every == 0:
            samples.append((i + 1, *rss_mb()))
            print(f"predict {i + 1:5d}/{n}: RSS {samples[-1][1]:7.1f} MB (peak {samples[-1][2]:7.1f})", flush=True)
    return {"images": n, "seconds": round(time.perf_counter() - t0, 1), "rss_start_mb": samples[0][1],
            "rss_end_mb": samples[-1][1], "peak_mb": samples[-1][2], "samples": samples}


def write_long_clip(path: Path, minutes: float, size: tuple[int, int], fps: int = 25) -> int:
    """A clip of ``minutes`` (frames made on the fly from a 250-frame loop, so memory stays small), with a tone."""
    import av

    from wsshm_rt.bench.synth_clip import moving_ellipse, write_tone

    w, h = size
    loop = moving_ellipse(250, h, w, jitter=1.0)[0]
    frames = int(minutes * 60 * fps)
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = w, h, "yuv420p"
        video.options = {"preset": "veryfast"}
        sound = out.add_stream("aac", rate=44100)
        for i in range(frames):
            cycle = loop[i % 250] if (i // 250) % 2 == 0 else loop[249 - i % 250]  # back and forth
            frame = av.VideoFrame.from_ndarray(cycle, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            out.mux(video.encode(frame))
        out.mux(video.encode())
        write_tone(av, out, sound, frames / fps)
    return frames


def soak_video(src: Path, out: Path, every: float) -> dict:
    """``wsshm-rt video src -o out`` in a subprocess; its RSS sampled every ``every`` seconds."""
    cmd = [sys.executable, "-m", "wsshm_rt", "video", str(src), "-o", str(out), "--no-progress"]
    t0, samples = time.perf_counter(), []
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    while proc.poll() is None:
        time.sleep(every)
        try:
            samples.append((round(time.perf_counter() - t0, 1), *rss_mb(proc.pid)))
        except (FileNotFoundError, KeyError, ProcessLookupError):
            break
        print(f"video {samples[-1][0]:7.1f} s: RSS {samples[-1][1]:7.1f} MB (peak {samples[-1][2]:7.1f})", flush=True)
    err = proc.stderr.read()
    if proc.wait() != 0 or len(samples) < 2:
        raise SystemExit(f"video failed (exit {proc.returncode}): {err.strip()}")
    return {"command": " ".join(cmd), "seconds": round(time.perf_counter() - t0, 1), "rss_start_mb": samples[0][1],
            "rss_end_mb": samples[-1][1], "peak_mb": max(s[2] for s in samples), "report": err.strip(),
            "samples": samples}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--video-size", default="320x240", help="WxH of the generated clip.")
    ap.add_argument("--every", type=float, default=10.0, help="Seconds between RSS samples of the video run.")
    ap.add_argument("--json", type=Path, default=None, help="Also write the figures here.")
    args = ap.parse_args()
    size = tuple(int(v) for v in args.video_size.lower().split("x"))
    result = {}
    with tempfile.TemporaryDirectory(prefix="wsshm-soak-") as tmp:
        tmp = Path(tmp)
        if args.images:
            result["predict"] = soak_predict(args.images, tmp, max(1, args.images // 20))
        if args.minutes:
            frames = write_long_clip(tmp / "long.mp4", args.minutes, size)
            result["video"] = dict(soak_video(tmp / "long.mp4", tmp / "out.mp4", args.every), frames=frames,
                                   size=args.video_size, minutes=args.minutes)
    for part, r in result.items():
        print(f"{part}: RSS {r['rss_start_mb']:.0f} MB at the start, {r['rss_end_mb']:.0f} MB at the end, "
              f"peak {r['peak_mb']:.0f} MB, {r['seconds']:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
