"""Reference figures printed beside our measurements. They are quoted, never measured by this code."""

# The paper, ONNX Runtime at 512x512, frames per second (METHOD.md, Headline numbers).
PAPER_FPS = {
    "r101": {"v100": 58.3, "xeon_gold_5120": 5.0},
    "r18": {"v100": 222.2, "xeon_gold_5120": 18.7},
    "r18-0.5": {"v100": 328.9, "xeon_gold_5120": 43.7},
    "modnet": {"v100": 101.7, "xeon_gold_5120": 8.9},
}

# No MODNet-like baseline exists in this project, so it cannot be measured here; the issue gives this figure.
MODNET_REFERENCE_MS = 574.0
MODNET_REFERENCE_LABEL = "MODNet (measured on this machine by the project lead): 574 ms"


def paper_fps(arch: str | None) -> dict:
    """The paper's FPS for ``arch`` ({} when the paper has no row for it)."""
    return dict(PAPER_FPS.get(arch or "", {}))


def speedup_vs_modnet(ms_per_image: float) -> float:
    """How many times faster than the fixed MODNet reference figure (> 1 = faster)."""
    return MODNET_REFERENCE_MS / ms_per_image
