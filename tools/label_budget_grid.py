"""Score the label-budget grid (tools/label-budget-grid.sh) and draw it as heat-maps: paper Figure 9, in kind.

    python tools/label_budget_grid.py --runs runs/grid --runs runs/grid-s1 --data ../shared/data-small \
        --out docs/label-budget

Each cell's model (see the shell script) is scored on the held-out split by the same rules as
tools/reproduction_table.py: IoU and far MSE on natural photos, whole and boundary MSE and SAD on composites,
the network's own output at --short-side. With several --runs (one a seed), the mean and half the
range over seeds. Writes <out>.json and <out>.png; prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from reproduction_table import COLUMNS, score

SEGS = ("0", "250", "all")
MATTES = ("0", "50", "all")
PLOTTED = [c for c in COLUMNS if c[1] in ("iou", "mse", "mse_boundary")]


def cell_weights(runs: Path, s: str, m: str) -> Path | None:
    """The weights that stand for (s segmentation labels, m matte labels); None for the empty cell."""
    if s == "0" and m == "0":
        return None
    name = f"pre-{s}" if m == "0" else f"teacher-0-{m}" if s == "0" else f"student-{s}-{m}"
    return runs / name / "last"


def score_runs(runs: Path, data: Path, short_side: int) -> dict:
    """Every finished cell of one grid folder, scored; kept in <runs>/scores.json so a rerun scores only new cells."""
    cache = runs / "scores.json"
    done = json.loads(cache.read_text()) if cache.exists() else {}
    for s in SEGS:
        for m in MATTES:
            w = cell_weights(runs, s, m)
            if w is None or f"{s}x{m}" in done or not w.with_suffix(".safetensors").exists():
                continue
            done[f"{s}x{m}"] = {"model": w.parent.name, **score(w, data, short_side)}
            cache.write_text(json.dumps(done, indent=2))
    return done


def combine(per_run: list[dict]) -> dict:
    """Cells scored in every folder (one seed each): the mean and the half-range of every metric over seeds."""
    grid = {}
    for key in [k for k in per_run[0] if all(k in r for r in per_run)]:
        rs = [r[key] for r in per_run]
        cell = {"model": rs[0]["model"], "seeds": len(rs)}
        for kind in ("seg", "matte"):
            numbers = [k for k, v in rs[0][kind].items() if isinstance(v, float)]  # metrics, not the settings
            cell[kind] = {k: sum(r[kind][k] for r in rs) / len(rs) for k in numbers}
            cell[kind + "_spread"] = {k: (max(r[kind][k] for r in rs) - min(r[kind][k] for r in rs)) / 2
                                      for k in numbers}
        grid[key] = cell
    return grid


def _fmt(metric: str, v: float, spread: float | None = None, mse_digits: int = 1, sep: str = " ") -> str:
    """IoU to 3 decimals, MSE x1e3 to ``mse_digits``; with a spread, "v ± spread"."""
    digits = 3 if metric == "iou" else mse_digits
    return f"{v:.{digits}f}" + ("" if spread is None else f"{sep}± {spread:.{digits}f}")


def markdown(grid: dict) -> str:
    """One row a cell; with several seeds, mean ± half the range between them."""
    lines = ["| seg labels | matte labels | model | " + " | ".join(c[2] for c in COLUMNS) + " |",
             "|" + "---|" * (len(COLUMNS) + 3)]
    for key, r in grid.items():
        s, m = key.split("x")
        spread = r.get("seeds", 1) > 1
        cells = [_fmt(mt, r[k][mt] * sc, r[k + "_spread"][mt] * sc if spread else None) for k, mt, _, sc in COLUMNS]
        lines.append(f"| {s} | {m} | {r['model']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(grid: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, axes = plt.subplots(1, len(PLOTTED), figsize=(4.6 * len(PLOTTED), 4.0))
    for ax, (k, metric, label, sc) in zip(axes, PLOTTED):
        vals = np.full((len(SEGS), len(MATTES)), np.nan)
        for i, s in enumerate(SEGS):
            for j, m in enumerate(MATTES):
                if f"{s}x{m}" in grid:
                    vals[i, j] = grid[f"{s}x{m}"][k][metric] * sc
        # Better is brighter in both maps: IoU rises, MSE falls.
        im = ax.imshow(vals, cmap="viridis" if metric == "iou" else "viridis_r")
        for i, s in enumerate(SEGS):
            for j, m in enumerate(MATTES):
                v = vals[i, j]
                if np.isnan(v):
                    ax.text(j, i, "no labels" if s == m == "0" else "not run", ha="center", va="center",
                            fontsize=9, color="0.4")
                    continue
                cell = grid[f"{s}x{m}"]
                spread = cell[k + "_spread"][metric] * sc if cell.get("seeds", 1) > 1 else None
                text = _fmt(metric, v, spread, mse_digits=0, sep="\n")
                dark = im.cmap(im.norm(v))[:3]  # white text on dark cells
                ax.text(j, i, text, ha="center", va="center", fontsize=10, color="w" if sum(dark) < 1.5 else "k")
        ax.set_xticks(range(len(MATTES)), MATTES)
        ax.set_yticks(range(len(SEGS)), SEGS)
        ax.set_xlabel("matte labels (composites)")
        ax.set_ylabel("segmentation labels (photos)")
        ax.set_title(label, fontsize=10)
        fig.colorbar(im, ax=ax, shrink=0.8)
    seeds = max(c.get("seeds", 1) for c in grid.values())
    fig.suptitle("Label budget (paper Figure 9, in kind): r18-0.5 from random init, CPU-scale runs"
                 + (f"; mean of {seeds} seeds ± half their range" if seeds > 1 else ""), fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=Path, action="append",
                    help="A grid folder; repeat it for grids of other seeds (SEED=1 ...): cells are averaged.")
    ap.add_argument("--data", type=Path, help="The data the grid trained on (its held-out split is scored).")
    ap.add_argument("--out", type=Path, default=Path("docs/label-budget"))
    ap.add_argument("--short-side", type=int, default=320)
    ap.add_argument("--replot", action="store_true", help="Redraw <out>.png from <out>.json; score nothing.")
    args = ap.parse_args()
    if args.replot:
        grid = json.loads(args.out.with_suffix(".json").read_text())
        plot(grid, args.out.with_suffix(".png"))
        print(markdown(grid))
        return
    if args.data is None:
        raise SystemExit("--data is needed to score the grid (e.g. --data ../shared/data-small)")
    grid = combine([score_runs(r, args.data, args.short_side) for r in args.runs or [Path("runs/grid")]])
    if not grid:
        raise SystemExit(f"no cell finished in every folder of {[str(r) for r in args.runs]}: "
                         "run tools/label-budget-grid.sh first")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(grid, indent=2))
    plot(grid, args.out.with_suffix(".png"))
    print(markdown(grid))


if __name__ == "__main__":
    main()
