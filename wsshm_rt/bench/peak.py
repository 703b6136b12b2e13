"""This machine's measured peak: a large matrix multiply per precision, to read a network's achieved FLOP/s against.

    python -m wsshm_rt.bench.peak                    # fp32, bf16, int8 through OpenVINO; fp32, bf16 through torch
    python -m wsshm_rt.bench.peak --sizes 2048,4096 --threads 2 --runs 10

OpenVINO runs the multiply as the engine runs our networks (oneDNN kernels: AMX tiles for bf16 and int8 on
Sapphire Rapids, AVX-512 for fp32); int8 is a MatMul between two FakeQuantize nodes, which OpenVINO executes as an
u8 x s8 product. Torch runs ``torch.matmul`` (oneDNN / MKL). Each square size is timed; the figure is
2 x M x N x K operations over the median time, and the peak of a precision is its best runtime and size: the most this
CPU gave for that precision here, not a datasheet number.
"""

from __future__ import annotations

import argparse

import numpy as np

from ..errors import require
from .timing import summarise, time_runs


def openvino_matmul(size: int, precision: str, threads: int):
    """A compiled ``size`` x ``size`` x ``size`` OpenVINO MatMul and its input: (fn, note). precision: fp32, bf16,
    int8."""
    ov = require("openvino", "openvino")
    import openvino.opset13 as ops

    from ..engines.openvino import cpu_config

    rng = np.random.default_rng(0)
    param = ops.parameter([size, size], np.float32, name="x")
    x, w = param, ops.constant(rng.standard_normal((size, size)).astype(np.float32))
    if precision == "int8":  # u8 activations x s8 weights, as a quantised network's convolutions run
        lo, hi, w_lo, w_hi = (ops.constant(np.float32(v)) for v in (0, 8, -4, 4))
        x, w = ops.fake_quantize(x, lo, hi, lo, hi, 256), ops.fake_quantize(w, w_lo, w_hi, w_lo, w_hi, 255)
    model = ov.Model([ops.matmul(x, w, False, True)], [param])  # weights transposed: OpenVINO's FullyConnected
    hint = "f32" if precision == "fp32" else "bf16"
    request = ov.Core().compile_model(model, "CPU", {**cpu_config(threads), "INFERENCE_PRECISION_HINT": hint}) \
        .create_infer_request()
    data = rng.standard_normal((size, size)).astype(np.float32)
    return lambda: request.infer({0: data})


def torch_matmul(size: int, precision: str, threads: int):
    torch = require("torch", "train")
    torch.set_num_threads(threads)
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[precision]
    a, b = (torch.randn(size, size).to(dtype) for _ in range(2))
    return lambda: torch.matmul(a, b)


def measure(sizes=(1024, 2048, 4096), threads: int = 2, runs: int = 10, warmup: int = 3, log=print) -> list[dict]:
    """Median time and GFLOP/s (2 M N K / t) of each (runtime, precision, size) that runs here."""
    rows = []
    for runtime, make, precisions in (("openvino", openvino_matmul, ("fp32", "bf16", "int8")),
                                      ("torch", torch_matmul, ("fp32", "bf16"))):
        for precision, size in ((p, s) for p in precisions for s in sizes):
            try:
                fn = make(size, precision, threads)
            except Exception as exc:  # noqa: BLE001 - a runtime or precision missing here is reported, not fatal
                log(f"{runtime} {precision}: not measured ({str(exc).splitlines()[0][:120]})")
                continue
            stats = summarise(time_runs(fn, runs, warmup))
            rows.append({"runtime": runtime, "precision": precision, "size": size, "threads": threads, **stats,
                         "gflops_per_s": 2 * size ** 3 / stats["median_ms"] / 1e6})
            log(f"{runtime:9s} {precision:5s} {size}^3 matmul, {threads} threads: median {stats['median_ms']:8.1f} ms "
                f"-> {rows[-1]['gflops_per_s']:8.0f} GFLOP/s")
    return rows


def peaks(rows: list[dict]) -> dict[str, dict]:
    """The best row of each precision."""
    best: dict[str, dict] = {}
    for r in rows:
        if r["gflops_per_s"] > best.get(r["precision"], {}).get("gflops_per_s", 0):
            best[r["precision"]] = r
    return best


def main(argv=None) -> dict[str, dict]:
    p = argparse.ArgumentParser(prog="python -m wsshm_rt.bench.peak", description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="1024,2048,4096", help="M = N = K, comma list")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--runs", type=int, default=10)
    a = p.parse_args(argv)
    best = peaks(measure(tuple(int(s) for s in a.sizes.split(",")), a.threads, a.runs))
    for precision, r in best.items():
        print(f"peak {precision}: {r['gflops_per_s']:.0f} GFLOP/s ({r['runtime']}, {r['size']}^3)")
    return best


if __name__ == "__main__":
    main()
