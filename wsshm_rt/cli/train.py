"""CLI commands for the train area; registered on the main typer app by `wsshm_rt.cli`.

`wsshm-rt train pretrain|teacher|student` take one flag per field of the flat TrainConfig (generated from the
dataclass, so flags and config never drift apart), plus --config and --preset. `wsshm-rt eval` scores weights.
Heavy imports (torch, ...) happen inside the command functions, never at module import.
"""

from __future__ import annotations

import inspect
import os
from dataclasses import fields
from pathlib import Path
from typing import Optional

import typer

from . import options

from ..training.config import STAGES, TrainConfig, field_kind

STAGE_HELP = {
    "pretrain": "Stage 1: pre-train on segmentation masks (MSE). Paper: r101, lr 1e-4, 200K iters.",
    "teacher": "Stage 2: fine-tune the teacher on matte composites (L1 + Laplacian + boundary BCE). lr 5e-5, 10K.",
    "student": "Stage 3: train the student with Matte Label Blending from a frozen (EMA) teacher. lr 5e-5, 20K.",
}


def _config_params(stage: str) -> list[inspect.Parameter]:
    """One keyword parameter per config field, default None meaning "not given on the command line"; the help
    shows the stage's own default (STAGE_DEFAULTS: the teacher's 10000 iters, not pretrain's 200000)."""
    defaults = stage_defaults(stage)
    params = []
    for f in fields(TrainConfig):
        if f.name == "stage":
            continue
        flag = "--" + f.name.replace("_", "-")
        kind = field_kind(f)
        decls = [f"{flag}/--no-{f.name.replace('_', '-')}"] if kind is bool else [flag]
        opt = typer.Option(None, *decls, help=f"{f.metadata['help']} {default_text(defaults[f.name])}",
                           show_default=False)
        params.append(inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=opt,
                                        annotation=Optional[list[str]] if kind is list else Optional[kind]))
    return params


def stage_defaults(stage: str) -> dict:
    """Every config field's value for ``stage`` when no flag, preset or YAML is given."""
    from ..training.config import resolve_config, to_dict

    return to_dict(resolve_config(stage))


def default_text(value) -> str:
    """'\\[default: 10000]': the backslash keeps rich from reading the brackets as a markup tag and dropping them."""
    return f"\\[default: {value!r}]"


def _stage_command(stage: str):
    def command(config: Optional[Path] = None, preset: Optional[str] = None, **flags):
        from ..training.config import resolve_config
        from ..training.loop import Interrupted, train
        from ..training.records import finished_line

        cfg = resolve_config(stage, preset, config, flags)
        try:
            summary = train(cfg)
        except Interrupted as exc:  # it has saved its state and said so: exit as a shell reports the signal
            raise typer.Exit(128 + exc.signum) from None
        if summary["replica_digests"] and len(set(summary["replica_digests"])) != 1:
            typer.echo("wsshm-rt: warning: DDP replicas ended with different weights", err=True)
        if os.environ.get("RANK", "0") == "0":  # under torchrun, rank 0 speaks for the run
            typer.echo(f"wsshm-rt: {finished_line(cfg, summary)}", err=True)

    extra = [
        inspect.Parameter("config", inspect.Parameter.KEYWORD_ONLY, annotation=Optional[Path],
                          default=typer.Option(None, "--config", help="YAML file of option: value overrides.")),
        inspect.Parameter("preset", inspect.Parameter.KEYWORD_ONLY, annotation=Optional[str],
                          default=typer.Option(None, "--preset", help="'small': minutes on a CPU; 'paper': defaults.")),
    ]
    params = extra + _config_params(stage)
    command.__signature__ = inspect.Signature(params)
    command.__annotations__ = {p.name: p.annotation for p in params}
    command.__name__ = stage
    command.__doc__ = STAGE_HELP[stage]
    return command


