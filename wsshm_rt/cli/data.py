"""CLI commands that make training and evaluation data: `pseudo-label` and `make-scenes`.

Heavy imports happen inside the command functions, never at module import.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from . import options


def pseudo_label(
    inputs: Path = typer.Argument(..., help="Folder (or file / glob) of unlabeled photos."),
    out: Path = typer.Option(..., "-o", "--out", help="Output folder: images/ + masks/ (a segmentation folder for "
                             "`train ... --pseudo OUT`), pseudo.json and pseudo-files.json. New, empty or written by "
                             "pseudo-label before (its own files are replaced); not the photos' folder."),
    models: Optional[list[Path]] = typer.Option(None, "--model", "-m", help="Model file or a run's weights "
                                                "(runs/x/last); repeat for an ensemble (alphas averaged).",
                                                show_default="the bundled model"),
    low: float = typer.Option(0.2, help="Alpha at or below this: sure background (0)."),
    high: float = typer.Option(0.8, help="Alpha at or above this: sure person (255)."),
    band_px: int = typer.Option(3, help="Also unsure (grey 128): this many px either side of the person's edge."),
    max_unsure: float = typer.Option(0.25, help="Leave out a photo with more than this share of unsure pixels."),
    tta: str = options.tta(help="Test-time augmentation of each model: flip+scale, flip or none."),
    short_side: Optional[int] = options.short_side(help="Inference size.", show_default="the model's own"),
):
    """Label unlabeled photos with a trained model for self-training: confident pixels only, the rest grey."""
    from ..training.pseudo import PseudoOptions, check_out, label_folder, open_models

    check_out(inputs, out)  # a wrong -o is refused before the models load
    matters = open_models(models or [None], tta, short_side)
    s = label_folder(inputs, out, matters, PseudoOptions(low, high, band_px, max_unsure))
    typer.echo(f"wrote {s['kept']} pseudo-labelled photos to {out} ({s['left_out_unsure']} left out as unsure, "
               f"{s['skipped_unreadable']} unreadable)")


def make_scenes(
    seg: list[Path] = typer.Option(..., "--seg", help="Segmentation folder to take people from (repeatable)."),
    out: Path = typer.Option(..., "-o", "--out", help="Output folder: images/ + masks/ and scenes.json. New, empty "
                             "or written by make-scenes before (its scenes are replaced: it holds this run's only)."),
    backgrounds: Optional[Path] = typer.Option(None, "--backgrounds", help="Person-free backgrounds to paste onto "
                                               "(else the folders' own photos only)."),
    count: int = typer.Option(200, help="Number of scenes."),
    side: int = typer.Option(480, help="Scene size (square)."),
    max_people: int = typer.Option(6, help="At most this many people per scene."),
    split: str = typer.Option("val", help="Take people from this side of each folder's split: val, train or all."),
    split_seed: int = typer.Option(0, help="Seed of that split (as --split-seed in training)."),
    seed: int = typer.Option(0, help="Seed of the scenes."),
):
    """Write fixed copy-paste scenes of several people (images + masks) to evaluate multi-person matting."""
    from ..errors import check_choice
    from ..training.scenes import write_scenes

    check_choice("split", split, ("val", "train", "all"))
    n = write_scenes([str(s) for s in seg], backgrounds, out, count, side, max_people, split_side=split,
                     split_seed=split_seed, seed=seed)
    typer.echo(f"wrote {n} scenes to {out}")


def register(app: typer.Typer) -> None:
    app.command("pseudo-label")(pseudo_label)
    app.command("make-scenes")(make_scenes)
