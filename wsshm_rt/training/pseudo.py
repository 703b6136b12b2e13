"""Pseudo-labels for unlabeled photos (the paper's future work): a trained model, or several averaged, labels a
folder; only confident pixels become person (255) or background (0); the rest is grey (128), "unsure", which the
trainer leaves out of the loss (``--pseudo DIR``). Self-training: train, label, train again on the labels.

Runs through ``Matter`` (ONNX Runtime or any engine), so it needs no torch. The output folder is pseudo-label's
own: pseudo-files.json lists what it wrote there, the only files a later labelling into it replaces; a folder holding
anything else, or one that is (or holds, or lies in) the photos' folder, is refused.
"""

from __future__ import annotations

import json
import logging
import shutil
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..errors import WsshmError, check_int, check_number
from ..files import file_sha256, list_images, make_folder, write_atomic
from ..images import load_image, save_image
from .data.outputs import check_apart, check_output, clear_output, write_manifest

log = logging.getLogger(__name__)

UNSURE = 128
SUMMARY = "pseudo.json"
MANIFEST = "pseudo-files.json"  # the files pseudo-label wrote into its output folder (data/outputs.py)


@dataclass
class PseudoOptions:
    low: float = 0.2          # alpha <= low: background
    high: float = 0.8         # alpha >= high: person
    band_px: int = 3          # also unsure: this many px either side of the alpha = 0.5 edge
    max_unsure: float = 0.25  # a photo with more of its pixels unsure than this is left out
    min_person: float = 0.01  # ... and so is one with less person than this (nobody found)


def pseudo_mask(alpha: np.ndarray, opts: PseudoOptions) -> np.ndarray:
    """uint8 Shape(H, W): 255 sure person, 0 sure background, 128 unsure (between the thresholds or near the edge)."""
    import cv2

    mask = np.full(alpha.shape, UNSURE, np.uint8)
    mask[alpha >= opts.high] = 255
    mask[alpha <= opts.low] = 0
    if opts.band_px > 0:
        person = (alpha > 0.5).astype(np.uint8)
        k = np.ones((2 * opts.band_px + 1,) * 2, np.uint8)
        mask[cv2.dilate(person, k) != cv2.erode(person, k)] = UNSURE
    return mask


def ensemble_alpha(matters: list, rgb: np.ndarray) -> np.ndarray:
    """The mean of several models' alphas (each with its own test-time augmentation)."""
    return np.mean([m.predict(rgb) for m in matters], axis=0)


def check_options(opts: PseudoOptions) -> PseudoOptions:
    """The options checked, each named in the one sentence a wrong one gets."""
    check_number("low", opts.low, 0, 1)
    check_number("high", opts.high, 0, 1)
    check_int("band_px", opts.band_px, 0, 1000)
    check_number("max_unsure", opts.max_unsure, 0, 1)
    check_number("min_person", opts.min_person, 0, 1)
    if not 0 <= opts.low < 0.5 < opts.high <= 1:
        raise WsshmError(f"--low and --high must satisfy 0 <= low < 0.5 < high <= 1 (got {opts.low}, {opts.high})")
    return opts


def open_models(models: list, tta: str = "flip+scale", short_side: int | None = None) -> list:
    """The labelling models as ``Matter`` sessions (None: the bundled model). A name that is not a file may name a
    run's weights as train steps do (``runs/x/last``, ``runs/x``); anything else goes to Matter as it is, which says
    in one sentence what is wrong with it."""
    from ..matter import Matter
    from ..weights import resolve_weights_path

    def model_file(m):
        if m is None or (Path(m).exists() and not Path(m).is_dir()):
            return m
        try:
            return str(resolve_weights_path(m))
        except WsshmError:
            return m

    return [Matter(model_file(m), tta=tta, short_side=short_side) for m in models]


def label_identity(inputs, matters: list, opts: PseudoOptions) -> dict:
    """What makes labels the same labels: the photos' folder, the model files (by path and by bytes), their test-time
    augmentation and inference size, and the thresholds. pseudo.json records it; a folder holding the same is done."""
    return {"inputs": str(inputs), "models": [str(m.model_path) for m in matters],
            "model_sha256": [file_sha256(m.model_path) for m in matters], "tta": [m.tta for m in matters],
            "short_side": [m.short_side for m in matters], "options": asdict(opts)}


