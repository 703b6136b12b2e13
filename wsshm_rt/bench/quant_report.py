"""fp32 vs int8 ONNX (and OpenVINO's bf16 and int8) on a folder of images: alpha MSE against ONNX Runtime fp32
(the accuracy change) beside the speed change.

    python -m wsshm_rt.bench.quant_report r18-0.5.onnx r18-0.5-int8.onnx --images held_out/
    python -m wsshm_rt.bench.quant_report r18-0.5 --calibration photos/ --images held_out/   # quantises first

Speed: ``threads`` threads, size x size input, every path timed interleaved: ONNX Runtime fp32 and int8 and, with
the openvino extra, OpenVINO fp32, bf16 (where the CPU has it) and the int8 file.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from ..errors import WsshmError
from .timing import summarise, time_interleaved


def compare_int8(fp32: Path, int8: Path, images, size: int = 512, threads: int = 2, runs: int = 20,
                 warmup: int = 3, max_images: int = 16) -> dict:
    """Alpha MSE of int8 vs fp32 over ``images`` (a folder) and the median latency of each at size x size."""
    from ..engines.onnxruntime import OrtEngine
    from ..export.quantize import calibration_batch
    from ..files import list_images
    from ..images import load_image
    from ..weights import normalisation

    ref = OrtEngine(Path(fp32), "cpu", threads)
    paths = {"fp32": ref, "int8": OrtEngine(Path(int8), "cpu", threads), **_openvino_paths(fp32, int8, threads)}
    mean, std = normalisation(ref.metadata)
    batches = [calibration_batch(load_image(p), size, mean, std) for p in list_images(images)[:max_images]]
    refs = [ref.run(x) for x in batches]
    mses = {k: [float(np.mean((e.run(x) - r) ** 2)) for x, r in zip(batches, refs)] for k, e in paths.items()}
    x = np.random.default_rng(0).standard_normal((1, 3, size, size)).astype(np.float32)
    times = time_interleaved({k: (lambda e=e: e.run(x)) for k, e in paths.items()}, runs, warmup)
    speed = {k: summarise(v) for k, v in times.items()}
    return {"fp32": str(fp32), "int8": str(int8), "size": size, "threads": threads, "images": len(batches),
            "alpha_mse_mean": float(np.mean(mses["int8"])), "alpha_mse_max": float(np.max(mses["int8"])),
            "trained": ref.metadata.get("trained", "unknown"), "fp32_speed": speed["fp32"],
            "int8_speed": speed["int8"], "speedup": speed["fp32"]["median_ms"] / speed["int8"]["median_ms"],
            "paths": {k: {**speed[k], "alpha_mse_mean": float(np.mean(v)), "alpha_mse_max": float(np.max(v)),
                          "speedup": speed["fp32"]["median_ms"] / speed[k]["median_ms"]} for k, v in mses.items()}}


def _openvino_paths(fp32: Path, int8: Path, threads: int) -> dict:
    """OpenVINO's fp32, bf16 (where native) and int8 engines, named 'openvino fp32' ...; {} without the extra."""
    try:
        from ..engines.openvino import OpenVinoEngine
    except ImportError:
        return {}
    out = {}
    for name, path, precision in (("openvino fp32", fp32, "fp32"), ("openvino bf16", fp32, "bf16"),
                                  ("openvino int8", int8, "fp32"), ("openvino int8+bf16", int8, "bf16")):
        try:
            out[name] = OpenVinoEngine(Path(path), "cpu", threads, precision)
        except WsshmError:  # the extra is missing, or the CPU has no bf16
            continue
    return out


def format_report(r: dict) -> str:
    f = r["fp32_speed"]
    note = "" if r["trained"] != "false" else "  (untrained network: the MSE says little about a trained one)"
    lines = [f"{r['size']}x{r['size']}, {r['threads']} threads, median of {f['runs']} interleaved runs; alpha MSE "
             f"against ONNX Runtime fp32 over {r['images']} images{note}",
             f"  fp32: {r['fp32']}", f"  int8: {r['int8']}"]
    for name, p in r["paths"].items():
        label = name if name.startswith("openvino") else f"onnxruntime {name}"
        lines.append(f"  {label:<20} {p['median_ms']:8.1f} ms ({p['fps']:6.1f} FPS)  speed-up x{p['speedup']:.2f}  "
                     f"MSE mean {p['alpha_mse_mean']:.2e}, max {p['alpha_mse_max']:.2e}")
    return "\n".join(lines)


def _parse(argv=None):
    p = argparse.ArgumentParser(prog="python -m wsshm_rt.bench.quant_report", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("fp32", help="fp32 .onnx file, or an architecture name (exported untrained)")
    p.add_argument("int8", nargs="?", help="int8 .onnx file; omitted: quantise fp32 with --calibration")
    p.add_argument("--images", required=True, help="folder of held-out images for the MSE")
    p.add_argument("--calibration", help="folder of calibration images (when int8 is omitted)")
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--max-images", type=int, default=16)
    p.add_argument("--format", default="qdq", choices=["qdq", "qoperator"])
    p.add_argument("--activations", default="uint8", choices=["uint8", "int8"])
    p.add_argument("--no-per-channel", action="store_true")
    p.add_argument("--reduce-range", action="store_true")
    p.add_argument("--keep-head-fp32", action="store_true", help="keep the full-resolution tail in fp32")
    p.add_argument("--no-pre-process", action="store_true")
    p.add_argument("--calibrate-method", default="percentile", choices=["minmax", "entropy", "percentile"])
    p.add_argument("--calibration-size", type=int, help="calibration crop side (default: the model's own size)")
    p.add_argument("--larger", type=float, default=1.6, help="also calibrate at this times the size (0: no)")
    p.add_argument("--json", help="also write the report as JSON here")
    return p.parse_args(argv)


def main(argv=None) -> dict:
    a = _parse(argv)
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(a.fp32)
        if not fp32.is_file():
            from ..export.api import export_onnx_file

            fp32 = export_onnx_file(Path(tmp) / f"{a.fp32}.onnx", model=a.fp32)
        int8 = Path(a.int8) if a.int8 else _quantise(fp32, Path(tmp) / "int8.onnx", a)
        report = compare_int8(fp32, int8, a.images, a.size, a.threads, a.runs, max_images=a.max_images)
    print(format_report(report))
    if a.json:
        Path(a.json).write_text(json.dumps(report, indent=2))
    return report


def _quantise(fp32: Path, out: Path, a) -> Path:
    from ..export.quantize import QuantOptions, quantize_int8

    if not a.calibration:
        raise WsshmError("give an int8 model, or --calibration to quantise the fp32 one")
    opts = QuantOptions(size=a.calibration_size, larger=a.larger or None, quant_format=a.format,
                        per_channel=not a.no_per_channel, reduce_range=a.reduce_range, activations=a.activations,
                        exclude_head=a.keep_head_fp32,
                        calibrate_method=a.calibrate_method, pre_process=not a.no_pre_process)
    return quantize_int8(fp32, out, a.calibration, opts)


if __name__ == "__main__":
    import sys

    try:
        main()
    except WsshmError as exc:
        print(f"quant_report: error: {exc}", file=sys.stderr)
        sys.exit(2)
