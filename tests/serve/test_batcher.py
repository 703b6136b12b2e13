"""The batcher on its own: real threads, a real function; batches made deterministic with a gate, not timing."""

from __future__ import annotations

import threading

import pytest

from wsshm_rt.serve.batcher import Batcher


class Recorder:
    """run(key, items): records each batch; the first batch blocks until ``gate`` is set, so that the items
    submitted meanwhile are all queued when the worker looks again."""

    def __init__(self):
        self.batches: list[tuple] = []
        self.gate, self.started = threading.Event(), threading.Event()

    def __call__(self, key, items):
        self.started.set()
        self.gate.wait(60)
        self.batches.append((key, list(items)))
        if key == "boom":
            raise ValueError("this batch fails")
        return [(key, item * 10) for item in items]


def test_items_queued_meanwhile_are_grouped_by_key_up_to_max_batch():
    run = Recorder()
    batcher = Batcher(run, max_batch=3, max_wait=0.0)
    first = batcher.submit("a", 0)
    run.started.wait(60)  # the worker is inside the first batch; everything below queues up
    futures = [batcher.submit(k, i) for i, k in enumerate("ababa", start=1)] + [batcher.submit("a", 6)]
    run.gate.set()
    assert first.result(60) == ("a", 0)
    assert [f.result(60) for f in futures] == [("a", 10), ("b", 20), ("a", 30), ("b", 40), ("a", 50), ("a", 60)]
    batcher.close()
    assert run.batches == [("a", [0]), ("a", [1, 3, 5]), ("b", [2, 4]), ("a", [6])]


def test_max_batch_one_never_groups():
    run = Recorder()
    batcher = Batcher(run, max_batch=1, max_wait=600.0)  # a full batch never waits: no 10-minute hang here
    first = batcher.submit("a", 0)
    run.started.wait(60)
    futures = [batcher.submit("a", i) for i in (1, 2)]
    run.gate.set()
    assert [f.result(60) for f in [first, *futures]] == [("a", 0), ("a", 10), ("a", 20)]
    batcher.close()
    assert [items for _, items in run.batches] == [[0], [1], [2]]


def test_a_full_batch_does_not_wait_and_a_lone_item_waits_only_max_wait():
    run = Recorder()
    run.gate.set()
    batcher = Batcher(run, max_batch=2, max_wait=600.0)  # a full batch must not wait these 10 minutes
    assert [f.result(60) for f in (batcher.submit("a", 1), batcher.submit("a", 2))] == [("a", 10), ("a", 20)]
    lone = Batcher(run, max_batch=8, max_wait=0.05)
    assert lone.submit("c", 3).result(60) == ("c", 30)
    batcher.close()
    lone.close()


def test_a_failing_batch_fails_its_callers_only_and_the_worker_lives_on():
    run = Recorder()
    run.gate.set()
    batcher = Batcher(run, max_batch=4, max_wait=0.0)
    with pytest.raises(ValueError, match="this batch fails"):
        batcher.submit("boom", 1).result(60)
    assert batcher.submit("a", 2).result(60) == ("a", 20)
    batcher.close()


def test_close_runs_what_is_queued_and_refuses_more():
    run = Recorder()
    batcher = Batcher(run, max_batch=8, max_wait=600.0)
    futures = [batcher.submit("a", i) for i in range(3)]
    run.gate.set()
    batcher.close(timeout=60)  # does not wait out max_wait: the queued items are run at once
    assert [f.result(0) for f in futures] == [("a", 0), ("a", 10), ("a", 20)]
    with pytest.raises(RuntimeError, match="closed"):
        batcher.submit("a", 9)


def test_a_cancelled_item_is_not_run():
    run = Recorder()
    batcher = Batcher(run, max_batch=8, max_wait=0.0)
    first = batcher.submit("a", 0)
    run.started.wait(60)
    gone, kept = batcher.submit("a", 1), batcher.submit("a", 2)
    assert gone.cancel()
    run.gate.set()
    assert kept.result(60) == ("a", 20) and first.result(60) == ("a", 0)
    batcher.close()
    assert run.batches == [("a", [0]), ("a", [2])]


def test_batch_sizes_are_reported():
    sizes = []
    run = Recorder()
    batcher = Batcher(run, max_batch=2, max_wait=0.0, on_batch=sizes.append)
    first = batcher.submit("a", 0)
    run.started.wait(60)
    rest = [batcher.submit("a", i) for i in range(1, 4)]
    run.gate.set()
    [f.result(60) for f in [first, *rest]]
    batcher.close()
    assert sizes == [1, 2, 1]


@pytest.mark.parametrize("kwargs", [{"max_batch": 0}, {"max_wait": -1.0}])
def test_bad_settings(kwargs):
    with pytest.raises(ValueError):
        Batcher(lambda key, items: items, **kwargs)
