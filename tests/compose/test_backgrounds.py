"""Parsing a background spec: colours, 'blur[:radius]', images and paths; every mistake one sentence."""

import numpy as np
import pytest

from wsshm_rt import compose as C
from wsshm_rt.errors import WsshmError
from wsshm_rt.images import save_image

from .conftest import random_image


@pytest.mark.parametrize("spec, rgb", [("#00ff00", (0, 255, 0)), ("#0F0", (0, 255, 0)), ("green", (0, 255, 0)),
                                       (" Gray ", (128, 128, 128)), ("10, 20,30", (10, 20, 30)),
                                       ((1, 2, 3), (1, 2, 3))])
def test_parse_background_colours(spec, rgb):
    bg = C.parse_background(spec)
    assert bg.kind == "color" and bg.rgb == rgb


def test_parse_background_blur_image_and_path(tmp_path):
    assert C.parse_background("blur") == C.Background("blur", radius=None)
    assert C.parse_background("blur:25").radius == 25.0
    image = random_image(12, 20)
    assert C.parse_background(image).image.shape == (12, 20, 3)
    path = tmp_path / "bg.png"
    save_image(path, image)
    for spec in (str(path), path):
        bg = C.parse_background(spec)
        assert bg.kind == "image" and np.array_equal(bg.image, image)
    assert C.parse_background(bg) is bg


@pytest.mark.parametrize("spec", ["notacolour", "#12", "#gg0000", "1,2,300", "1,2,x", "blur:-3", "blur:x",
                                  "missing_dir/missing.png", (1, 2, 256), 3.5])
def test_parse_background_errors_are_one_sentence(spec):
    with pytest.raises(WsshmError) as info:
        C.parse_background(spec)
    assert "\n" not in str(info.value) and len(str(info.value)) > 10