def already_labelled(inputs, out, matters: list, opts: PseudoOptions) -> bool:
    """True when ``out``/pseudo.json says these models and options already labelled ``inputs`` (and kept some)."""
    done = Path(out) / "pseudo.json"
    if not done.is_file():
        return False
    try:
        summary = json.loads(done.read_text())
    except (OSError, ValueError):
        return False
    return bool(summary.get("kept")) and all(summary.get(k) == v
                                             for k, v in label_identity(inputs, matters, opts).items())


def check_out(inputs, out) -> None:
    """Refuse, before any model is loaded, an output folder that is the photos' folder, lies inside it or holds it
    (or holds a photo), and one holding files pseudo-label did not write (a hand-labelled set: its masks would be
    replaced, and a later run would delete them)."""
    _check_apart(inputs, out, list_images(inputs))
    check_output(out, MANIFEST, "pseudo-label", "-o", legacy=SUMMARY)


def _check_apart(inputs, out, files: list[Path]) -> None:
    sources = [("the input folder", Path(inputs))] if Path(inputs).is_dir() else []
    check_apart(out, "-o", sources + [("the input photo", f) for f in files])


def label_folder(inputs, out, matters: list, opts: PseudoOptions = PseudoOptions(), progress: bool = True) -> dict:
    """Label every image of ``inputs`` into ``out``/images + ``out``/masks; returns (and writes) a summary.

    Unreadable photos are reported and skipped; photos the models are unsure of are counted and left out. The files
    an earlier labelling wrote into ``out`` (pseudo-files.json lists them) are deleted first, so no stale pair is
    left to train on; ``out`` holding any other file, or overlapping the photos, is refused as ``check_out`` refuses it,
    and nothing is deleted.
    """
    check_options(opts)
    files = list_images(inputs)
    _check_apart(inputs, out, files)
    clear_output(out, MANIFEST, "pseudo-label", "-o", legacy=SUMMARY, first=(SUMMARY,))
    images, masks = make_folder(Path(out) / "images"), make_folder(Path(out) / "masks")
    # Listed before they are written: a run stopped half-way leaves a folder the next run may replace.
    candidates = [f"images/{p.name}" for p in files] + [f"masks/{p.stem}.png" for p in files]
    write_manifest(out, MANIFEST, [SUMMARY] + candidates, written_by="wsshm-rt pseudo-label")
    kept, unsure, failed, shares, written = 0, 0, 0, [], [SUMMARY]
    for i, path in enumerate(files):
        try:
            rgb = load_image(path)
        except WsshmError as exc:
            failed += 1
            log.warning("wsshm-rt: skipped %s: %s", path, exc)
            continue
        mask = pseudo_mask(ensemble_alpha(matters, rgb), opts)
        share = float(np.mean(mask == UNSURE))
        if share > opts.max_unsure or np.mean(mask == 255) < opts.min_person:
            unsure += 1
            continue
        shutil.copyfile(path, images / path.name)
        save_image(masks / f"{path.stem}.png", mask)
        written += [f"images/{path.name}", f"masks/{path.stem}.png"]
        kept, shares = kept + 1, shares + [share]
        if progress and (i + 1) % 100 == 0:
            print(f"wsshm-rt: {i + 1}/{len(files)} labelled", file=sys.stderr)
    summary = {**label_identity(inputs, matters, opts), "images": len(files), "kept": kept,
               "left_out_unsure": unsure, "skipped_unreadable": failed,
               "mean_unsure_share": float(np.mean(shares)) if shares else None, "engines": [m.info for m in matters]}
    write_manifest(out, MANIFEST, written, written_by="wsshm-rt pseudo-label")  # only what is there now
    write_atomic(Path(out) / SUMMARY, json.dumps(summary, indent=2).encode())
    if not kept:
        raise WsshmError(f"no photo of {len(files)} was labelled confidently enough (see {out}/pseudo.json)")
    return summary
