"""Throughput benchmark: our models and peer networks timed in the same run, on the same machine.

``run_bench(BenchConfig(...))`` loads every (model, engine, variant), then times them interleaved (a, b, c, a, b,
c, ...: every contender sees the same background load) after a warm-up, per batch size, and returns a JSON-ready
report: median/min/max latency and FPS, model-only and end-to-end (JPEG decode -> preprocess -> infer ->
restore), params and GFLOPs, and every row's FPS against a reference model measured in this run (``reference``,
e.g. a peer's ONNX file). The paper's figures are quoted in their own columns, never used as a reference.

Models are architecture names (exported untrained to a temporary ONNX: speed does not depend on the weights) or
ONNX files, fixed-shape or dynamic: a fixed-shape file (a peer network) is timed at its own input shape. Where
a variant cannot run here (no GPU, no TensorRT, no OpenVINO, a fixed batch) it becomes a row in ``skipped``.
Jobs: config.py (settings), specs.py (models), runners.py (engines), end_to_end.py (the decode-to-restore
timing), report.py (ratios, text, plot); this module only runs them in order.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Callable

from ..errors import WsshmError
from .config import DEFAULT_MODELS, ENGINES, BenchConfig, ModelSpec, Skip, check_config, parse_torch_variant
from .end_to_end import end_to_end
from .report import add_ratios, config_json, format_report, format_row, machine_info, plot_report
from .runners import variants
from .specs import find_reference, model_info, models_with_reference, resolve_model, unique_labels
from .timing import summarise, time_interleaved

__all__ = ["BenchConfig", "DEFAULT_MODELS", "ENGINES", "ModelSpec", "end_to_end", "format_report", "format_row",
           "parse_torch_variant", "plot_report", "run_bench"]


def run_bench(cfg: BenchConfig, log: Callable[[str], None] = print) -> dict:
    """Run the benchmark described by ``cfg``; returns the report (see module docstring)."""
    check_config(cfg)
    results, skipped = [], []
    with tempfile.TemporaryDirectory() as tmp:
        specs = unique_labels([resolve_model(m, Path(tmp)) for m in models_with_reference(cfg)])
        info = model_info(specs, cfg)
        loaded = _load(specs, cfg, Path(tmp), skipped, log)
        for batch in cfg.batches:
            _time_batch(loaded, batch, cfg, info, results, skipped, log)
        if cfg.end_to_end:
            for spec, row0, runner in loaded:
                if runner.first and spec.matting and not spec.fixed:
                    stats = end_to_end(runner.run_numpy, cfg.size, spec.metadata, cfg.runs, cfg.warmup)
                    results.append(_row(row0, "end_to_end", (1, 3, *cfg.size), stats, None))
                    log(format_row(results[-1]))
    if not results:
        raise WsshmError(_nothing_timed(cfg, skipped))
    ref = find_reference(cfg, specs)
    return {"machine": machine_info(cfg), "config": config_json(cfg), "models": info,
            "reference": add_ratios(results, ref.label if ref else None), "results": results, "skipped": skipped}


def _nothing_timed(cfg: BenchConfig, skipped: list[dict]) -> str:
    """Why a run timed no row at all: each reason once, with the engine variants it skipped. (A row skipped while
    others ran is only listed in the report.)"""
    reasons: dict[str, list[str]] = {}
    for s in skipped:
        name = f"{s['engine']}/{s['variant']}"
        if name not in reasons.setdefault(s["reason"], []):
            reasons[s["reason"]].append(name)
    if not reasons:
        return "nothing to time: no model was given"
    why = "; ".join(f"{', '.join(names)}: {reason}" for reason, names in reasons.items())
    return f"nothing could be timed on {cfg.device}: every variant was skipped ({why})"


def _load(specs: list[ModelSpec], cfg: BenchConfig, tmp: Path, skipped: list, log) -> list:
    """(spec, row prefix, runner) for every variant that loads here; the others go to ``skipped``."""
    loaded = []
    for spec in specs:
        for engine in cfg.engines:
            for variant, factory in variants(engine, spec, cfg, tmp):
                row0 = {"model": spec.label, "arch": spec.arch, "engine": engine, "variant": variant,
                        "device": cfg.device}
                try:
                    loaded.append((spec, row0, factory()))
                except Skip as why:
                    skipped.append({**row0, "reason": str(why)})
                    log(f"skip  {spec.label:<16} {engine}/{variant}: {why}")
    return loaded


def _time_batch(loaded, batch: int, cfg: BenchConfig, info: dict, results: list, skipped: list, log) -> None:
    """Time every loaded variant at ``batch``, interleaved, ``cfg.runs`` times each after ``cfg.warmup``."""
    fns, syncs, rows = {}, {}, {}
    for i, (spec, row0, runner) in enumerate(loaded):
        try:
            shape = spec.shape(batch, cfg.size)
            fns[i], syncs[i] = runner.model_only(batch)
            rows[i] = (row0, shape, info[spec.label].get("gflops", {}).get("total"))
        except Skip as why:
            skipped.append({**row0, "batch": batch, "reason": str(why)})
            log(f"skip  {spec.label:<16} {row0['engine']}/{row0['variant']} batch {batch}: {why}")
    times = time_interleaved(fns, cfg.runs, cfg.warmup, syncs)
    for i, (row0, shape, gflops) in rows.items():
        results.append(_row(row0, "model_only", shape, summarise(times[i], batch), gflops))
        log(format_row(results[-1]))


def _row(row0: dict, mode: str, shape, stats: dict, gflops: float | None) -> dict:
    batch = shape[0]
    per_image = stats["median_ms"] / batch
    return {**row0, "mode": mode, "batch": batch, "shape": list(shape), "size": list(shape[2:]), **stats,
            "ms_per_image": per_image, "gflops_per_s": gflops * 1e3 / per_image if gflops else None}
