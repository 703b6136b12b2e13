"""End-to-end latency of one photo: JPEG decode -> preprocess -> infer -> restore, each stage's median beside the
total (the bundled portrait as a JPEG twice the network size: a realistic decode and downscale)."""

from __future__ import annotations

from typing import Callable

import numpy as np

from .timing import summarise, time_runs


def sample_jpeg(size: tuple[int, int]) -> bytes:
    """The bundled portrait as a JPEG twice the network size: a realistic decode and downscale."""
    import cv2

    from ..matter import ASSETS

    bgr = cv2.imread(str(ASSETS / "astronaut.jpg"))
    bgr = cv2.resize(bgr, (2 * size[1], 2 * size[0]), interpolation=cv2.INTER_LINEAR)
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 90])
    return buf.tobytes()


def end_to_end(run: Callable[[np.ndarray], np.ndarray], size: tuple[int, int], metadata: dict,
               runs: int = 20, warmup: int = 3) -> dict:
    """Median latency of decode -> prepare -> run -> restore on one JPEG, with each stage's median."""
    import statistics
    import time

    import cv2

    from ..preprocess import prepare, restore
    from ..weights import normalisation

    data, (mean, std) = np.frombuffer(sample_jpeg(size), np.uint8), normalisation(metadata)
    stages: dict[str, list[float]] = {"decode": [], "preprocess": [], "infer": [], "postprocess": []}

    def once():
        t = [time.perf_counter()]
        rgb = cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        t.append(time.perf_counter())
        x, geom = prepare(rgb, min(size), 32, mean, std)
        t.append(time.perf_counter())
        alpha = run(x[None])
        t.append(time.perf_counter())
        restore(alpha[0, 0], geom)
        t.append(time.perf_counter())
        for k, a, b in zip(stages, t, t[1:]):
            stages[k].append((b - a) * 1e3)

    stats = summarise(time_runs(once, runs, warmup))
    stats["stages_ms"] = {k: statistics.median(v[warmup:]) for k, v in stages.items()}
    return stats
