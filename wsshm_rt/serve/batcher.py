"""Dynamic batching: items submitted from many threads, grouped by key, run in one call per group.

The server keys a request by the padded size the network sees (and its tta and refine), so concurrent requests of
one size share one engine call (``Matter.network_shape``). An item waits at most ``max_wait`` seconds for others
of its key; a batch is run as soon as it holds ``max_batch`` items. One worker thread runs the batches in turn:
the engine already uses every core, and one call at a time keeps the memory of a batch bounded.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable

log = logging.getLogger("wsshm_rt.serve")

_STOP = object()


@dataclass
class _Job:
    key: Hashable
    item: Any
    deadline: float
    future: Future = field(default_factory=Future)


class Batcher:
    """``run(key, items) -> results`` (one result per item, in order) on batches of up to ``max_batch`` items of
    one key. ``submit`` returns a Future; ``on_batch(size)`` is told the size of every batch run."""

    def __init__(self, run: Callable[[Hashable, list], list], max_batch: int = 8, max_wait: float = 0.01,
                 on_batch: Callable[[int], None] | None = None):
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, not {max_batch}")
        if max_wait < 0:
            raise ValueError(f"max_wait must be 0 or more seconds, not {max_wait}")
        self.run, self.max_batch, self.max_wait = run, max_batch, max_wait
        self.on_batch = on_batch or (lambda size: None)
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="wsshm-batcher", daemon=True)
        self._thread.start()

    def submit(self, key: Hashable, item) -> Future:
        """Queue ``item``; the Future gets its result (or the exception its batch raised)."""
        if self._closed:
            raise RuntimeError("the batcher is closed")
        job = _Job(key, item, time.monotonic() + self.max_wait)
        self._queue.put(job)
        return job.future

    def close(self, timeout: float | None = None) -> None:
        """Stop taking items, run every item already queued (without waiting for companions), then stop."""
        if not self._closed:
            self._closed = True
            self._queue.put(_STOP)
        self._thread.join(timeout)

    def _loop(self) -> None:
        pending: dict[Hashable, list[_Job]] = {}
        stopping = False
        while not (stopping and not pending):
            stopping = self._take(pending, 0.0 if stopping else self._timeout(pending)) or stopping
            while ready := self._ready(pending, stopping):  # after each batch, the next longest-waiting full one
                self._run_batch(ready[0], pending)

    def _timeout(self, pending) -> float | None:
        """How long to block for the next item: until the oldest waiting item's deadline (forever if none)."""
        if not pending:
            return None
        return max(0.0, min(jobs[0].deadline for jobs in pending.values()) - time.monotonic())

    def _take(self, pending, timeout: float | None) -> bool:
        """Block up to ``timeout`` for one item, then take every item already queued. True once told to stop."""
        stop = False
        try:
            job = self._queue.get(timeout=timeout) if timeout != 0.0 else self._queue.get_nowait()
            while True:
                if job is _STOP:
                    stop = True
                else:
                    pending.setdefault(job.key, []).append(job)
                job = self._queue.get_nowait()
        except queue.Empty:
            return stop

    def _ready(self, pending, stopping: bool) -> list:
        """Keys with a full batch or an item past its deadline, the longest-waiting first."""
        now = time.monotonic()
        ready = [k for k, jobs in pending.items()
                 if stopping or len(jobs) >= self.max_batch or jobs[0].deadline <= now]
        return sorted(ready, key=lambda k: pending[k][0].deadline)

    def _run_batch(self, key, pending) -> None:
        jobs, rest = pending[key][:self.max_batch], pending[key][self.max_batch:]
        if rest:
            pending[key] = rest
        else:
            del pending[key]
        jobs = [j for j in jobs if j.future.set_running_or_notify_cancel()]  # a caller that went away is dropped
        if not jobs:
            return
        self.on_batch(len(jobs))
        try:
            results = self.run(key, [j.item for j in jobs])
        except BaseException as exc:  # the batch's callers get the error; the worker lives on
            log.debug("batch of %d failed: %s", len(jobs), exc)
            for j in jobs:
                j.future.set_exception(exc)
            return
        for j, result in zip(jobs, results):
            j.future.set_result(result)
