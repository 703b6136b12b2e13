"""The library hook the server batches by (Matter.network_shape), with the real bundled model."""

from __future__ import annotations

import numpy as np
import pytest

from wsshm_rt.matter import Matter
from wsshm_rt.serve.config import ServeConfig
from wsshm_rt.serve.metrics import Metrics
from wsshm_rt.serve.service import MatteService

from .conftest import photo


@pytest.fixture(scope="module")
def matter():
    m = Matter(tta="none")
    seen = []
    real = m.engine.run

    def recording(batch):  # the real engine, with each call's input shape written down
        seen.append(batch.shape)
        return real(batch)

    m.engine.run, m.seen = recording, seen
    return m


def test_network_shape_is_the_shape_the_engine_sees(matter):
    for h, w in ((180, 240), (240, 180), (97, 301), (600, 100)):
        matter.seen.clear()
        matter.predict(np.zeros((h, w, 3), np.uint8))
        assert matter.seen == [(1, 3, *matter.network_shape(h, w))]


def test_images_of_one_network_shape_share_one_engine_call(matter):
    a, b, c = photo(180, 240), photo(181, 240), photo(240, 180)
    assert matter.network_shape(180, 240) == matter.network_shape(181, 240) != matter.network_shape(240, 180)
    matter.seen.clear()
    alphas = matter.predict_batch([a, b, c])
    assert sorted(s[0] for s in matter.seen) == [1, 2]
    assert [x.shape for x in alphas] == [(180, 240), (181, 240), (240, 180)]


def test_service_matches_the_matter_alone():
    service = MatteService(ServeConfig(tta="none", max_batch=4, max_wait_ms=0), Metrics())
    try:
        rgb = photo()
        got = service.submit(rgb, "none", "guided").result(120)
        assert np.abs(got - Matter(tta="none").predict(rgb)).max() < 1e-5
    finally:
        service.close()
