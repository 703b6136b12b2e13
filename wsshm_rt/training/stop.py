"""Stopping a training run on SIGINT or SIGTERM without losing its work (see loop.py): the first signal becomes a
stop at the next step boundary, agreed by every rank under torchrun; the run saves, says where it stopped and raises
Interrupted."""

from __future__ import annotations

import os
import signal
import sys
import threading

import torch

from . import distributed


class Interrupted(KeyboardInterrupt):
    """A run stopped by SIGINT or SIGTERM after it saved its state; the message says where and how to go on."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.signum = signum


class StopSignals:
    """Turns the first SIGINT or SIGTERM into a stop at the next step boundary, so that the run saves first.

    Python delivers signals to the main thread only: train() called from another thread keeps the handlers it finds.
    The previous handlers come back on exit (train() is also called from Python and from recipes). A second signal
    aborts at once, except under torchrun: it passes every signal it gets on to its ranks, which so see one Ctrl-C
    twice; there torchrun's own timeout (SIGKILL) is the hard stop.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)
    ABORT = "wsshm-rt: interrupted again: stopped at once; the same command resumes from the last state saved, if any"

    def __init__(self, d: distributed.Dist):
        self.d, self.signum, self.previous, self.group = d, None, {}, None
        self.repeat_aborts = "RANK" not in os.environ  # not launched by torchrun

    def __enter__(self) -> StopSignals:
        if self.d.ddp:
            import torch.distributed as dist

            # The ranks vote on a CPU (gloo) group: a flag on the GPU would cost a GPU sync every step.
            self.group = dist.new_group(backend="gloo")
        if threading.current_thread() is threading.main_thread():
            self.previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
        return self

    def __exit__(self, *exc) -> None:
        self._restore()

    def _restore(self) -> None:
        for s, handler in self.previous.items():
            signal.signal(s, signal.SIG_DFL if handler is None else handler)  # None: a handler set outside Python
        self.previous = {}

    def _handle(self, signum, _frame) -> None:
        if self.signum is None:
            self.signum = signum
        elif self.repeat_aborts:
            self._restore()
            raise KeyboardInterrupt(self.ABORT)

    def next_batch(self, batches):
        """The next batch, or None where the run is to stop: after a signal, at the same step on every rank."""
        if self.signum and not self.d.ddp:
            return None  # nothing to agree on, and no batch to load for a step that will not run
        try:
            batch = next(batches)
        except Exception:
            if not self.signum:
                raise
            batch = None  # the signal reached the loader's processes too (a scheduler's SIGTERM to the whole job)
        if self.d.ddp:
            import torch.distributed as dist

            vote = torch.tensor([self.signum or 0])
            dist.all_reduce(vote, dist.ReduceOp.MAX, group=self.group)
            if not int(vote):
                return batch  # a signal that came during the vote (its handler runs after it) is voted on next step
            self.signum = self.signum or int(vote)
            return None
        return None if self.signum else batch


def stopped(cfg, d, rec, bar, step, signum) -> None:
    """Close the records, say where the run stopped (rank 0) and raise Interrupted on every rank."""
    how = "interrupted" if signum == signal.SIGINT else f"stopped by {signal.Signals(signum).name}"
    again = "the same command" if cfg.resume else "the same command without --no-resume"
    msg = (f"wsshm-rt: {how} at step {step} of {cfg.iters}; state saved: {again} resumes from step {step}" if step
           else f"wsshm-rt: {how} before the first step; nothing to save")
    if d.main:
        bar.close()
        rec.finish()
        print(msg, file=sys.stderr, flush=True)
    distributed.barrier()  # every rank leaves together, as in finish()
    raise Interrupted(msg, signum)
