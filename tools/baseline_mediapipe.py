"""Score MediaPipe's selfie segmentation on the same held-out split and with the same metrics as `wsshm-rt eval`.

Issue 4 sets its bar relative to MediaPipe's scores on a hidden test set; this measures MediaPipe on our own split,
so our figures can be read against it. MediaPipe's legacy "solutions" API (the last releases that ship the
256x256 selfie model inside the wheel, e.g. 0.10.14) needs numpy < 2, so it runs in a venv of its own:

    python -m venv .mp-venv && . .mp-venv/bin/activate
    pip install mediapipe==0.10.14 "numpy<2" -e .
    python tools/baseline_mediapipe.py --seg ../shared/data/portrait-seg/train \
        --matte ../shared/data/portrait-matte/train --backgrounds ../shared/data/backgrounds/train

The alpha scored is MediaPipe's `segmentation_mask` (its soft confidence at the image's size), as an app would
use it. Photos and composites are read exactly as `wsshm-rt eval --split val` reads them (same seeded split,
same fixed background per composite), so the numbers compare with the model card's.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from wsshm_rt.files import write_atomic
from wsshm_rt.images import load_image
from wsshm_rt.metrics import MetricAccumulator, matte_metrics, seg_metrics
from wsshm_rt.training import data

MODELS = {"general": 0, "landscape": 1}  # MediaPipe's model_selection: 256x256 and 144x256 inputs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seg", required=True, help="Photos with segmentation masks (portrait-seg/train).")
    ap.add_argument("--matte", required=True, help="Foregrounds with alpha mattes (portrait-matte/train).")
    ap.add_argument("--backgrounds", required=True, help="Backgrounds to composite onto (backgrounds/train).")
    ap.add_argument("--split", choices=("val", "train", "all"), default="val")
    ap.add_argument("--model", choices=tuple(MODELS), default="general")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--val-fraction", type=float, default=0.1)
    ap.add_argument("--json", help="Also write the figures here.")
    args = ap.parse_args()
    try:
        from mediapipe.python.solutions.selfie_segmentation import SelfieSegmentation
    except ImportError:
        raise SystemExit('this needs MediaPipe\'s legacy solutions API: pip install mediapipe==0.10.14 "numpy<2"')

    seg = data.select_split(data.find_pairs(args.seg, "segmentation"), args.split, args.val_fraction, args.seed)
    matte = data.select_split(data.find_pairs(args.matte, "matte"), args.split, args.val_fraction, args.seed)
    bgs = data.find_backgrounds(args.backgrounds)
    photos, composites = MetricAccumulator(), MetricAccumulator()
    with SelfieSegmentation(model_selection=MODELS[args.model]) as net:
        def alpha(rgb: np.ndarray) -> np.ndarray:
            return np.clip(net.process(np.ascontiguousarray(rgb)).segmentation_mask, 0, 1).astype(np.float32)

        for pair in seg:
            photos.add(seg_metrics(alpha(load_image(pair.image)), data.load_label(pair.label)))
        for pair in matte:
            src, pha = data.fixed_composite(pair, bgs, args.seed)
            composites.add(matte_metrics(alpha(src), pha))
    p, c = photos.mean(), composites.mean()
    result = {"model": f"mediapipe selfie segmentation ({args.model})", "split": args.split, "photos": len(seg),
              "composites": len(matte), "iou": p["iou"], "mse_far": p["mse_far"], "mse": c["mse"],
              "mse_boundary": c["mse_boundary"], "sad": c["sad"]}
    print(f"{result['model']}, {args.split} split, {len(seg)} photos, {len(matte)} composites")
    print(f"IoU {p['iou']:.4f}  far MSE {p['mse_far'] * 1e3:.2f}e-3  |  whole MSE {c['mse'] * 1e3:.2f}e-3  "
          f"boundary MSE {c['mse_boundary'] * 1e3:.2f}e-3  SAD {c['sad']:.2f}")
    if args.json:
        write_atomic(Path(args.json), json.dumps(result, indent=2).encode())


if __name__ == "__main__":
    main()
