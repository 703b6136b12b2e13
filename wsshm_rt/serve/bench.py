"""Throughput of ``wsshm-rt serve``: requests/s at several concurrencies, against servers with different
``--max-batch`` (a benchmark, not a test).

    python -m wsshm_rt.serve.bench --max-batch 8,1 --concurrency 1,4,16 --repeats 3

Each server runs in its own process on 127.0.0.1; each client thread keeps one HTTP connection and sends the same
JPEG (the bundled portrait at --size) with POST /v1/matte?output=alpha. The figure is the median of the repeats;
the servers take turns, so that a change in the machine's load over time falls on each alike.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import subprocess
import sys
import threading
import time


def _photo_jpeg(size: str) -> bytes:
    import cv2

    from ..matter import ASSETS

    width, height = (int(v) for v in size.lower().split("x"))
    bgr = cv2.resize(cv2.imread(str(ASSETS / "astronaut.jpg")), (width, height), interpolation=cv2.INTER_AREA)
    return cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()


def _start(port: int, max_batch: int, flags: list[str]) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "wsshm_rt", "serve", "--port", str(port), "--max-batch", str(max_batch), *flags]
    process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"the server on port {port} did not start")


def _client(port: int, body: bytes, query: str, count: int, failures: list) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    for _ in range(count):
        conn.request("POST", f"/v1/matte?{query}", body=body, headers={"Content-Type": "image/jpeg"})
        res = conn.getresponse()
        res.read()
        if res.status != 200:
            failures.append(res.status)
    conn.close()


def requests_per_second(port: int, body: bytes, query: str, concurrency: int, per_client: int) -> float:
    """Wall-clock throughput of ``concurrency`` clients sending ``per_client`` requests each."""
    failures: list = []
    threads = [threading.Thread(target=_client, args=(port, body, query, per_client, failures))
               for _ in range(concurrency)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"{len(failures)} requests failed: {failures[:5]}")
    return concurrency * per_client / seconds


def bench(max_batches, concurrencies, repeats: int, requests: int, size: str, query: str, flags) -> list[dict]:
    """Every server runs for the whole benchmark and the measurements take turns (server A, B, A, B, ...), so a
    change in the machine's load over time touches every server alike."""
    body = _photo_jpeg(size)
    ports = {b: 18700 + i for i, b in enumerate(max_batches)}
    processes = [_start(port, b, flags) for b, port in ports.items()]
    try:
        for port in ports.values():
            requests_per_second(port, body, query, 2, 2)  # warm-up: the first calls allocate
        runs = {(b, c): [] for c in concurrencies for b in max_batches}
        for c in concurrencies:
            for _ in range(repeats):
                for b, port in ports.items():
                    runs[b, c].append(requests_per_second(port, body, query, c, max(1, requests // c)))
                    print(json.dumps({"max_batch": b, "concurrency": c, "rps": runs[b, c][-1]}), file=sys.stderr,
                          flush=True)
    finally:
        for process in processes:
            process.terminate()
            process.wait(60)
    return [{"max_batch": b, "concurrency": c, "median_rps": statistics.median(r), "runs": [round(x, 3) for x in r]}
            for (b, c), r in runs.items()]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--max-batch", default="8,1", help="servers to compare, by --max-batch")
    ap.add_argument("--concurrency", default="1,4,16")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--requests", type=int, default=32, help="requests per measurement (split over the clients)")
    ap.add_argument("--size", default="640x480", help="the photo's WIDTHxHEIGHT")
    ap.add_argument("--query", default="output=alpha", help="the /v1/matte query, e.g. 'output=alpha&tta=none'")
    ap.add_argument("--server-flags", default="--max-wait-ms 10", help="more `wsshm-rt serve` flags")
    args = ap.parse_args(argv)
    rows = bench([int(b) for b in args.max_batch.split(",")], [int(c) for c in args.concurrency.split(",")],
                 args.repeats, args.requests, args.size, args.query, args.server_flags.split())
    print("| max-batch | concurrency | requests/s (median) | runs |\n|---|---|---|---|")
    for r in rows:
        print(f"| {r['max_batch']} | {r['concurrency']} | {r['median_rps']:.2f} | {r['runs']} |")


if __name__ == "__main__":
    main()
