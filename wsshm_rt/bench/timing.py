"""Timing primitives shared by the benchmarks: warm-up, N timed runs, and a median/min/max/FPS summary."""

from __future__ import annotations

import statistics
import time
from typing import Callable


def time_runs(fn: Callable[[], object], runs: int = 20, warmup: int = 3,
              sync: Callable[[], None] | None = None) -> list[float]:
    """Call ``fn`` ``warmup`` times untimed, then ``runs`` times; return each run's wall time in ms.

    ``sync`` (e.g. torch.cuda.synchronize) is called before the clock starts and before it stops: GPU work is
    asynchronous, so without it we would time the kernel launches, not the kernels.
    """
    if runs < 1:
        raise ValueError("runs must be at least 1")
    for _ in range(warmup):
        fn()
    if sync:
        sync()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        if sync:
            sync()
        times.append((time.perf_counter() - t0) * 1e3)
    return times


def summarise(times_ms: list[float], batch: int = 1) -> dict:
    """Median/min/max latency of one call in ms and images per second at the median."""
    med = statistics.median(times_ms)
    return {"median_ms": med, "min_ms": min(times_ms), "max_ms": max(times_ms), "runs": len(times_ms),
            "fps": batch * 1e3 / med if med > 0 else float("inf")}


def time_interleaved(fns: dict[str, Callable[[], object]], runs: int = 20, warmup: int = 3,
                     syncs: dict[str, Callable[[], None] | None] | None = None) -> dict[str, list[float]]:
    """Time several callables in turn (a, b, a, b, ...): on a shared, noisy machine every contender sees the
    same background load, so their ratio is fairer than two back-to-back series. ``syncs``: as time_runs' sync,
    per callable."""
    syncs = syncs or {}
    for k, fn in fns.items():
        for _ in range(warmup):
            fn()
        if syncs.get(k):
            syncs[k]()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(runs):
        for k, fn in fns.items():
            sync = syncs.get(k)
            t0 = time.perf_counter()
            fn()
            if sync:
                sync()
            times[k].append((time.perf_counter() - t0) * 1e3)
    return times
