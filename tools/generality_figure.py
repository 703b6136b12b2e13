"""Successes and failures of a model on photos unlike the portraits: full-body photos and multi-person scenes.

    wsshm-rt make-scenes --seg ../shared/data/person-seg/train --split val --split-seed 0 --count 40 \
        --out data-local/scenes-person
    python tools/generality_figure.py --data ../shared/data/person-seg/train --all data-local/scenes-person \
        --model wsshm_rt/assets/wsshm-r18-0.5.onnx -o docs/images/generality-bundled.jpg

For each folder (images/ + masks/; with --data the held-out side of the split, with --all every photo, e.g. scenes made
from held-out people only), the photos are scored by IoU and
the best and worst ``--per-side`` are drawn: photo | alpha | cut-out on blue, with the IoU written on the photo.
Only use photos whose licence allows it in the docs (person-seg: Clothing Co-Parsing, Apache-2.0).
"""

from __future__ import annotations

import argparse

import cv2
import numpy as np

from wsshm_rt import Matter
from wsshm_rt.compose import parse_background, replace_background
from wsshm_rt.metrics import seg_metrics
from wsshm_rt.training import data

WHITE = (255, 255, 255)


def tile(image: np.ndarray, height: int) -> np.ndarray:
    return cv2.resize(image, (round(image.shape[1] * height / image.shape[0]), height), interpolation=cv2.INTER_AREA)


def row(rgb: np.ndarray, alpha: np.ndarray, iou: float, height: int) -> np.ndarray:
    comp = replace_background(rgb, alpha, parse_background("#3a7bd5"))
    grey = np.dstack([(alpha * 255 + 0.5).astype(np.uint8)] * 3)
    photo = tile(rgb, height).copy()
    cv2.putText(photo, f"IoU {iou:.2f}", (6, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 0), 2)
    return np.hstack([photo, tile(grey, height), tile(comp, height)])


def scored(matter: Matter, folder: str, split: str, limit: int) -> list[tuple[float, np.ndarray, np.ndarray]]:
    pairs = data.find_pairs(folder, "segmentation")
    pairs = data.subset(pairs if split == "all" else data.select_split(pairs, split, 0.1, 0), limit, 0)
    out = []
    for pair in pairs:
        rgb, mask = data.read_pair(pair)
        alpha = matter.predict(rgb)
        out.append((seg_metrics(alpha, mask)["iou"], rgb, alpha))
    return sorted(out, key=lambda t: -t[0])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", action="append", default=[], help="images/ + masks/ folder, its --split (repeatable)")
    p.add_argument("--all", action="append", default=[], help="images/ + masks/ folder, every photo (repeatable)")
    p.add_argument("--split", default="val", help="of the --data folders: val | train (seed 0, fraction 0.1)")
    p.add_argument("--model", default=None)
    p.add_argument("--per-side", type=int, default=2)
    p.add_argument("--limit", type=int, default=60, help="score a seeded subset of this many photos per folder")
    p.add_argument("--height", type=int, default=220)
    p.add_argument("-o", "--out", required=True)
    a = p.parse_args()
    matter = Matter(a.model)
    columns = []
    if not a.data and not a.all:
        p.error("give --data or --all")
    for folder, split in [(f, a.split) for f in a.data] + [(f, "all") for f in a.all]:
        ranked = scored(matter, folder, split, a.limit)
        picks = ranked[:a.per_side] + ranked[-a.per_side:]
        rows = [row(rgb, alpha, iou, a.height) for iou, rgb, alpha in picks]
        width = max(r.shape[1] for r in rows)
        columns.append(np.vstack([cv2.copyMakeBorder(r, 2, 2, 0, width - r.shape[1], cv2.BORDER_CONSTANT, value=WHITE)
                                  for r in rows]))
    height = max(c.shape[0] for c in columns)
    grid = np.hstack([cv2.copyMakeBorder(c, 0, height - c.shape[0], 0, 8, cv2.BORDER_CONSTANT, value=WHITE)
                      for c in columns])
    cv2.imwrite(a.out, grid[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 85])
    print(f"wrote {a.out}: per folder, the {a.per_side} best then the {a.per_side} worst by IoU")


if __name__ == "__main__":
    main()
