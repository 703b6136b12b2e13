"""Arguments at the public surface: a wrong one is a WsshmError (a ValueError or TypeError too) raised at the call,
one sentence that names the argument; never a pybind TypeError, an OverflowError or an AttributeError from deep
inside."""

from __future__ import annotations

import math

import numpy as np
import pytest

from wsshm_rt import Matter
from wsshm_rt.errors import WsshmError

from .conftest import api_error, portrait

BAD_MATTER_ARGS = [
    ("short_side", float("nan"), TypeError), ("short_side", math.inf, TypeError), ("short_side", "512", TypeError),
    ("short_side", 2.5, TypeError), ("short_side", True, TypeError), ("short_side", 0, ValueError),
    ("short_side", -1, ValueError), ("short_side", 31, ValueError), ("short_side", 10**9, ValueError),
    ("threads", "2", TypeError), ("threads", 2.5, TypeError), ("threads", 0, ValueError), ("threads", -4, ValueError),
    ("max_long_side", 0, ValueError), ("max_long_side", "big", TypeError), ("max_long_side", 10**7, ValueError),
    ("engine", None, ValueError), ("engine", "tflite", ValueError), ("device", "gpu", ValueError),
    ("precision", "int4", ValueError), ("refine", "sharp", ValueError), ("tta", "rotate", ValueError),
    ("tta", None, ValueError), ("model", 123, TypeError), ("model", "", ValueError), ("model", "  ", ValueError),
]


@pytest.mark.parametrize("name, value, kind", BAD_MATTER_ARGS, ids=[f"{n}={v!r}" for n, v, _ in BAD_MATTER_ARGS])
def test_bad_matter_arguments(name, value, kind):
    with pytest.raises(WsshmError) as info:
        Matter(**{name: value})
    assert isinstance(info.value, kind), type(info.value)
    api_error(info, "model" if name == "model" else name)


def test_good_arguments_of_other_types_are_taken():
    matter = Matter(short_side=np.int64(64), threads=np.int32(1), tta="none")
    assert matter.short_side == 64 and isinstance(matter.short_side, int)


BAD_CALLS = {
    "channels=None": (lambda m: m.predict(portrait(), channels=None), TypeError, "channels"),
    "channels=RGBA": (lambda m: m.predict(portrait(), channels="RGBA"), ValueError, "channels"),
    "channels=3": (lambda m: m.predict(portrait(), channels=3), TypeError, "channels"),
    "refine=x": (lambda m: m.predict(portrait(), refine="x"), ValueError, "refine"),
    "tta=flip+rotate": (lambda m: m.predict(portrait(), tta="flip+rotate"), ValueError, "tta"),
    "predict_batch(None)": (lambda m: m.predict_batch(None), TypeError, "images"),
    "predict_batch(5)": (lambda m: m.predict_batch(5), TypeError, "images"),
    "predict_batch('a.jpg')": (lambda m: m.predict_batch("a.jpg"), TypeError, "images"),
    "predict_batch(b'...')": (lambda m: m.predict_batch(b"\x89PNG"), TypeError, "images"),
    "predict_batch(one array)": (lambda m: m.predict_batch(portrait()), TypeError, "images"),
    "predict_batch([None])": (lambda m: m.predict_batch([portrait(), None]), TypeError, "images[1]"),
    "stream(strength=nan)": (lambda m: m.stream(strength=float("nan")), ValueError, "strength"),
    "stream(strength=1)": (lambda m: m.stream(strength=1.0), ValueError, "strength"),
    "stream(strength='0.5')": (lambda m: m.stream(strength="0.5"), TypeError, "strength"),
    "cutout(None)": (lambda m: m.cutout(None), TypeError, "image"),
    "replace_background(bg=None)": (lambda m: m.replace_background(portrait(), None), WsshmError, "background"),
    "replace_background(bg=#zz)": (lambda m: m.replace_background(portrait(), "#zzzzzz"), WsshmError, "#zzzzzz"),
    "replace_background(bg=(300,0,0))": (lambda m: m.replace_background(portrait(), (300, 0, 0)), WsshmError,
                                         "between 0 and 255"),
    "replace_background(bg=blur:nan)": (lambda m: m.replace_background(portrait(), "blur:nan"), WsshmError,
                                        "blur radius"),
    "cutout_rgba(NaN alpha)": (lambda m: _compose().cutout_rgba(portrait(), np.full((72, 56), np.nan, np.float32)),
                               WsshmError, "NaN"),
    "cutout_rgba(alpha of another size)": (lambda m: _compose().cutout_rgba(portrait(), np.zeros((9, 9))),
                                           WsshmError, "must match"),
    "matte_video(matter=None)": (lambda m: _video().matte_video("in.mp4", "out.mp4", None), TypeError, "matter"),
}


def _compose():
    from wsshm_rt import compose

    return compose


def _video():
    from wsshm_rt import video

    return video


@pytest.mark.parametrize("name", list(BAD_CALLS))
def test_bad_call_arguments(name, matter):
    call, kind, needle = BAD_CALLS[name]
    with pytest.raises(WsshmError) as info:
        call(matter)
    assert isinstance(info.value, kind), type(info.value)
    api_error(info, needle)


def test_edge_calls_that_are_fine(matter):
    assert matter.predict_batch([]) == []
    alphas = matter.predict_batch(iter([portrait(), portrait(40, 30)]))  # any iterable of images
    assert [a.shape for a in alphas] == [(72, 56), (40, 30)]
    batch = np.stack([portrait(), portrait(seed=1)])  # a 4-d array is a batch of images
    assert [a.shape for a in matter.predict_batch(batch)] == [(72, 56), (72, 56)]
    stream = matter.stream(strength=0)
    assert stream(portrait()).shape == (72, 56)