def eval_command(
    weights: Optional[Path] = typer.Option(
        None, "--model", "-m", "--weights", "-w", show_default="the bundled model",
        help="Model to score: trained weights (runs/x/best, x.safetensors), scored with PyTorch, or an exported "
             ".onnx / TensorRT .engine file, scored through Matter on the engine it picks."),
    data: Path = typer.Option(..., "--data", "-d", help="Segmentation or matte folder."),
    backgrounds: Optional[Path] = typer.Option(None, "--backgrounds", help="Backgrounds for matte composites "
                                               "(not for seg or photo)."),
    kind: str = typer.Option("auto", "--kind", help="seg | matte (composited) | photo (real photos with alpha: "
                             "P3M-500, PPM-100, AM-2k) | auto (from the folder layout)."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Also write the metrics to this JSON file."),
    per_image: Optional[Path] = typer.Option(None, "--per-image", help="Also write every image's metrics to this "
                                             "CSV file, worst first (the pictures to look at)."),
    short_side: Optional[int] = options.short_side(help="Test-time shorter side.",
                                             show_default="the model's recommendation, else 512"),
    split: str = typer.Option("all", "--split", help="all | val | train: 'val' scores only the images a training "
                              "run with the same --seed and --val-fraction held out."),
    val_fraction: float = typer.Option(0.1, "--val-fraction", help="Held-out fraction, as in training."),
    device: str = options.device(),
    seed: int = typer.Option(0, "--seed", help="Seed of the fixed composite backgrounds."),
    composites: int = typer.Option(1, "--composites", help="Matte only: score each foreground on this many fixed "
                                   "backgrounds (seeds --seed, --seed + 1, ...): a steadier figure on few images."),
    limit: int = typer.Option(0, "--limit", help="Score a seeded subset of this many images (0: all)."),
    refine: str = options.refine(help="guided: score the alpha as Matter.predict returns it "
                               "(guided refinement); none: the network's output, plainly resized."),
    tta: str = options.tta(help="flip+scale: score the alpha as Matter.predict returns it "
                            "(the image, its mirror image and the image at 1.4x the size, merged); flip: the image "
                            "and its mirror image, averaged; none: one network pass."),
):
    """Score a model on a folder: whole/boundary MSE, SAD, MAD, Grad, Conn (matte, photo) or IoU, far MSE (seg)."""
    from ..training.evaluate import run_eval

    result, table = run_eval(weights, data, backgrounds, kind, json_out, short_side, device, seed, limit, split,
                             val_fraction, refine, tta, per_image, composites)
    typer.echo(table)
    typer.echo(f"wsshm-rt: {result['images']} scored, {result['skipped']} skipped", err=True)
    if result["skipped"]:
        raise typer.Exit(1)


def recipe_command(
    recipe: Path = typer.Argument(..., help="A recipe file (recipes/*.yaml): vars, common options, steps."),
    sets: Optional[list[str]] = typer.Option(None, "--set", help="name=value: a var of the recipe (data, runs, "
                                             "...), or a config option applied to every train step. Repeatable."),
    preset: Optional[str] = typer.Option(None, "--preset", help="'small': every train step at the small preset's "
                                         "size (a smoke test of the recipe)."),
    only: Optional[str] = typer.Option(None, "--only", help="Run only these steps, by name, comma-separated."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the command of every step; run nothing."),
):
    """Run a training recipe end to end: its train, average and bundle steps in order (each stage resumes)."""
    from ..training.recipe import describe, load_recipe, parse_sets, run_recipe

    names = only.split(",") if only else None
    if dry_run:
        for line in describe(load_recipe(recipe, parse_sets(sets), preset, names)):
            typer.echo(line)
        return
    from ..training.loop import Interrupted

    try:
        run_recipe(recipe, parse_sets(sets), preset, names, echo=lambda line: typer.echo(line, err=True))
    except Interrupted as exc:  # the step in progress saved and said so; run again, the recipe resumes there
        raise typer.Exit(128 + exc.signum) from None


def average_command(
    models: list[Path] = typer.Argument(..., help="Two or more weights files of one architecture: .safetensors, "
                                        "run folders' last/best, or bundle .onnx files."),
    out: Path = typer.Option(..., "-o", "--out", help="x.safetensors, or x.onnx (written as the bundle is: "
                             "BatchNorm kept, weights in fp16)."),
    weights: Optional[str] = typer.Option(None, "--weights", help="Relative weights, one a model, e.g. 3,1 "
                                          "(default: equal)."),
    module: Optional[list[str]] = typer.Option(None, "--module", help="NAME=W,W: weights of its own for one module "
                                               "(a dotted prefix of tensor names: encoder, encoder.layer4, aspp, "
                                               "decoder, refine, head); repeatable, the longest prefix wins."),
):
    """Average the weights of models of one lineage (a model soup; WiSE-FT with a teacher)."""
    from ..training.average import average_weights, parse_modules, parse_weights

    path = average_weights(list(models), out, parse_weights(weights), parse_modules(module))
    typer.echo(f"wrote {path} (the weighted mean of {len(models)} models)")


def register(app: typer.Typer) -> None:
    """Add `train <stage>`, `train recipe`, `eval` and `average` to `app`."""
    train_app = typer.Typer(no_args_is_help=True, help="Train: pretrain -> teacher -> student (the paper's method), or a "
                            "whole recipe.")
    for stage in STAGES:
        train_app.command(stage, help=STAGE_HELP[stage])(_stage_command(stage))
    train_app.command("recipe")(recipe_command)
    app.add_typer(train_app, name="train")
    app.command("eval")(eval_command)
    app.command("average")(average_command)
