"""Pictures for docs/model-card.md: the bundled model on public-domain / CC0 photos shipped by scikit-image.

    python tools/model_card_figures.py docs/images/default-model.jpg
Rows: input | alpha | composite on blue. (No training data is used or written.)
"""

from __future__ import annotations

import sys

import cv2
import numpy as np
import skimage.data

from wsshm_rt import Matter
from wsshm_rt.compose import parse_background, replace_background


def row(matter: Matter, rgb: np.ndarray, side: int = 256) -> np.ndarray:
    alpha = matter.predict(rgb)
    comp = replace_background(rgb, alpha, parse_background("#3a7bd5"))
    tiles = [rgb, np.dstack([(alpha * 255).astype(np.uint8)] * 3), comp]
    return np.hstack([cv2.resize(t, (side, side), interpolation=cv2.INTER_AREA) for t in tiles])


def main(out: str) -> None:
    matter = Matter()
    images = [skimage.data.astronaut(), np.dstack([skimage.data.camera()] * 3),
              np.ascontiguousarray(skimage.data.astronaut()[:, ::-1][40:400, 60:420])]
    grid = np.vstack([row(matter, im) for im in images])
    cv2.imwrite(out, grid[:, :, ::-1])
    print(f"wrote {out}")


if __name__ == "__main__":
    main(sys.argv[1])
