"""The Prometheus text the server writes: cumulative buckets, sums and counts, labels."""

from wsshm_rt.serve.metrics import Histogram, Metrics


def test_histogram_buckets_are_cumulative_with_inf():
    h = Histogram((1, 2, 4))
    for v in (1, 1, 3, 9):
        h.observe(v)
    assert h.lines("x") == ['x_bucket{le="1"} 2', 'x_bucket{le="2"} 2', 'x_bucket{le="4"} 3',
                            'x_bucket{le="+Inf"} 4', "x_sum 14.0", "x_count 4"]


def test_metrics_text():
    m = Metrics()
    m.request_done("/v1/matte", 200, 0.02)
    m.request_done("/v1/matte", 413, 0.001)
    m.error("too_large_bytes")
    m.batch(3)
    m.add("in_flight")
    text = m.text()
    assert text.endswith("\n")
    lines = text.splitlines()
    assert 'wsshm_requests_total{endpoint="/v1/matte",code="200"} 1' in lines
    assert 'wsshm_requests_total{endpoint="/v1/matte",code="413"} 1' in lines
    assert 'wsshm_errors_total{kind="too_large_bytes"} 1' in lines
    assert 'wsshm_request_seconds_bucket{le="0.01"} 1' in lines
    assert 'wsshm_request_seconds_bucket{le="0.025"} 2' in lines
    assert 'wsshm_batch_size_bucket{le="2"} 0' in lines and 'wsshm_batch_size_bucket{le="4"} 1' in lines
    assert "wsshm_requests_in_flight 1" in lines
    assert "# TYPE wsshm_request_seconds histogram" in lines
    for line in lines:  # every sample line is 'name{labels} value'
        if not line.startswith("#"):
            float(line.rsplit(" ", 1)[1])
