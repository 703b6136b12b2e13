"""The server's counters, in the Prometheus text format (version 0.0.4), with no client library.

Each uvicorn worker process keeps its own: with ``--workers N`` a scrape sees the worker that answered it.
"""

from __future__ import annotations

import threading
from bisect import bisect_left

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64)


class Histogram:
    """Counts per upper bound (cumulative when written), their sum and count."""

    def __init__(self, buckets):
        self.buckets = tuple(buckets)
        self.counts = [0] * (len(self.buckets) + 1)  # the last one is +Inf
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.buckets, value)] += 1
        self.sum += value

    def lines(self, name: str) -> list[str]:
        out, total = [], 0
        for bound, count in zip((*map(_number, self.buckets), "+Inf"), self.counts):
            total += count
            out.append(f'{name}_bucket{{le="{bound}"}} {total}')
        return out + [f"{name}_sum {_number(self.sum)}", f"{name}_count {total}"]


class Metrics:
    """Thread-safe: the event loop and the batcher's thread both report here."""

    def __init__(self):
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, int], int] = {}   # (endpoint, status code) -> count
        self.errors: dict[str, int] = {}                 # error kind -> count
        self.latency = Histogram(LATENCY_BUCKETS)
        self.batch_sizes = Histogram(BATCH_BUCKETS)
        self.in_flight = 0
        self.live_frames = 0
        self.live_sessions = 0

    def add(self, counter: str, delta: int = 1) -> None:
        """in_flight, live_frames or live_sessions += delta."""
        with self._lock:
            setattr(self, counter, getattr(self, counter) + delta)

    def request_done(self, endpoint: str, status: int, seconds: float) -> None:
        with self._lock:
            self.requests[endpoint, status] = self.requests.get((endpoint, status), 0) + 1
            self.latency.observe(seconds)

    def error(self, kind: str) -> None:
        with self._lock:
            self.errors[kind] = self.errors.get(kind, 0) + 1

    def batch(self, size: int) -> None:
        with self._lock:
            self.batch_sizes.observe(size)

    def text(self) -> str:
        with self._lock:
            lines = _family("wsshm_requests_total", "counter", "Requests answered, by endpoint and status code.")
            lines += [f'wsshm_requests_total{{endpoint="{e}",code="{c}"}} {n}'
                      for (e, c), n in sorted(self.requests.items())]
            lines += _family("wsshm_errors_total", "counter", "Requests refused or failed, by kind of error.")
            lines += [f'wsshm_errors_total{{kind="{k}"}} {n}' for k, n in sorted(self.errors.items())]
            lines += _family("wsshm_request_seconds", "histogram", "Time to answer a matting request.")
            lines += self.latency.lines("wsshm_request_seconds")
            lines += _family("wsshm_batch_size", "histogram", "Images per engine batch (requests and live frames).")
            lines += self.batch_sizes.lines("wsshm_batch_size")
            lines += _family("wsshm_requests_in_flight", "gauge", "Matting requests being answered now.")
            lines.append(f"wsshm_requests_in_flight {self.in_flight}")
            lines += _family("wsshm_live_sessions", "gauge", "Open live (WebSocket) sessions.")
            lines.append(f"wsshm_live_sessions {self.live_sessions}")
            lines += _family("wsshm_live_frames_total", "counter", "Live frames answered.")
            lines.append(f"wsshm_live_frames_total {self.live_frames}")
        return "\n".join(lines) + "\n"


def _family(name: str, kind: str, help_text: str) -> list[str]:
    return [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]


def _number(x: float) -> str:
    return repr(float(x)) if isinstance(x, float) else str(x)
