"""Still photos end to end: ``Matter.predict`` (load, TTA passes, guided refinement) per engine and TTA mode, timed
interleaved in one process.

    python -m wsshm_rt.bench.photo_bench photo.jpg
    python -m wsshm_rt.bench.photo_bench photo.jpg --paths onnxruntime,openvino:bf16 --int8 m-int8.onnx --runs 15

A path is ENGINE or ENGINE:PRECISION on the model (default: the bundled one); ``--int8 FILE`` adds that file on
ONNX Runtime and on OpenVINO. A path that cannot run here (no openvino extra, no native bf16) is left out with the
reason.
"""

from __future__ import annotations

import argparse
import statistics

from ..errors import WsshmError
from .timing import time_interleaved

TTA_MODES = ("flip+scale", "flip", "none")


def matters(model, paths, int8=None, threads=None) -> dict:
    """{label: Matter} for every path that opens here; the others are printed with the reason."""
    from ..matter import Matter

    wanted = [(p, model) for p in paths] + ([(p, int8) for p in ("onnxruntime", "openvino")] if int8 else [])
    out = {}
    for path, file in wanted:
        engine, _, precision = path.partition(":")
        label = f"{engine} {precision or 'fp32'}" + (" (int8 file)" if file is int8 and int8 else "")
        try:
            out[label] = Matter(file, engine=engine, device="cpu", precision=precision or "fp32", threads=threads)
        except WsshmError as exc:
            print(f"{label}: left out ({exc})")
    return out


def time_photo(image, sessions: dict, runs: int = 15, warmup: int = 2) -> dict[str, float]:
    """Median ms of ``predict`` per (session, TTA mode), interleaved."""
    from ..images import load_image

    rgb = load_image(image)
    fns = {f"{k}, tta={t}": (lambda m=m, t=t: m.predict(rgb, tta=t)) for k, m in sessions.items() for t in TTA_MODES}
    return {k: statistics.median(v) for k, v in time_interleaved(fns, runs, warmup).items()}


def main(argv=None) -> dict[str, float]:
    p = argparse.ArgumentParser(prog="python -m wsshm_rt.bench.photo_bench", description=__doc__.splitlines()[0])
    p.add_argument("image")
    p.add_argument("--model", help="default: the bundled model")
    p.add_argument("--paths", default="onnxruntime,openvino,openvino:bf16")
    p.add_argument("--int8", help="an int8 .onnx (wsshm-rt export --quantize int8) timed on both engines too")
    p.add_argument("--threads", type=int)
    p.add_argument("--runs", type=int, default=15)
    a = p.parse_args(argv)
    result = time_photo(a.image, matters(a.model, a.paths.split(","), a.int8, a.threads), a.runs)
    for label, ms in result.items():
        print(f"{ms:8.1f} ms  {label}")
    return result


if __name__ == "__main__":
    main()
