"""The one training loop for every stage, on 1 CPU, 1 GPU or N GPUs under torchrun (nanoGPT style).

Ctrl-C (SIGINT) or a scheduler's SIGTERM ends a run without losing its work: the step in progress finishes, the run
saves as it does every --save-every steps, says where it stopped and raises Interrupted (a KeyboardInterrupt). Under
torchrun every rank stops at the same step. A second signal aborts at once; the last state written stays whole
(every file is written atomically, the resume state last).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import torch

from ..errors import WriteError, WsshmError
from ..models import cpu_has_native_bf16
from ..weights import DEFAULT_SHORT_SIDE
from . import checkpoint as ckpt
from . import distributed
from .config import TrainConfig, data_seed, save_config, to_dict
from .evaluate import evaluate
from .records import Recorder
from .sampler import MultiScaleBatchSampler, batches_from, crop_sides
from .stages import BUILDERS
from .stop import Interrupted, StopSignals, stopped  # noqa: F401 - Interrupted: what callers catch


def train(cfg: TrainConfig) -> dict:
    """Run ``cfg.stage`` to ``cfg.iters`` steps (resuming if OUT holds a state); returns a summary."""
    d = distributed.setup(cfg.device)
    try:
        return _train(cfg, d)
    finally:
        distributed.cleanup()


def _train(cfg: TrainConfig, d: distributed.Dist) -> dict:
    out = Path(cfg.out)
    set_determinism(cfg.deterministic)
    torch.manual_seed(cfg.seed)  # the same init on every rank (DDP also broadcasts rank 0's weights)
    stage = BUILDERS[cfg.stage](cfg, d.device)
    # Left unset and not given by the model it starts from (the builder's _model), the paper's 512; settled before
    # config.yaml is written and the weights record it.
    cfg.val_short_side = cfg.val_short_side or DEFAULT_SHORT_SIDE
    model = stage.model
    if cfg.freeze_bn:
        freeze_batchnorm(model)
    layout = torch.channels_last if cfg.channels_last else torch.contiguous_format
    for m in (model, stage.teacher):
        if m is not None:
            m.to(memory_format=layout)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.iters, eta_min=cfg.min_lr)
    step, best = resume(cfg, model, opt, sched, stage.teacher) if cfg.resume else (0, None)
    start = saved = step  # saved: the step of the resume state on disk (none yet at 0)
    net = wrap_ddp(model, cfg, d)
    autocast, scaler = amp_context(cfg, d.device)
    batches = batches_from(make_sampler(cfg, stage, d), lambda s: make_loader(stage.train_set, s, cfg, d), step)
    if d.main:
        out.mkdir(parents=True, exist_ok=True)
        save_config(cfg, out / "config.yaml")
    rec, bar = (Recorder(out, step), progress(cfg, step)) if d.main else (None, None)
    if step == 0 and stage.from_weights:
        # Where a fine-tune starts, on the record; best.safetensors stays this model unless a later step beats it.
        best = validate(cfg, stage, d, rec, 0, best)
    t0, seen = time.perf_counter(), 0
    try:
        with StopSignals(d) as stop:
            while step < cfg.iters:
                raw = stop.next_batch(batches)
                if raw is None:  # a stop signal: leave at this step boundary, on every rank
                    if step > saved:
                        save(cfg, d, stage, opt, sched, step, best)
                    stopped(cfg, d, rec, bar, step, stop.signum)
                batch = {k: v.to(d.device, non_blocking=True).contiguous(memory_format=layout) for k, v in raw.items()}
                with autocast:
                    parts = stage.step(net, batch)
                opt.zero_grad(set_to_none=True)
                scaler.scale(parts["loss"]).backward()
                if cfg.grad_clip > 0:
                    scaler.unscale_(opt)
                    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                scaler.step(opt)
                scaler.update()
                sched.step()
                if d.ddp:
                    distributed.sync_buffers(model)
                stage.after_step(model)  # EMA teacher update, on the bare module
                step, seen = step + 1, seen + batch["src"].shape[0] * d.world
                if step % cfg.log_every == 0 or step == cfg.iters:
                    # .item() is a CPU-GPU sync point: only pay it when logging.
                    logs = {k: distributed.mean_across_ranks(v.detach().float()).item() for k, v in parts.items()}
                    logs.update(lr=sched.get_last_lr()[0], images_per_s=seen / (time.perf_counter() - t0))
                    t0, seen = time.perf_counter(), 0
                    if d.main:
                        rec.log(step, "train", logs)
                        bar.set_postfix(loss=f"{logs['loss']:.4f}", refresh=False)
                if bar is not None:
                    bar.update(1)
                if (cfg.val_every and step % cfg.val_every == 0) or step == cfg.iters:
                    best = validate(cfg, stage, d, rec, step, best)
                if step % cfg.save_every == 0 or step == cfg.iters:
                    save(cfg, d, stage, opt, sched, step, best)
                    saved = step
            late = stop.signum if not d.ddp else None  # came during the last step's validation or save
    except KeyboardInterrupt as exc:  # the handler's hard abort on a second signal (Interrupted is said already)
        if d.main and not isinstance(exc, Interrupted) and exc.args:
            print(exc.args[0], file=sys.stderr, flush=True)
        raise
    finally:
        batches.close()  # ends the DataLoader's workers now, not whenever the generator happens to be collected
    summary = {**finish(cfg, d, stage, rec, bar, step, best), "start_step": start}
    if late:  # the run is complete; the signal is still said and obeyed (a recipe must not go on to its next step)
        msg = f"wsshm-rt: interrupted after the last step ({step} of {cfg.iters}); the run is complete"
        print(msg, file=sys.stderr, flush=True)
        raise Interrupted(msg, late)
    return summary


def set_determinism(on: bool) -> None:
    if on:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # required by deterministic cuBLAS
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
    else:
        torch.backends.cudnn.benchmark = True  # crop sides repeat, so cuDNN autotuning pays off


def wrap_ddp(model, cfg, d):
    if not d.ddp:
        return model
    if cfg.sync_bn and not cfg.freeze_bn and d.device.type == "cuda":  # frozen statistics have nothing to sync
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    ids = [d.device.index] if d.device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)


def amp_context(cfg, device):
    """Autocast on CUDA, and bf16 on a CPU that computes it natively; fp16 needs a gradient scaler, bf16 does not.

    On a CPU without native bf16 the conversions cost more than they save, so it trains in fp32 there.
    """
    if device.type == "cuda":
        on = cfg.amp != "off"
    else:
        on = cfg.amp == "bf16" and cpu_has_native_bf16()
    dtype = torch.float16 if cfg.amp == "fp16" else torch.bfloat16
    ctx = torch.autocast(device.type, dtype=dtype) if on else nullcontext()
    return ctx, torch.amp.GradScaler("cuda", enabled=on and device.type == "cuda" and cfg.amp == "fp16")


def make_sampler(cfg, stage, d) -> MultiScaleBatchSampler:
    per_rank = cfg.batch_size // d.world
    if per_rank < 1:
        raise WsshmError(f"batch size {cfg.batch_size} is smaller than the number of ranks ({d.world})")
    return MultiScaleBatchSampler(len(stage.train_set), per_rank, crop_sides(cfg.crop_min, cfg.crop_max,
                                  cfg.crop_step), cfg.seed, d.rank, d.world)


def make_loader(dataset, sampler, cfg, d):
    return torch.utils.data.DataLoader(dataset, batch_sampler=sampler, num_workers=cfg.workers,
                                       pin_memory=d.device.type == "cuda", worker_init_fn=_worker_init,
                                       multiprocessing_context=_worker_context() if cfg.workers else None)


def _worker_context():
    """Workers come from a fork server, never forked from this (multi-threaded) process.

    Forking after torch's OpenMP pool has run can deadlock the child (seen here: a new epoch's worker hung in
    its init); a fork server is a fresh interpreter with the heavy modules preloaded, so workers start fast.
    """
    import multiprocessing as mp
    from multiprocessing import forkserver, resource_tracker

    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["torch", "cv2", "wsshm_rt.training.data"])
    # The server starts with the stop signals blocked, a mask it and every worker it forks inherit (see _worker_init):
    # a SIGTERM to the whole job must not kill the server the next epoch's workers come from. Blocked, not ignored:
    # one that reaches this process meanwhile is delivered once they are unblocked. A no-op once it is running. The
    # resource tracker first: starting it unblocks them.
    resource_tracker.ensure_running()
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, StopSignals.SIGNALS)
    try:
        forkserver.ensure_running()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
    return ctx


def _worker_init(_):
    import cv2

    cv2.setNumThreads(1)  # N workers x all-core OpenCV threads would oversubscribe the CPU
    # The terminal's Ctrl-C reaches every process of its group, a scheduler's SIGTERM may reach the whole job: the
    # main process decides (it finishes the step and saves), then ends its workers through their queues.
    for s in StopSignals.SIGNALS:
        signal.signal(s, signal.SIG_IGN)


def freeze_batchnorm(model: torch.nn.Module) -> None:
    """--freeze-bn: every BatchNorm normalises with its running statistics and leaves them as they are (eval mode),
    while its weight and bias still train. A forward pre-hook holds it there, whoever calls ``model.train()`` later
    (evaluate() does after each validation)."""
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.eval()
            m.register_forward_pre_hook(_keep_eval)


def _keep_eval(module, _inputs) -> None:
    module.training = False


def progress(cfg, step):
    from tqdm import tqdm

    return tqdm(total=cfg.iters, initial=step, disable=not cfg.progress, desc=cfg.stage, dynamic_ncols=True)


def validate(cfg, stage, d, rec, step, best):
    """Rank 0 evaluates while the others wait; returns the best value so far of ``stage.best_metric``."""
    if d.main and any(v.pairs for v in stage.val_sets):
        metrics = {}
        for v in stage.val_sets:
            if v.pairs:
                vals = evaluate(stage.model, v.kind, v.pairs, v.backgrounds, d.device,
                                cfg.val_short_side or DEFAULT_SHORT_SIDE, data_seed(cfg))
                rec.log(step, v.name, vals)
                metrics.update({f"{v.name}/{k}": x for k, x in vals.items()})
        scores = [metrics[m] for m in stage.best_metric if m in metrics]
        value = sum(scores) / len(scores) if scores else None
        if value is not None and (best is None or value < best):
            best = value
            ckpt.save_model(stage.model, Path(cfg.out) / "best.safetensors", cfg, step)
    distributed.barrier()
    return best


def save(cfg, d, stage, opt, sched, step, best) -> None:
    if d.main:
        try:
            _save(cfg, stage, opt, sched, step, best)
        except WriteError as exc:
            state = Path(cfg.out) / ckpt.STATE_FILE
            kept = ("the last complete checkpoint is kept: free some space and run the same command again to resume"
                    if state.exists() else "no checkpoint was complete yet")
            raise WriteError(f"{exc}; {kept}") from None
    distributed.barrier()


def _save(cfg, stage, opt, sched, step, best) -> None:
    out = Path(cfg.out)
    ckpt.save_model(stage.model, out / "ckpt" / f"step_{step:07d}.safetensors", cfg, step)
    ckpt.prune(out / "ckpt", cfg.keep)
    ckpt.save_model(stage.model, out / "last.safetensors", cfg, step)
    state = {"step": step, "best": best, "model": stage.model.state_dict(), "optimizer": opt.state_dict(),
             "scheduler": sched.state_dict(), "rng": ckpt.rng_state(), "config": to_dict(cfg)}
    if stage.teacher is not None:
        state["teacher"] = stage.teacher.state_dict()
    ckpt.save_state(out / ckpt.STATE_FILE, state)  # written last: it is what --resume trusts


def resume(cfg, model, opt, sched, teacher) -> tuple[int, float | None]:
    path = Path(cfg.out) / ckpt.STATE_FILE
    if not path.exists():
        return 0, None
    state = ckpt.load_state(path)
    if state.get("config", {}).get("stage") != cfg.stage:
        raise WsshmError(f"{path} belongs to a {state.get('config', {}).get('stage')} run; use another --out "
                         "or --no-resume")
    try:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        if teacher is not None and "teacher" in state:
            teacher.load_state_dict(state["teacher"])
    except (RuntimeError, ValueError, KeyError):
        raise WsshmError(f"{path} does not fit this model/config; use another --out or --no-resume") from None
    ckpt.set_rng_state(state["rng"])
    return int(state["step"]), state["best"]


def finish(cfg, d, stage, rec, bar, step, best) -> dict:
    digests = distributed.replica_digests(stage.model)  # a collective: every rank takes part
    summary = {"step": step, "best": best, "replica_digests": digests, "out": str(cfg.out)}
    if d.main:
        bar.close()
        rec.finish()
        import json

        from ..files import write_atomic

        write_atomic(Path(cfg.out) / "summary.json", json.dumps(summary, indent=2).encode())
    distributed.barrier()  # every rank leaves together: none tears down its connections while another still writes
    return summary
