"""``wsshm-rt serve`` over real HTTP: answers, limits, errors, metrics. Issue 29's bars."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest

from wsshm_rt.compose import alpha_to_uint8, replace_background

from .conftest import decode_png, encode, error_of, multipart, photo, running


@pytest.fixture(scope="module")
def expected_alpha():
    """What the library itself gives the JPEG the tests send (the server runs the same model, tta none)."""
    from wsshm_rt.matter import Matter

    jpeg = encode(photo())
    rgb = cv2.cvtColor(cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    return jpeg, rgb, Matter(tta="none").predict(rgb)


def test_healthz(server):
    status, kind, body = server.request("GET", "/healthz")
    assert status == 200 and kind == "application/json"
    assert json.loads(body)["model"] == "wsshm-r18-0.5.onnx"


def test_alpha_of_a_raw_jpeg_is_the_library_alpha_at_the_photo_size(server, expected_alpha):
    jpeg, rgb, alpha = expected_alpha
    status, kind, body = server.matte(jpeg, "output=alpha", headers={"Content-Type": "image/jpeg"})
    assert status == 200 and kind == "image/png"
    got = decode_png(body)
    assert got.shape == rgb.shape[:2]
    assert np.abs(got.astype(int) - alpha_to_uint8(alpha)).max() <= 1


def test_rgba_from_a_multipart_upload_is_the_default(server, expected_alpha):
    jpeg, rgb, alpha = expected_alpha
    body, headers = multipart({"image": ("me.jpg", jpeg)})
    status, kind, answer = server.matte(body, headers=headers)
    assert status == 200 and kind == "image/png"
    rgba = decode_png(answer)
    assert rgba.shape == (*rgb.shape[:2], 4)
    assert np.abs(rgba[..., 3].astype(int) - alpha_to_uint8(alpha)).max() <= 1


def test_composite_over_a_colour_and_over_an_uploaded_image(server, expected_alpha):
    jpeg, rgb, alpha = expected_alpha
    status, _, answer = server.matte(jpeg, "output=composite&background=%2300ff00")
    assert status == 200
    want = replace_background(rgb, alpha, "#00ff00")
    assert np.abs(decode_png(answer).astype(int) - want).max() <= 2
    backdrop = np.zeros((50, 60, 3), np.uint8)
    backdrop[..., 2] = 255
    body, headers = multipart({"image": ("me.jpg", jpeg), "background": ("bg.png", encode(backdrop, ".png"))})
    status, _, answer = server.matte(body, "output=composite", headers=headers)
    assert status == 200
    assert np.abs(decode_png(answer).astype(int) - replace_background(rgb, alpha, backdrop)).max() <= 2


def test_sixteen_concurrent_requests_all_answer(server, expected_alpha):
    jpeg, rgb, alpha = expected_alpha
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda _: server.matte(jpeg, "output=alpha"), range(16)))
    assert [a[0] for a in answers] == [200] * 16
    for _, _, body in answers:
        assert np.abs(decode_png(body).astype(int) - alpha_to_uint8(alpha)).max() <= 1


@pytest.mark.parametrize("query, body, status, words", [
    ("", b"this is not an image", 415, "not a readable image"),
    ("", b"", 400, "empty"),
    ("output=mask", None, 400, "output must be alpha, rgba or composite"),
    ("tta=lots", None, 400, "tta must be"),
    ("refine=sharp", None, 400, "refine must be"),
    ("output=composite", None, 400, "needs a background"),
    ("output=composite&background=/etc/passwd", None, 400, "multipart field 'background'"),
    ("output=composite&background=%23zz0000", None, 400, "not a hex colour"),
])
def test_bad_input_is_a_4xx_with_one_sentence(server, expected_alpha, query, body, status, words):
    got, kind, answer = server.matte(expected_alpha[0] if body is None else body, query)
    assert (got, kind) == (status, "application/json")
    assert words in error_of(answer)


def test_too_many_bytes_is_413_whether_the_length_is_said_or_not(server):
    big = bytes(2_000_001)
    for chunked in (False, True):
        status, _, answer = server.matte(big, chunked=chunked)
        assert status == 413
        assert "--max-bytes" in error_of(answer)


def test_too_many_pixels_is_413_before_decoding(server):
    wide = encode(np.zeros((1000, 1001, 3), np.uint8), ".png")  # a few kB that decode to 1001000 pixels
    status, _, answer = server.matte(wide)
    assert status == 413
    assert "1001x1000" in error_of(answer) and "--max-pixels" in error_of(answer)


def _png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height but which holds almost no pixel data (a decompression bomb's
    shape: refused from the header, it is never decoded)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + chunk(b"IEND", b""))


def test_a_huge_image_is_refused_from_its_header(server):
    status, _, answer = server.matte(_png_claiming(9000, 9000))
    assert status == 413 and "9000x9000" in error_of(answer)  # not "corrupt": it was never decoded
    status, _, answer = server.matte(_png_claiming(30000, 30000))  # beyond Pillow's own bomb limit
    assert status == 413 and "--max-pixels" in error_of(answer)


def test_multipart_without_an_image_field(server):
    body, headers = multipart({"photo": ("me.jpg", b"x"), "image2": "text"})
    status, _, answer = server.matte(body, headers=headers)
    assert status == 400 and "no field named 'image'" in error_of(answer)
    body, headers = multipart({"image": "just text"})
    status, _, answer = server.matte(body, headers=headers)
    assert status == 400 and "must be a file" in error_of(answer)


def test_metrics_count_requests_errors_latency_and_batches(server, expected_alpha):
    before = server.metrics()
    assert server.matte(expected_alpha[0], "output=alpha")[0] == 200
    assert server.matte(b"nope")[0] == 415
    after = server.metrics()

    def grew(name):
        return after.get(name, 0) - before.get(name, 0)

    assert grew('wsshm_requests_total{endpoint="/v1/matte",code="200"}') == 1
    assert grew('wsshm_requests_total{endpoint="/v1/matte",code="415"}') == 1
    assert grew('wsshm_errors_total{kind="not_an_image"}') == 1
    assert grew("wsshm_request_seconds_count") == 2
    assert grew('wsshm_request_seconds_bucket{le="+Inf"}') == 2
    assert grew("wsshm_batch_size_count") == 1 and grew("wsshm_batch_size_sum") == 1
    assert after["wsshm_requests_in_flight"] == 0


@pytest.mark.parametrize("method, path, status, allow, words", [
    ("GET", "/v1/matte", 405, "POST", "/v1/matte does not take GET; use POST"),
    ("DELETE", "/healthz", 405, "GET", "/healthz does not take DELETE; use GET"),
    ("GET", "/v2/matte", 404, None, "nothing at /v2/matte"),
    ("GET", "/static/no-such.js", 404, None, "nothing at /static/no-such.js"),
])
def test_errors_of_the_framework_are_one_sentence_too(server, method, path, status, allow, words):
    kind = "method_not_allowed" if status == 405 else "not_found"
    before = server.metrics().get(f'wsshm_errors_total{{kind="{kind}"}}', 0)
    got, headers, answer = server.exchange(method, path)
    assert (got, headers["content-type"]) == (status, "application/json")
    assert headers.get("allow") == allow  # a 405 still says which methods the path takes
    assert words in error_of(answer) and "detail" not in json.loads(answer)
    assert json.loads(answer)["kind"] == kind
    assert server.metrics()[f'wsshm_errors_total{{kind="{kind}"}}'] == before + 1


def test_docs_and_page(server):
    status, kind, body = server.request("GET", "/openapi.json")
    assert status == 200 and "/v1/matte" in json.loads(body)["paths"]
    assert server.request("GET", "/docs")[0] == 200
    status, kind, body = server.request("GET", "/")
    assert status == 200 and kind.startswith("text/html") and b"/static/app.js" in body
    assert server.request("GET", "/static/app.js")[0] == 200


def test_still_answers_after_all_that(server, expected_alpha):
    assert server.request("GET", "/healthz")[0] == 200
    assert server.matte(expected_alpha[0], "output=alpha")[0] == 200
    assert server.process.poll() is None


@pytest.mark.slow
def test_concurrent_requests_of_one_size_share_engine_calls(expected_alpha):
    """Batches form by size: 8 at once with a long wait make one batch of 8, not 8 of 1."""
    jpeg, rgb, alpha = expected_alpha
    other = encode(photo(120, 200))
    with running("--tta", "none", "--max-batch", "8", "--max-wait-ms", "3000") as server:
        with ThreadPoolExecutor(10) as pool:
            answers = list(pool.map(server.matte, [jpeg] * 8 + [other] * 2, ["output=alpha"] * 10))
        assert [a[0] for a in answers] == [200] * 10  # the 2 others waited (the 3 s) for more of their size
        metrics = server.metrics()
    assert metrics['wsshm_batch_size_bucket{le="2"}'] == 1  # the two of the other size, together
    assert metrics['wsshm_batch_size_bucket{le="8"}'] == 2 and metrics["wsshm_batch_size_sum"] == 10
    for body in answers[:8]:
        assert np.abs(decode_png(body[2]).astype(int) - alpha_to_uint8(alpha)).max() <= 1
