"""Run records (rank 0 only): metrics.jsonl (appended, flushed), metrics.csv and curves.png (rewritten)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from ..files import write_atomic
from ..weights import read_metadata


class Recorder:
    def __init__(self, out: Path, start_step: int = 0):
        self.path = Path(out) / "metrics.jsonl"
        self._truncate_after(start_step)
        self.tb = _tensorboard(out)

    def _truncate_after(self, step: int) -> None:
        """A resumed run rewrites history from its checkpoint on: drop records a killed run wrote past it."""
        if self.path.exists():
            kept = [r for r in read_jsonl(self.path) if r.get("step", 0) <= step]
            write_atomic(self.path, "".join(json.dumps(r) + "\n" for r in kept).encode())

    def log(self, step: int, kind: str, values: dict) -> None:
        row = {"step": step, "kind": kind, **{k: float(v) for k, v in values.items()}}
        with open(self.path, "a") as f:
            f.write(json.dumps(row) + "\n")
        if self.tb is not None:
            for k, v in values.items():
                self.tb.add_scalar(f"{kind}/{k}", float(v), step)

    def finish(self) -> None:
        rows = read_jsonl(self.path)
        write_csv(rows, self.path.with_name("metrics.csv"))
        plot_curves(rows, self.path.with_name("curves.png"))
        if self.tb is not None:
            self.tb.close()


def _tensorboard(out):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except Exception:  # optional: tensorboard not installed
        return None
    return SummaryWriter(str(Path(out) / "tb"))


def read_jsonl(path) -> list[dict]:
    path = Path(path)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def write_csv(rows: list[dict], path) -> None:
    columns = list(dict.fromkeys(k for r in rows for k in r))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    write_atomic(Path(path), buf.getvalue().encode())


def plot_curves(rows: list[dict], path) -> None:
    """One panel per recorded quantity (train losses, val metrics) against the step."""
    import matplotlib

    matplotlib.use("Agg")  # headless: no display on training machines
    import matplotlib.pyplot as plt

    series: dict[str, tuple[list, list]] = {}
    for r in rows:
        for k, v in r.items():
            if k not in ("step", "kind", "lr", "images_per_s"):
                xs, ys = series.setdefault(f"{r['kind']}/{k}", ([], []))
                xs.append(r["step"])
                ys.append(v)
    if not series:
        return
    n = len(series)
    cols = min(3, n)
    fig, axes = plt.subplots(-(-n // cols), cols, figsize=(4 * cols, 3 * -(-n // cols)), squeeze=False)
    for ax, (name, (xs, ys)) in zip(axes.flat, series.items()):
        ax.plot(xs, ys)
        ax.set_title(name)
        ax.set_xlabel("step")
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    write_atomic(Path(path), buf.getvalue())


def finished_line(cfg, summary: dict) -> str:
    """The line a finished train run ends with (``summary``: what ``train`` returns): where the weights are, or
    that the run had already finished and trained nothing."""
    out = Path(cfg.out)
    if summary["start_step"] >= cfg.iters:
        return (f"{out} has already finished its {cfg.iters} steps: nothing to train (raise --iters to go on from "
                "there, or --no-resume to start over)")
    best = " and best.safetensors" if (out / "best.safetensors").exists() else ""
    if best and read_metadata(out / "best.safetensors").get("step") == "0":  # a fine-tune that did not improve on it
        best += " (the model it started from: no later validation beat it)"
    return (f"trained {cfg.stage} steps {summary['start_step'] + 1}-{summary['step']}; weights in {out}: "
            f"last.safetensors{best} (inference size {cfg.val_short_side})")
