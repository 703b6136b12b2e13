"""Collect the final validation of the ablation runs (tools/ablation-ema-aug.sh) into a Markdown table.

    python tools/ablation_table.py runs/r2/ablation                       # one seed
    python tools/ablation_table.py runs/r2/ablation runs/r2/ablation-s1   # mean ± half the range over seeds
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROWS = [("ema-strong", "on", "on"), ("noema-strong", "off", "on"), ("ema-weak", "on", "off"),
        ("noema-weak", "off", "off")]
COLUMNS = [("val_seg/iou", 1, 4), ("val_seg/mse_far", 1e3, 2), ("val_matte/mse", 1e3, 2),
           ("val_matte/mse_boundary", 1e3, 2)]


def last_val(run: Path) -> dict:
    vals = {}
    for line in (run / "metrics.jsonl").read_text().splitlines():
        rec = json.loads(line)
        if rec["kind"].startswith("val_"):
            vals.update({f"{rec['kind']}/{k}": v for k, v in rec.items() if k not in ("step", "kind")})
    return vals


def cell(values: list[float], scale: float, digits: int) -> str:
    mean = sum(values) / len(values) * scale
    if len(values) == 1:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {(max(values) - min(values)) / 2 * scale:.{digits}f}"


def main(roots: list[str]) -> None:
    print("| EMA teacher | weak/strong views | IoU (photos) | far MSE x1e3 | whole MSE x1e3 (composites) "
          "| boundary MSE x1e3 |")
    print("|---|---|---|---|---|---|")
    for name, ema, strong in ROWS:
        runs = [Path(r) / name for r in roots]
        vals = [last_val(r) for r in runs if (r / "metrics.jsonl").exists()]
        if len(vals) < len(roots) or any("val_seg/iou" not in v for v in vals):
            continue  # not run, or still running, in one of the folders: no final validation yet
        print(f"| {ema} | {strong} | " + " | ".join(cell([v[k] for v in vals], s, d) for k, s, d in COLUMNS) + " |")


if __name__ == "__main__":
    main(sys.argv[1:] or ["runs/r2/ablation"])
