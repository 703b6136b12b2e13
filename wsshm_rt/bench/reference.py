"""The paper's speed figures, quoted in their own columns beside our measurements; never measured by this code,
and never a reference that our rows are divided by (ratios come from a reference timed in the same run)."""

# The paper, ONNX Runtime at 512x512, frames per second (the paper's Table 1).
PAPER_FPS = {
    "r101": {"v100": 58.3, "xeon_gold_5120": 5.0},
    "r18": {"v100": 222.2, "xeon_gold_5120": 18.7},
    "r18-0.5": {"v100": 328.9, "xeon_gold_5120": 43.7},
    "modnet": {"v100": 101.7, "xeon_gold_5120": 8.9},
}


def paper_fps(name: str | None) -> dict:
    """The paper's FPS for an architecture or a peer (``modnet``); {} when the paper has no row for it."""
    return dict(PAPER_FPS.get(name or "", {}))
