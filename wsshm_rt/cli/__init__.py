"""The ``wsshm-rt`` command line: a thin typer shell; every command calls a library function."""

from __future__ import annotations

import re
import sys
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from . import options
from . import bench as cli_bench, data as cli_data, serve as cli_serve, train as cli_train, video as cli_video
from ..errors import WsshmError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Real-time human matting: predict, video, webcam, train, eval, export, bench.")


def _version(value: bool):
    if value:
        from .. import __version__

        typer.echo(f"wsshm-rt {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit.")):
    """wsshm-rt: label-efficient, real-time human matting."""



@app.command()
def predict(
    inputs: list[str] = typer.Argument(..., help="Image files, folders or glob patterns ('photos/*.jpg')."),
    out: Path = typer.Option(..., "-o", "--out", help="Output folder (created if missing)."),
    model: Optional[Path] = options.model(),
    background: Optional[str] = typer.Option(
        None, "--background", "-b", help="Replace the background: an image path, a colour ('#00ff00') or 'blur'."),
    outputs: str = typer.Option("", "--outputs", help="Comma list of alpha,rgba,composite. Default: alpha,rgba "
                                "(+composite with --background)."),
    engine: str = options.engine(),
    device: str = options.device(),
    short_side: Optional[int] = options.short_side(),
    threads: Optional[int] = options.threads(),
    precision: str = options.precision(),
    refine: str = options.refine(),
    tta: str = options.tta(),
    skip_existing: bool = typer.Option(False, "--skip-existing", help="Do not matte again an image whose outputs "
                                       "are all in OUT already (to finish an interrupted run)."),
    ray: Optional[str] = typer.Option(None, "--ray", metavar="[ADDRESS]", help="Run on Ray (the ray extra): "
                                      "alone, on RAY_ADDRESS's cluster or a new local instance; with an address "
                                      "('ray://head:10001', 'auto', 'local'), there. Inputs and OUT must be on a file "
                                      "system every node sees."),
):
    """Matte images: writes <name>.alpha.png, <name>.rgba.png and <name>.composite.png into OUT."""
    from ..predict import PredictOptions, run_predict

    opts = PredictOptions(out=out, background=background, outputs=outputs, skip_existing=skip_existing)
    if ray is not None:
        from ..ray import matte_dataset

        run = matte_dataset(inputs, opts, ray or None, model=model, engine=engine, device=device,
                            short_side=short_side, precision=precision, refine=refine, tta=tta,
                            **({"threads": threads} if threads else {}))
        raise typer.Exit(1 if run.failed else 0)
    failed = run_predict(inputs, opts, model=model, engine=engine, device=device,
                         short_side=short_side, threads=threads, precision=precision, refine=refine, tta=tta)
    raise typer.Exit(1 if failed else 0)


@app.command()
def demo(
    out: Path = typer.Option(Path("wsshm-demo"), "-o", "--out", help="Output folder."),
    background: str = typer.Option("#3a7bd5", "--background", "-b", help="Image path, colour or 'blur'."),
    model: Optional[Path] = options.model(),
):
    """Matte the bundled sample portrait (NASA astronaut photo, public domain): no files of yours needed."""
    from ..matter import ASSETS
    from ..predict import PredictOptions, run_predict

    run_predict([str(ASSETS / "astronaut.jpg")], PredictOptions(out=out, background=background), model=model)
    typer.echo(f"wrote {out}/astronaut.alpha.png, astronaut.rgba.png and astronaut.composite.png")


class ExportFormat(str, Enum):
    onnx = "onnx"
    tensorrt = "tensorrt"


@app.command()
def export(
    out: Path = typer.Option(..., "-o", "--out", help="Output file (.onnx or .engine)."),
    weights: Optional[Path] = typer.Option(None, "--weights", "-w", help="Weights: a .safetensors file, a run "
                                           "folder's last/best, or a bundled .onnx."),
    model: Optional[str] = typer.Option(None, "--model", help="Architecture (r101, r18, r18-0.5); "
                                        "without --weights, exports an untrained network (for benchmarks)."),
    fmt: ExportFormat = typer.Option(ExportFormat.onnx, "--format", help="onnx, or a TensorRT engine."),
    opset: int = typer.Option(17, help="ONNX opset (>= 17)."),
    fp16: bool = typer.Option(False, "--fp16", help="TensorRT: build an fp16 engine."),
    quantize: Optional[str] = typer.Option(None, "--quantize", help="'int8': ONNX Runtime static quantisation."),
    calibration: Optional[Path] = typer.Option(None, "--calibration", help="Folder of images for int8 calibration."),
    short_side: Optional[int] = typer.Option(None, "--short-side", help="Inference size to recommend in the file "
                                             "(Matter, predict and video use it by default).",
                                             show_default="the weights' own, if any, else none (then 512)"),
):
    """Export weights to ONNX (dynamic batch/height/width), a TensorRT engine, or an int8 ONNX."""
    from ..export.api import export_model

    skipped: dict = {}  # unreadable calibration images, reported and skipped: exit code 1, as predict's
    path = export_model(out, weights=weights, model=model, fmt=fmt.value, opset=opset, fp16=fp16,
                        quantize=quantize, calibration=calibration, short_side=short_side, skipped=skipped)
    typer.echo(f"wrote {path}" + (f" ({len(skipped)} unreadable calibration images skipped)" if skipped else ""))
    raise typer.Exit(1 if skipped else 0)


for _area in (cli_train, cli_video, cli_bench, cli_data, cli_serve):
    _area.register(app)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: user errors become one line on stderr and exit code 2."""
    try:
        # standalone mode: usage errors, --help and typer.Exit end the process here
        app(args=_bare_ray_flag(sys.argv[1:] if argv is None else argv))
    except WsshmError as exc:
        typer.echo(f"wsshm-rt: error: {exc}", err=True)
        sys.exit(2)


_RAY_ADDRESS = re.compile(r"^(auto|local|[a-z]+://\S+|[\w.-]+:\d+)$")


def _bare_ray_flag(argv: list[str]) -> list[str]:
    """``--ray`` takes an optional ADDRESS, which typer cannot say: a ``--ray`` not followed by something shaped
    like a Ray address ('auto', 'local', 'ray://...', 'host:port') becomes ``--ray=`` (no address)."""
    return [("--ray=" if a == "--ray" and not (i + 1 < len(argv) and _RAY_ADDRESS.match(argv[i + 1])) else a)
            for i, a in enumerate(argv)]
