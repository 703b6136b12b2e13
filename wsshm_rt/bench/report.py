"""The benchmark report: the machine, ratios against the reference measured in the same run, text and plot."""

from __future__ import annotations

import os
import platform
from dataclasses import asdict
from pathlib import Path

import numpy as np

from .config import BenchConfig


def machine_info(cfg: BenchConfig) -> dict:
    import onnxruntime as ort

    info = {"platform": platform.platform(), "cpu": cpu_name(), "cpu_count": os.cpu_count(),
            "threads": cfg.threads, "python": platform.python_version(), "onnxruntime": ort.__version__}
    for module in ("torch", "openvino"):
        try:
            info[module] = __import__(module).__version__.split("-")[0]
        except ImportError:
            pass
    if cfg.device == "cuda" and "torch" in info:
        import torch

        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name()
    return info


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def config_json(cfg: BenchConfig) -> dict:
    d = asdict(cfg)
    d["trt_cache"] = str(cfg.trt_cache) if cfg.trt_cache else None
    return d


def add_ratios(results: list[dict], reference: str | None) -> dict | None:
    """Give every model-only row ``vs_reference``: how many times the reference's time per image it takes (> 1 =
    faster), the reference being its first model-only row at its smallest batch in this run. Returns that row."""
    rows = [r for r in results if r["model"] == reference and r["mode"] == "model_only"]
    ref = min(rows, key=lambda r: r["batch"]) if rows else None
    for r in results:
        r["vs_reference"] = ref["ms_per_image"] / r["ms_per_image"] if ref and r["mode"] == "model_only" else None
    if ref is None:
        return None
    return {k: ref[k] for k in ("model", "engine", "variant", "batch", "shape", "median_ms", "ms_per_image", "fps")}


def format_row(r: dict) -> str:
    extra = ""
    if r["mode"] == "end_to_end":
        extra = "  [" + ", ".join(f"{k} {v:.1f}" for k, v in r["stages_ms"].items()) + " ms]"
    ratio = f"  x{r['vs_reference']:.2f} vs ref" if r.get("vs_reference") else ""
    gops = f" {r['gflops_per_s']:6.0f} GFLOP/s" if r.get("gflops_per_s") else ""
    return (f"{r['model']:<16} {r['engine'] + '/' + r['variant']:<28} {r['mode']:<10} "
            f"{'x'.join(map(str, r['shape'])):<14} median {r['median_ms']:8.1f} ms (min {r['min_ms']:.1f}, "
            f"max {r['max_ms']:.1f})  {r['ms_per_image']:7.1f} ms/img {r['fps']:7.1f} FPS{gops}{ratio}{extra}")


def format_report(report: dict) -> str:
    """The whole report as text: machine, per-model costs beside the paper, every row, skips, the reference."""
    m = report["machine"]
    lines = [f"machine: {m['cpu']} ({m['cpu_count']} CPUs), {m.get('gpu', 'no GPU')}; threads {m['threads']}; "
             f"onnxruntime {m['onnxruntime']}, openvino {m.get('openvino', '-')}, torch {m.get('torch', '-')}"]
    size = report["config"]["size"]
    lines.append(f"\nmodels (input {size[0]}x{size[1]} unless fixed; FLOPs = 2 x MACs of Conv/Linear) and the paper's "
                 "ONNX Runtime FPS (quoted from the paper, not measured here):")
    lines.append(f"{'model':<16} {'input':<16} {'params M':>9} {'GFLOPs':>8} {'encoder':>8} {'ASPP':>7} "
                 f"{'decoder':>8}   {'paper V100':>10} {'paper Xeon':>10}")
    for name, info in report["models"].items():
        p, g, paper = info.get("params_m", {}), info.get("gflops", {}), info["paper_fps"]
        shape = "fixed " + "x".join(map(str, info["fixed_shape"])) if info.get("fixed_shape") else "dynamic"
        lines.append(f"{name:<16} {shape:<16} {_f(p.get('total'), 9, 2)} {_f(g.get('total'), 8, 1)} "
                     f"{_f(g.get('encoder'), 8, 1)} {_f(g.get('aspp'), 7, 1)} {_f(g.get('decoder'), 8, 1)}   "
                     f"{_f(paper.get('v100'), 10, 1)} {_f(paper.get('xeon_gold_5120'), 10, 1)}")
    lines.append("\nmeasured in this run (model_only: the network alone; end_to_end: JPEG decode + preprocess + "
                 "infer + restore):")
    lines += [format_row(r) for r in report["results"]]
    lines += [f"skipped {s['model']} {s['engine']}/{s['variant']}: {s['reason']}" for s in report["skipped"]]
    lines.append("\n" + reference_line(report))
    return "\n".join(lines)


