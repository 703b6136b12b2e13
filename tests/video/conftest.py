"""The video tests' fixtures and helpers. Everything runs on short generated clips (12-16 frames at 96x128 with a
sine-tone track) and an untrained r18-0.5 at a 64 px short side: the tests check plumbing, not matte quality.
"""

from __future__ import annotations

import pytest

av = pytest.importorskip("av")

from wsshm_rt.bench.synth_clip import moving_ellipse, write_clip  # noqa: E402

FRAMES = 12


@pytest.fixture(scope="session")
def video_model(tmp_path_factory):
    from wsshm_rt.export.api import export_onnx_file

    return export_onnx_file(tmp_path_factory.mktemp("video-model") / "r18-0.5.onnx", model="r18-0.5")


@pytest.fixture(scope="session")
def matter(video_model):
    from wsshm_rt.matter import Matter

    return Matter(video_model, short_side=64)


@pytest.fixture(scope="session")
def clips(tmp_path_factory):
    """The same 12-frame clip as .mp4 (H.264 + AAC) and .mkv (streamable, for truncation)."""
    folder = tmp_path_factory.mktemp("clips")
    frames, _ = moving_ellipse(FRAMES, 96, 128)
    for suffix in (".mp4", ".mkv"):
        write_clip(folder / f"clip{suffix}", frames)
    return folder


def decode(path, decoder: str | None = None):
    """All video frames of ``path`` (optionally through a named decoder), and the container's audio streams."""
    with av.open(str(path)) as c:
        audio = [(s.codec_context.name, _duration(c, s)) for s in c.streams.audio]
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        if decoder is None:
            return list(c.decode(stream)), audio
        ctx = av.codec.CodecContext.create(decoder, "r")
        frames = [f for p in c.demux(stream) if p.size for f in ctx.decode(p)]
        return frames, audio


def _duration(container, stream) -> float:
    """Seconds from the first to the end of the last packet of ``stream``."""
    packets = [p for p in container.demux(stream) if p.pts is not None]
    return float((packets[-1].pts + packets[-1].duration - packets[0].pts) * stream.time_base)


def no_temp_files(folder) -> bool:
    return not [p for p in folder.iterdir() if ".tmp" in p.name]
