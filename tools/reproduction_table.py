"""Score pre-trained, teacher and MLB-student weights on the held-out split: the paper's Table 3, in kind.

    python tools/reproduction_table.py --data ../shared/data --runs runs --out docs/reproduction

Natural photos (segmentation val split): IoU and far-from-edge MSE. Composites (matte val split, fixed
backgrounds): whole and boundary MSE and SAD. Writes <out>.json and <out>.png (bar charts).
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from wsshm_rt.training.evaluate import run_eval

ROWS = {"seg-only pre-trained": "pre", "teacher (fine-tuned on composites)": "teacher", "MLB student": "student"}
COLUMNS = [("seg", "iou", "IoU (photos) ↑", 1), ("seg", "mse_far", "far MSE x1e3 (photos) ↓", 1e3),
           ("matte", "mse", "whole MSE x1e3 (composites) ↓", 1e3),
           ("matte", "mse_boundary", "boundary MSE x1e3 (composites) ↓", 1e3),
           ("matte", "sad", "SAD (composites) ↓", 1)]


def score(weights: Path, data: Path, short_side: int | None, refine: str = "none", tta: str = "none") -> dict:
    """The network's own output by default (refine="none", tta="none"); refine="guided" with tta="flip": the alpha
    as Matter.predict returns it with tta="flip" (its default until 2026-11-27)."""
    seg, _ = run_eval(weights, data / "portrait-seg/train", kind="seg", split="val", short_side=short_side,
                      refine=refine, tta=tta)
    matte, _ = run_eval(weights, data / "portrait-matte/train", data / "backgrounds/train", kind="matte",
                        split="val", short_side=short_side, refine=refine, tta=tta)
    return {"seg": seg, "matte": matte}


def markdown(results: dict) -> str:
    head = "| model | " + " | ".join(c[2] for c in COLUMNS) + " |"
    lines = [head, "|" + "---|" * (len(COLUMNS) + 1)]
    for name, r in results.items():
        cells = [f"{r[k][m] * s:.4f}" if m == "iou" else f"{r[k][m] * s:.3f}" for k, m, _, s in COLUMNS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _colour(name: str) -> str:
    """Grey for pre-training, orange for teachers, blue for students."""
    head = name.split(" (")[0]
    return "#d98c3a" if "teacher" in head else "#3a7bd5" if "student" in head or "average" in head else "#999999"


SHORT = ((re.compile(r"R(\d+) \+ R(\d+) (students, weights averaged|student average|average)"), r"R\1+\2 avg S"),
         (" + its start averaged", " avg start"), ("seg-only pre-trained", "pre"), ("MLB + matte-mix 0.7 student", "S mix0.7"), ("MLB + matte-mix student", "S mix"), ("matte-mix student", "S mix"),
         ("MLB student", "S"), ("student", "S"), ("teacher", "T"), (" + current guided refinement", " +guided'"),
         (" + former guided refinement", " +guided"), (" + guided refinement", " +guided"),
         (" + flip TTA", " +flip"))


def short_label(name: str) -> str:
    """'R4 student + guided refinement + flip TTA' -> 'R4 S +guided +flip', for the figure's axis."""
    label = name.split(" (")[0]
    for long, short in SHORT:
        label = long.sub(short, label) if isinstance(long, re.Pattern) else label.replace(long, short)
    return label


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(COLUMNS), figsize=(4 * len(COLUMNS), 4.4))
    names = list(results)
    for ax, (k, m, label, s) in zip(axes, COLUMNS):
        vals = [results[n][k][m] * s for n in names]
        ax.bar(range(len(names)), vals, color=[_colour(n) for n in names])
        ax.set_xticks(range(len(names)), [short_label(n) for n in names], rotation=90, fontsize=7)
        ax.set_title(label, fontsize=9)
        if m == "iou":
            ax.set_ylim(min(vals) - 0.05, 1.0)
    fig.suptitle("pre: seg-only pre-trained (grey), T: teacher (orange), S: MLB student (blue), mix: --matte-mix, "
                 "+guided / +flip: as Matter() returns it (+guided': the refinement since 2026-11-26)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--runs", type=Path, default=Path("runs"))
    ap.add_argument("--out", type=Path, default=Path("docs/reproduction"))
    ap.add_argument("--short-side", type=int, default=None)
    ap.add_argument("--which", default="best", help="best or last")
    ap.add_argument("--row", action="append", default=[], metavar="LABEL=WEIGHTS",
                    help="Score these weights files under these labels instead of the three stages of --runs.")
    ap.add_argument("--guided-row", action="append", default=[], metavar="LABEL=WEIGHTS",
                    help="As --row, scored with guided refinement and flip TTA, as Matter.predict returned it "
                         "by default until 2026-11-27 (tta=\"flip\"; the rows compare across rounds).")
    ap.add_argument("--append", action="store_true", help="Keep the rows already in <out>.json; add these.")
    args = ap.parse_args()
    if args.row or args.guided_row:
        rows = [(r, "none", "none") for r in args.row] + [(r, "guided", "flip") for r in args.guided_row]
        results = {name: score(Path(w), args.data, args.short_side, refine, tta)
                   for name, w, refine, tta in ((*r.split("=", 1), refine, tta) for r, refine, tta in rows)}
    else:
        results = {name: score(args.runs / run / args.which, args.data, args.short_side)
                   for name, run in ROWS.items() if (args.runs / run / f"{args.which}.safetensors").exists()}
    table = args.out.with_suffix(".json")
    if args.append and table.exists():
        results = {**json.loads(table.read_text()), **results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.write_text(json.dumps(results, indent=2))
    plot(results, args.out.with_suffix(".png"))
    print(markdown(results))


if __name__ == "__main__":
    main()
