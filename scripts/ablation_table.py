"""Collect the final validation of the ablation runs (scripts/ablation-ema-aug.sh) into a Markdown table.

    python scripts/ablation_table.py runs/r2/ablation
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROWS = [("ema-strong", "on", "on"), ("noema-strong", "off", "on"), ("ema-weak", "on", "off"),
        ("noema-weak", "off", "off")]


def last_val(run: Path) -> dict:
    vals = {}
    for line in (run / "metrics.jsonl").read_text().splitlines():
        rec = json.loads(line)
        if rec["kind"].startswith("val_"):
            vals.update({f"{rec['kind']}/{k}": v for k, v in rec.items() if k not in ("step", "kind")})
    return vals


def main(root: str) -> None:
    print("| EMA teacher | weak/strong views | IoU (photos) | far MSE x1e3 | whole MSE x1e3 (composites) "
          "| boundary MSE x1e3 |")
    print("|---|---|---|---|---|---|")
    for name, ema, strong in ROWS:
        if not (Path(root) / name / "metrics.jsonl").exists():
            continue
        v = last_val(Path(root) / name)
        if "val_seg/iou" not in v:  # still running: no validation yet
            continue
        print(f"| {ema} | {strong} | {v['val_seg/iou']:.4f} | {v['val_seg/mse_far'] * 1e3:.2f} | "
              f"{v['val_matte/mse'] * 1e3:.2f} | {v['val_matte/mse_boundary'] * 1e3:.2f} |")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "runs/r2/ablation")
