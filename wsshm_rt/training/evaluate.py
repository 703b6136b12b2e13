"""Validation and ``wsshm-rt eval``: test-time preprocessing (shorter side 512), metrics at original size.

seg: natural photos with binary masks -> IoU and far-from-edge MSE. matte: fg + alpha composited onto a background
fixed by (seed, name), so numbers are comparable between models and runs. photo: real photos with their true alpha
(P3M-500, PPM-100, AM-2k), scored as they are, as the P3M benchmark does.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import torch

from .. import __version__
from ..errors import WsshmError, check_choice, check_number
from ..files import write_atomic
from ..images import load_image
from ..model_checks import check_alpha
from ..preprocess import to_network
from ..tta import check_tta, tta_alphas
from ..refine import check_refine, refine_settings
from ..weights import check_short_side
from . import data

log = logging.getLogger(__name__)


@torch.no_grad()
def predict_alpha(model, rgb: np.ndarray, device, short_side: int = 512, refine: str = "none",
                  tta: str = "none") -> np.ndarray:
    """uint8 RGB Shape(H, W, 3) -> alpha float32 Shape(H, W) at the original size; refine and tta as in ``Matter``."""
    def run(images):
        alphas = []
        for image in images:
            pha, _ = model(torch.from_numpy(to_network(image))[None].to(device))
            alphas.append(pha[0, 0].float().cpu().numpy())
        return alphas

    return tta_alphas(run, [rgb], short_side, tta, check_refine(refine) == "guided")[0]


def score_seg(predict, pairs, skipped: list | None = None, per_image: list | None = None) -> dict:
    """IoU and far-from-edge MSE of ``predict`` (uint8 RGB -> alpha at the image's size) on photos with masks.
    A pair that cannot be read is reported, appended to ``skipped`` and left out; ``per_image`` gets
    (pair, metrics) for each image scored."""
    from ..metrics import MetricAccumulator, seg_metrics

    acc = MetricAccumulator()
    for pair, (rgb, mask) in _readable(pairs, lambda p: (load_image(p.image), data.load_label(p.label)), skipped):
        pred = predict(rgb)
        _add(acc, per_image, pair, seg_metrics(pred, _fit(mask, pred.shape)))
    return acc.mean()


def score_matte(predict, pairs, backgrounds, seed: int = 0, skipped: list | None = None,
                per_image: list | None = None, composites: int = 1) -> dict:
    """Matting metrics of ``predict``; no ``backgrounds``: the images are real photos, scored without compositing.
    With backgrounds, each foreground is scored on ``composites`` fixed backgrounds (seeds ``seed``, ``seed + 1``,
    ...; the first is the one a single composite uses), which lowers the spread the background's pick adds.
    A pair that cannot be read is reported, appended to ``skipped`` and left out; ``per_image`` as in score_seg
    (one row a composite, numbered, when there are several)."""
    from ..metrics import MetricAccumulator, matte_metrics

    def read(pair):
        if not backgrounds:
            return [data.read_pair(pair)]
        return data.fixed_composites(pair, backgrounds, range(seed, seed + composites))

    acc = MetricAccumulator()
    for pair, items in _readable(pairs, read, skipped):
        for j, (src, pha) in enumerate(items):
            _add(acc, per_image, pair, matte_metrics(predict(src), pha), {"composite": j} if len(items) > 1 else {})
    return acc.mean()


def _add(acc, per_image: list | None, pair, metrics: dict, label: dict | None = None) -> None:
    """Add ``metrics`` to the mean, and to the per-image rows with ``label`` (columns naming the row) first."""
    acc.add(metrics)
    if per_image is not None:
        per_image.append((pair, {**(label or {}), **metrics}))


def _readable(pairs, read, skipped: list | None):
    """(pair, ``read(pair)``) for each pair; one whose files cannot be read is reported and skipped, not the run's end
    (the model's own failures are not caught: they would repeat on every image)."""
    from ..predict import report_skipped

    for pair in pairs:
        try:
            item = read(pair)
        except Exception as exc:  # noqa: BLE001 - any reading failure is this pair's
            report_skipped(pair.image, exc)
            if skipped is not None:
                skipped.append(pair)
            continue
        yield pair, item


def _score(predict, kind: str, pairs, backgrounds, seed: int, skipped: list | None = None,
           per_image: list | None = None, composites: int = 1) -> dict:
    if kind == "seg":
        return score_seg(predict, pairs, skipped, per_image)
    return score_matte(predict, pairs, backgrounds if kind == "matte" else [], seed, skipped, per_image, composites)


def _fit(label: np.ndarray, shape) -> np.ndarray:
    import cv2

    return label if label.shape == shape else cv2.resize(label, shape[::-1], interpolation=cv2.INTER_NEAREST)


def evaluate(model, kind: str, pairs, backgrounds, device, short_side: int, seed: int,
             refine: str = "none", tta: str = "none", skipped: list | None = None, source=None,
             per_image: list | None = None, composites: int = 1) -> dict:
    """Training-time validation scores the network's own output (refine="none", tta="none") unless told otherwise."""
    was_training = model.training
    model.eval()
    try:
        def predict(rgb):
            alpha = predict_alpha(model, rgb, device, short_side, refine, tta)
            if source is not None:  # `wsshm-rt eval` of a file: NaN weights are refused, not scored as a number
                check_alpha(alpha, source)
            return alpha

        return _score(predict, kind, pairs, backgrounds, seed, skipped, per_image, composites)
    finally:
        model.train(was_training)


def run_eval(weights, data_dir, backgrounds=None, kind: str = "auto", json_out=None, short_side: int | None = None,
             device: str = "auto", seed: int = 0, limit: int = 0, split: str = "all",
             val_fraction: float = 0.1, refine: str = "guided", tta: str = "flip+scale",
             per_image_out=None, composites: int = 1) -> tuple[dict, str]:
    """Evaluate a model on a folder; returns (metrics, printable table) and writes JSON if asked.

    ``weights``: trained weights (a ``.safetensors`` file or a run folder's ``best``/``last``), scored with PyTorch;
    an ONNX file or a TensorRT engine, scored through ``Matter`` on the engine it picks (so an exported or
    quantised model is scored as an app runs it); None: the bundled default model, as ``Matter()`` runs it.
    split="val" scores only the images a training run with the same ``seed`` and ``val_fraction`` held out.
    short_side=None uses the model's recommended inference size (its metadata), else 512.
    refine="guided" and tta="flip+scale" score the alpha as ``Matter.predict`` returns it by default; refine="none" with
    tta="none" the network's own output. ``per_image_out``: a CSV file of every scored image's metrics, worst first
    (lowest IoU for seg, highest MSE for matte and photo), to find the pictures to look at. ``composites``: matte
    only, each foreground scored on this many fixed backgrounds (see score_matte).
    """
    check_refine(refine), check_tta(tta)
    check_number("--val-fraction", val_fraction, 0.0, 1.0, high_open=True)
    if short_side is not None:  # Matter checks its own; weights scored by torch below would take any size
        check_short_side(short_side, "--short-side")
    from ..metrics import REPORT_SCALE, format_table

    if check_choice("kind", kind, ("seg", "matte", "photo", "auto")) == "auto":
        kind = _detect_kind(data_dir)
    if kind == "matte" and not backgrounds:
        raise WsshmError("matte evaluation needs --backgrounds to composite the foregrounds onto "
                         "(--kind photo scores real photos with their alpha as they are)")
    check_choice("split", split, ("all", "val", "train"))
    if check_number("--composites", composites, 1, 100) != int(composites):
        raise WsshmError(f"--composites must be a whole number, not {composites!r}")
    if composites > 1 and kind != "matte":
        raise WsshmError(f"--composites {composites}: only matte folders are composited (this one is {kind})")
    if backgrounds and kind != "matte":
        log.warning("wsshm-rt: warning: --backgrounds is for matte folders (foregrounds to composite); %s is a %s "
                    "folder, scored as it is", data_dir, kind)
    unreadable: list = []  # files left out before scoring (reported by find_pairs / find_backgrounds)
    pairs = data.find_pairs(data_dir, "segmentation" if kind == "seg" else "matte", unreadable)
    pairs = data.select_split(pairs, split, val_fraction, seed)
    pairs = data.subset(pairs, limit, seed)
    bgs = data.find_backgrounds(backgrounds, unreadable) if kind == "matte" else []
    skipped: list = []  # pairs that could not be read: reported, left out, and counted in the result
    per_image: list | None = [] if per_image_out else None
    if weights is None or Path(weights).suffix.lower() in MATTER_SUFFIXES:
        from ..matter import Matter

        matter = Matter(weights, device=device, short_side=short_side, refine=refine, tta=tta)
        name, short_side, engine = matter.model_path.name, matter.short_side, matter.info
        _check_split(lambda: matter.metadata, split, seed, val_fraction, name)
        metrics = _score(matter.predict, kind, pairs, bgs, seed, skipped, per_image, composites)
    else:
        from ..weights import read_metadata, resolve_weights_path

        _check_split(lambda: read_metadata(resolve_weights_path(weights)), split, seed, val_fraction, weights)
        name, short_side, engine, metrics = _score_weights(weights, kind, pairs, bgs, short_side, device, seed,
                                                           refine, tta, skipped, per_image, composites)
    if len(skipped) == len(pairs):
        raise WsshmError(f"none of the {len(pairs)} images could be read; nothing was scored")
    result = {"weights": str(weights if weights is not None else name), "engine": engine, "data": str(data_dir),
              "kind": kind, "split": split, "seed": seed, "val_fraction": val_fraction, "limit": limit,
              "images": len(pairs) - len(skipped),
              "skipped": len(skipped) + len(unreadable), **({"composites": composites} if kind == "matte" else {}),
              "short_side": short_side, "refine": refine,
              "refine_settings": refine_settings(refine), "tta": tta, "wsshm_rt_version": __version__, **metrics}
    if json_out:
        write_atomic(Path(json_out), json.dumps(result, indent=2).encode())
    if per_image_out:
        write_per_image(per_image, per_image_out, data_dir, kind)
    return result, format_table({name: metrics}, REPORT_SCALE)  # MSE x1e3, as papers report it


MATTER_SUFFIXES = (".onnx", ".engine", ".plan")


def write_per_image(rows: list, path, data_dir, kind: str) -> None:
    """CSV of (pair, metrics) rows, worst image first: lowest IoU (seg), else highest whole-image MSE."""
    import math

    from .records import write_csv

    def badness(row):
        value = row[1]["iou"] if kind == "seg" else -row[1]["mse"]
        return value if math.isfinite(value) else math.inf

    def name(pair):
        return (pair.image.relative_to(data_dir) if pair.image.is_relative_to(data_dir) else pair.image).as_posix()

    write_csv([{"image": name(pair), **{k: f"{v:.6g}" for k, v in metrics.items()}}
               for pair, metrics in sorted(rows, key=badness)], path)


def _check_split(metadata, split: str, seed: int, val_fraction: float, name) -> None:
    """Warn when scoring one side of a split that the model (``metadata()``) was not trained on; never for 'all'."""
    msg = split != "all" and data.split_mismatch(metadata(), seed, val_fraction, str(name))
    if msg:
        log.warning("wsshm-rt: warning: %s", msg.replace("--split-seed", "--seed"))


def _score_weights(weights, kind, pairs, bgs, short_side, device, seed, refine, tta, skipped=None, per_image=None,
                   composites=1):
    from ..models.loading import load_model
    from ..weights import recommended_short_side
    from .distributed import pick_device

    dev = pick_device(device, 0)
    model, meta = load_model(weights)
    short_side = short_side or recommended_short_side(meta)
    metrics = evaluate(model.to(dev), kind, pairs, bgs, dev, short_side, seed, refine, tta, skipped,
                       Path(str(weights)).name, per_image, composites)
    return Path(str(weights)).name, short_side, f"torch on {dev}", metrics


def _detect_kind(root) -> str:
    """photo for the benchmark layouts (P3M, PPM-100, AM-2k), matte for other alpha folders, else seg."""
    if data.find_layout(root, data.PHOTO_LAYOUTS):
        return "photo"
    return "matte" if data.find_layout(root, data.MATTE_LAYOUTS) else "seg"