def reference_line(report: dict) -> str:
    ref = report.get("reference")
    if not ref:
        asked = report["config"].get("reference")
        return (f"reference {asked} was not timed (see skipped): no ratios" if asked else
                "no --reference: no ratios (name a model, e.g. a peer .onnx, to divide every row by it)")
    paper = report["models"][ref["model"]]["paper_fps"].get("xeon_gold_5120")
    quoted = ""
    if paper:
        ours = {n: i["paper_fps"]["xeon_gold_5120"] / paper for n, i in report["models"].items()
                if n != ref["model"] and i["paper_fps"].get("xeon_gold_5120")}
        quoted = "; the paper's Xeon ratios: " + ", ".join(f"{n} x{v:.1f}" for n, v in ours.items())
    return (f"ratios (x vs ref) are FPS against {ref['model']} {ref['engine']}/{ref['variant']} at "
            f"{'x'.join(map(str, ref['shape']))}: {ref['ms_per_image']:.1f} ms per image, measured in this run"
            f"{quoted}")


def _f(v, width: int, digits: int) -> str:
    return f"{v:{width}.{digits}f}" if v is not None else f"{'-':>{width}}"


def plot_report(report: dict, path: Path) -> Path:
    """Bar chart of FPS (model-only, batch 1) per model, peers included, and engine variant; the paper's FPS in
    grey; the reference's measured FPS as a dashed line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = list(report["models"])
    rows = [r for r in report["results"] if r["mode"] == "model_only" and r["batch"] == 1]
    series = sorted({f"{r['engine']}/{r['variant']}" for r in rows})
    fps = {(r["model"], f"{r['engine']}/{r['variant']}"): r["fps"] for r in rows}
    paper = [("paper Xeon 5120 (quoted)", "xeon_gold_5120", "0.75"), ("paper V100 (quoted)", "v100", "0.45")]
    width = 0.8 / max(1, len(series) + len(paper))
    # constrained: the axes leave room for the legend outside them, and the title is the figure's, centred on it
    fig, ax = plt.subplots(figsize=(max(6, 2.2 * len(models)) + 3, 4.5), layout="constrained")
    xs = np.arange(len(models))
    for i, s in enumerate(series):
        ax.bar(xs + i * width, [fps.get((m, s), 0) for m in models], width, label=f"measured: {s}")
    for j, (label, key, grey) in enumerate(paper):
        vals = [report["models"][m]["paper_fps"].get(key, 0) for m in models]
        ax.bar(xs + (len(series) + j) * width, vals, width, label=label, color=grey)
    ref = report.get("reference")
    if ref:
        ax.axhline(ref["fps"], ls="--", c="k", lw=1,
                   label=f"reference {ref['model']} {ref['engine']}/{ref['variant']} (this run)")
    ax.set_xticks(xs + width * (len(series) + len(paper) - 1) / 2, models)
    ax.set_ylabel("images / s")
    ax.set_yscale("log")
    fig.suptitle(f"wsshm-rt throughput, {report['config']['size'][0]}x{report['config']['size'][1]} "
                 "(fixed-shape models at their own)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight", pad_inches=0.1)  # whatever sticks out is kept, not cut
    plt.close(fig)
    return path
