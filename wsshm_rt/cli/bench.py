"""CLI commands for the bench area; registered on the main typer app by `wsshm_rt.cli`.

Heavy imports (torch, av, ...) happen inside the command functions, never at module import.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Optional

import typer

from ..errors import WsshmError


def register(app: typer.Typer) -> None:
    """Add this area's commands to `app`."""
    app.command("bench")(bench)
    app.command("build-engine")(build_engine_cmd)


def _ints(text: str, what: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        values = ()
    if not values:
        raise WsshmError(f"{what} takes comma-separated integers, e.g. 1,8, not {text!r}")
    return values


def _size(text: str) -> tuple[int, int]:
    """'512' -> (512, 512); '512x768' -> (512, 768); anything else (a missing side, a comma, a letter) is refused."""
    found = re.fullmatch(r"\s*(\d+)\s*(?:x\s*(\d+)\s*)?", text, re.ASCII | re.IGNORECASE)
    if not found:
        raise WsshmError(f"--size takes S (a square) or HxW, e.g. 512 or 512x768, not {text!r}")
    return (int(found[1]), int(found[2] or found[1]))


def with_default_models(given: list[str], defaults) -> list[str]:
    """Only .onnx files given: the default architectures plus those files (to compare against); else ``given``."""
    if any(not m.lower().endswith(".onnx") for m in given):
        return list(given)
    return [*defaults, *given]


def bench(
    models: Optional[list[str]] = typer.Argument(None, help="Architectures (r101, r18, r18-0.5) or .onnx files, "
                                                 "ours or any other network's (a fixed-shape one is timed at its "
                                                 "own shape). Default: r101 r18 r18-0.5, exported untrained, plus "
                                                 "any .onnx given."),
    device: str = typer.Option("cpu", help="cpu or cuda."),
    engines: str = typer.Option("onnxruntime", help="Comma list of onnxruntime, openvino (fp32 and bf16), "
                                "tensorrt, torch."),
    batch: str = typer.Option("1", help="Comma list of batch sizes, e.g. 1,8."),
    size: str = typer.Option("512", help="Network input: S (square) or HxW."),
    threads: int = typer.Option(2, help="CPU threads (2 matches the reference machine)."),
    runs: int = typer.Option(20, help="Timed runs per measurement, after the warm-up."),
    warmup: int = typer.Option(3, help="Untimed warm-up runs."),
    torch_variants: Optional[str] = typer.Option(
        None, help="Comma list, each a '+' combination of eager, channels_last, compile, cuda_graphs, fp16, bf16. "
                   "Default: eager,channels_last on CPU; all on CUDA."),
    end_to_end: bool = typer.Option(True, "--end-to-end/--model-only",
                                    help="Also time JPEG decode + preprocess + infer + restore."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write the full report as JSON here."),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Write a PNG bar chart of FPS here."),
    trt_cache: Optional[Path] = typer.Option(None, help="TensorRT engine cache folder."),
    reference: Optional[str] = typer.Option(None, help="A model (name or .onnx, e.g. a peer network) timed in "
                                            "this run that every row's FPS is divided by; added to the models "
                                            "if not among them."),
):
    """Throughput table: latency and FPS per model/engine/batch, timed interleaved in one run, ratios against a
    --reference measured in the same run, params and GFLOPs, the paper's figures quoted beside."""
    import json

    from ..bench.throughput import DEFAULT_MODELS, BenchConfig, format_report, plot_report, run_bench

    variants = tuple(v.strip() for v in torch_variants.split(",") if v.strip()) if torch_variants else None
    cfg = BenchConfig(models=with_default_models(models or [], DEFAULT_MODELS), device=device,
                      engines=tuple(e.strip() for e in engines.split(",") if e.strip()),
                      batches=_ints(batch, "--batch"), size=_size(size), threads=threads, runs=runs,
                      warmup=warmup, end_to_end=end_to_end, torch_variants=variants, trt_cache=trt_cache,
                      reference=reference)
    report = run_bench(cfg, log=lambda line: typer.echo(line, err=True))
    typer.echo(format_report(report))
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(report, indent=2))
        typer.echo(f"wrote {json_out}")
    if plot:
        typer.echo(f"wrote {plot_report(report, plot)}")


def build_engine_cmd(
    onnx: Path = typer.Argument(..., help="The fp32 .onnx model."),
    out: Path = typer.Option(..., "-o", "--out", help="Output .engine file (a .engine.json sidecar is written too)."),
    fp16: bool = typer.Option(False, "--fp16", help="Allow fp16 kernels."),
    int8: bool = typer.Option(False, "--int8", help="Allow int8 kernels (needs --calibration)."),
    calibration: Optional[Path] = typer.Option(None, help="Folder of images for int8 calibration."),
    min_shape: str = typer.Option("1x3x64x64", help="Smallest input NxCxHxW the engine accepts."),
    opt_shape: str = typer.Option("1x3x512x512", help="Input shape TensorRT tunes for."),
    max_shape: str = typer.Option("8x3x1024x1024", help="Largest input NxCxHxW the engine accepts."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Rebuild even if the cache holds this engine."),
    parity: bool = typer.Option(False, "--parity", help="Compare the engine with ONNX Runtime afterwards."),
):
    """Build a TensorRT engine from an ONNX file with an explicit dynamic-shape profile (GPU + tensorrt extra)."""
    from ..export.tensorrt import ShapeProfile, build_engine, check_parity, parse_shape

    profile = ShapeProfile(parse_shape(min_shape), parse_shape(opt_shape), parse_shape(max_shape))
    path = build_engine(onnx, out, fp16=fp16, int8=int8, calibration=calibration, profile=profile,
                        use_cache=not no_cache)
    typer.echo(f"wrote {path}")
    if parity:
        r = check_parity(path, onnx, profile.opt)
        typer.echo(f"parity vs ONNX Runtime at {'x'.join(map(str, r['shape']))}: max |d alpha| {r['max_abs']:.2e}, "
                   f"mean {r['mean_abs']:.2e}")
