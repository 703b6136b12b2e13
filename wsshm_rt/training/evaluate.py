"""Validation and ``wsshm-rt eval``: test-time preprocessing (shorter side 512), metrics at original size.

seg: natural photos with binary masks -> IoU and far-from-edge MSE. matte: fg + alpha composited onto a background
fixed by (seed, name), so numbers are comparable between models and runs. photo: real photos with their true alpha
(P3M-500, PPM-100, AM-2k), scored as they are, as the P3M benchmark does.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from ..errors import WsshmError, check_choice
from ..images import write_atomic
from ..preprocess import check_tta, merge_flip, mirrored, resize_for_inference, restore, to_network
from ..video_filters import check_refine
from . import data


@torch.no_grad()
def predict_alpha(model, rgb: np.ndarray, device, short_side: int = 512, refine: str = "none",
                  tta: str = "none") -> np.ndarray:
    """uint8 RGB Shape(H, W, 3) -> alpha float32 Shape(H, W) at the original size; refine and tta as in ``Matter``."""
    small, geom = resize_for_inference(rgb, short_side)

    def run(image):
        pha, _ = model(torch.from_numpy(to_network(image))[None].to(device))
        return pha[0, 0].float().cpu().numpy()

    alpha = run(small)
    if check_tta(tta) == "flip":
        alpha = merge_flip(alpha, run(mirrored(small)), geom)
    return restore(alpha, geom, *((rgb, small) if check_refine(refine) == "guided" else ()))


def evaluate_seg(model, pairs, device, short_side: int = 512, refine: str = "none", tta: str = "none") -> dict:
    from ..metrics import MetricAccumulator, seg_metrics

    acc = MetricAccumulator()
    for pair in pairs:
        rgb, mask = data.load_image(pair.image), data.load_label(pair.label)
        pred = predict_alpha(model, rgb, device, short_side, refine, tta)
        acc.add(seg_metrics(pred, _fit(mask, pred.shape)))
    return acc.mean()


def evaluate_matte(model, pairs, backgrounds, device, short_side: int = 512, seed: int = 0,
                   refine: str = "none", tta: str = "none") -> dict:
    """Matting metrics; no ``backgrounds``: the images are real photos, scored without compositing."""
    from ..metrics import MetricAccumulator, matte_metrics

    acc = MetricAccumulator()
    for pair in pairs:
        src, pha = data.fixed_composite(pair, backgrounds, seed) if backgrounds else data.read_pair(pair)
        acc.add(matte_metrics(predict_alpha(model, src, device, short_side, refine, tta), pha))
    return acc.mean()


def _fit(label: np.ndarray, shape) -> np.ndarray:
    import cv2

    return label if label.shape == shape else cv2.resize(label, shape[::-1], interpolation=cv2.INTER_NEAREST)


def evaluate(model, kind: str, pairs, backgrounds, device, short_side: int, seed: int,
             refine: str = "none", tta: str = "none") -> dict:
    """Training-time validation scores the network's own output (refine="none", tta="none") unless told otherwise."""
    was_training = model.training
    model.eval()
    try:
        if kind == "seg":
            return evaluate_seg(model, pairs, device, short_side, refine, tta)
        return evaluate_matte(model, pairs, backgrounds if kind == "matte" else [], device, short_side, seed, refine,
                              tta)
    finally:
        model.train(was_training)


def run_eval(weights, data_dir, backgrounds=None, kind: str = "auto", json_out=None, short_side: int | None = None,
             device: str = "auto", seed: int = 0, limit: int = 0, split: str = "all",
             val_fraction: float = 0.1, refine: str = "guided", tta: str = "flip") -> tuple[dict, str]:
    """Evaluate a weights file on a folder; returns (metrics, printable table) and writes JSON if asked.

    split="val" scores only the images a training run with the same ``seed`` and ``val_fraction`` held out.
    short_side=None uses the model's recommended inference size (its metadata), else 512.
    refine="guided" and tta="flip" score the alpha as ``Matter.predict`` returns it by default; refine="none" with
    tta="none" the network's own output.
    """
    check_refine(refine), check_tta(tta)
    from ..metrics import REPORT_SCALE, format_table
    from ..models import create_model
    from ..weights import load_weights
    from .distributed import pick_device

    if check_choice("kind", kind, ("seg", "matte", "photo", "auto")) == "auto":
        kind = _detect_kind(data_dir)
    if kind == "matte" and not backgrounds:
        raise WsshmError("matte evaluation needs --backgrounds to composite the foregrounds onto "
                         "(--kind photo scores real photos with their alpha as they are)")
    check_choice("split", split, ("all", "val", "train"))
    dev = pick_device(device, 0)
    pairs = data.find_pairs(data_dir, "segmentation" if kind == "seg" else "matte")
    if split != "all":
        pairs = data.split(pairs, val_fraction, seed)[split == "val"]
    pairs = data.subset(pairs, limit, seed)
    bgs = data.find_backgrounds(backgrounds) if kind == "matte" else []
    state, meta = load_weights(weights)
    model = create_model(meta["architecture"])
    model.load_state_dict(state)
    short_side = short_side or int(meta.get("short_side", 512))
    metrics = evaluate(model.to(dev), kind, pairs, bgs, dev, short_side, seed, refine, tta)
    result = {"weights": str(weights), "data": str(data_dir), "kind": kind, "split": split, "images": len(pairs),
              "short_side": short_side, "refine": refine, "tta": tta, **metrics}
    if json_out:
        write_atomic(Path(json_out), json.dumps(result, indent=2).encode())
    return result, format_table({Path(str(weights)).name: metrics}, REPORT_SCALE)  # MSE x1e3, as papers report it


def _detect_kind(root) -> str:
    """photo for the benchmark layouts (P3M, PPM-100, AM-2k), matte for other alpha folders, else seg."""
    if data.find_layout(root, data.PHOTO_LAYOUTS):
        return "photo"
    return "matte" if data.find_layout(root, data.MATTE_LAYOUTS) else "seg"
