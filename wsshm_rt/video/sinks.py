"""Frame sinks for the video pipeline: a video file (with the input's audio carried over) or a PNG sequence. Sinks
take uint8 RGB or RGBA. A sink writes to a temporary name in the output's folder and renames it at ``close()``, so an
interrupted run never leaves a half-written file under the real name.

Alpha video, as supported by PyAV 18's bundled FFmpeg (checked by tests/video/test_sinks.py):
  .webm  VP9 yuva420p (libvpx-vp9). Alpha is stored as a side channel: players and FFmpeg's own vp9 decoder
         show only the colour; ``sources.VideoFileSource`` decodes .webm with libvpx-vp9 so the alpha is read back.
  .mov   ProRes 4444 (prores_ks, yuva444p10le): large files, alpha read by every editor.
  .mkv   FFV1 yuva420p: lossless, alpha decoded by FFmpeg's native decoder.
  a folder  RGBA PNG sequence frame_000000.png, ...
"""

from __future__ import annotations

import contextlib
import os
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import WriteError, WsshmError, require
from ..files import ensure_writable
from ..images import save_image

# suffix -> (FFmpeg muxer, video codec and pixel format without alpha, with alpha or None, audio codec to encode)
CONTAINERS = {
    ".mp4": ("mp4", ("libx264", "yuv420p"), None, "aac"),
    ".m4v": ("mp4", ("libx264", "yuv420p"), None, "aac"),
    ".mov": ("mov", ("libx264", "yuv420p"), ("prores_ks", "yuva444p10le"), "aac"),
    ".mkv": ("matroska", ("libx264", "yuv420p"), ("ffv1", "yuva420p"), "aac"),
    ".webm": ("webm", ("libvpx-vp9", "yuv420p"), ("libvpx-vp9", "yuva420p"), "libopus"),
    ".avi": ("avi", ("mpeg4", "yuv420p"), None, "mp3"),
}


def _av():
    return require("av", "video")


def check_output(path, alpha: bool, source=None) -> str:
    """'folder' (PNG sequence) or 'video' for an output path; raise a WsshmError for unsupported ones.

    Called before any work is done, so that a bad output fails in a second, not after the whole video.
    """
    path = Path(path)
    if source is not None and _same_path(path, source):
        # The output replaces its name only when it is finished, so the input would be silently lost.
        raise WsshmError(f"the output {path} is the input; write the result to another path")
    suffix = path.suffix.lower()
    if path.is_dir() or not suffix:
        return "folder"
    if suffix not in CONTAINERS:
        raise WsshmError(f"unsupported output type {suffix!r}; use {', '.join(CONTAINERS)} or a folder for PNG frames")
    if alpha and CONTAINERS[suffix][2] is None:
        raise WsshmError(f"{suffix} video cannot hold an alpha channel; "
                         "use .webm, .mov, .mkv or a folder for RGBA PNGs")
    if not path.parent.exists():
        raise WsshmError(f"the output folder {path.parent} does not exist")
    ensure_writable(path.parent)
    return "video"


def _same_path(path: Path, source) -> bool:
    src = Path(str(source))
    return path.exists() and src.exists() and os.path.samefile(path, src)


class VideoFileSink:
    """Encode frames into a video file with PyAV, carrying over the audio of ``audio_from`` if it has any.

    Frames are written at ``fps`` (pts = round(t * fps)); timestamps that would not increase are bumped by one.
    """

    def __init__(self, path, fps: Fraction, size: tuple[int, int], alpha: bool = False, audio_from=None):
        av = _av()
        self.path = Path(path)
        muxer, plain, with_alpha, self._audio_codec = CONTAINERS[self.path.suffix.lower()]
        codec, pix_fmt = with_alpha if alpha else plain
        self._tmp = self.path.with_name(f".{self.path.name}.tmp{os.getpid()}")
        self._container = av.open(str(self._tmp), "w", format=muxer)
        self.fps = Fraction(fps).limit_denominator(1001)
        self._stream = self._container.add_stream(codec, rate=self.fps)
        self._even = pix_fmt in ("yuv420p", "yuva420p")  # 4:2:0 needs even sides
        width, height = size
        self._stream.width, self._stream.height = (width + width % 2, height + height % 2) if self._even else size
        self._stream.pix_fmt = pix_fmt
        # The muxer may change the stream's time base once it starts; frames are timed in this one throughout.
        self._time_base = Fraction(1) / self.fps
        self._stream.time_base = self._time_base
        if codec == "libx264":
            self._stream.options = {"crf": "18", "preset": "veryfast"}
        elif codec == "libvpx-vp9":
            self._stream.options = {"crf": "30", "b": "0", "deadline": "realtime", "cpu-used": "8", "row-mt": "1"}
        elif codec == "prores_ks":
            self._stream.options = {"profile": "4444"}
        self._format = "rgba" if alpha else "rgb24"
        try:
            self._audio = _AudioCarrier(self._container, audio_from, self._audio_codec) if audio_from else None
        except BaseException:
            self._audio = None
            self.abort()
            raise
        self._last_pts, self.frames = -1, 0

    def write(self, image: np.ndarray, t: float) -> None:
        """image: uint8 RGB or RGBA Shape(H, W, 3|4) (matching ``alpha``); t: its time in seconds."""
        with self._io_errors():
            self._write(image, t)

    def _write(self, image: np.ndarray, t: float) -> None:
        av = _av()
        pts = max(round(t * self.fps), self._last_pts + 1)
        frame = av.VideoFrame.from_ndarray(self._pad_even(image), format=self._format)
        frame.pts, frame.time_base = pts, self._time_base
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        self._last_pts, self.frames = pts, self.frames + 1
        if self._audio:
            self._audio.advance(pts / self.fps)

    def _pad_even(self, image: np.ndarray) -> np.ndarray:
        if not self._even or (image.shape[0] % 2 == 0 and image.shape[1] % 2 == 0):
            return image
        import cv2

        return cv2.copyMakeBorder(image, 0, image.shape[0] % 2, 0, image.shape[1] % 2, cv2.BORDER_REPLICATE)

    def close(self) -> None:
        """Flush the encoder, finish the audio up to the video's end, and move the file to its real name."""
        with self._io_errors():
            self._close()

    def _close(self) -> None:
        for packet in self._stream.encode():
            self._container.mux(packet)
        if self._audio:
            self._audio.finish((self._last_pts + 1) / self.fps)
        self._container.close()
        os.replace(self._tmp, self.path)

    @contextlib.contextmanager
    def _io_errors(self):
        """A full disk or a vanished folder is the user's to fix: one sentence, not a traceback."""
        av = _av()
        try:
            yield
        except (OSError, av.error.FFmpegError) as exc:
            raise WriteError(f"cannot write {self.path} ({getattr(exc, 'strerror', None) or exc})") from None

    def abort(self) -> None:
        """Drop the partial output (used when nothing valid was produced)."""
        if self._audio:
            self._audio.close()
        try:
            self._container.close()
        except Exception:  # the container may be unusable after an encoder error; removing the file is what matters
            pass
        self._tmp.unlink(missing_ok=True)


class _AudioCarrier:
    """Copy the first audio stream of a file into an output container, interleaved with the video.

    The packets are copied (no re-encoding) when the output container accepts the codec, else transcoded.
    Audio past the end of the video (e.g. of a truncated input) is dropped.
    """

    def __init__(self, container, source_path, codec: str):
        av = _av()
        self._input = av.open(str(source_path))
        try:
            self._open(av, container, codec)
        except BaseException:
            self._input.close()
            raise

    def _open(self, av, container, codec: str) -> None:
        self._in = self._input.streams.audio[0]
        name = self._in.codec_context.name if self._in.codec_context else None
        self._copy = name is not None and name in container.supported_codecs and name in _COPYABLE.get(
            container.format.name.split(",")[0], ())
        if self._copy:
            self._out = container.add_stream_from_template(self._in)
        else:
            rate = self._in.codec_context.sample_rate if self._in.codec_context else 48000
            self._out = container.add_stream(codec, rate=48000 if codec == "libopus" else rate)
        self._container = container
        self._packets = self._input.demux(self._in)
        self._done = False

    def advance(self, until: Fraction | float) -> None:
        """Write the audio up to ``until`` seconds."""
        av = _av()
        while not self._done:
            try:
                packet = next(self._packets)
            except (StopIteration, av.error.FFmpegError):
                self._done = True
                break
            if packet.dts is None and packet.size == 0:
                continue
            self._write(packet)
            if packet.pts is not None and packet.pts * packet.time_base >= until:
                break

    def _write(self, packet) -> None:
        if self._copy:
            packet.stream = self._out
            self._container.mux(packet)
            return
        for frame in self._in.codec_context.decode(packet):
            frame.pts = None
            for out in self._out.encode(frame):
                self._container.mux(out)

    def finish(self, end: Fraction | float) -> None:
        try:
            self.advance(end)
            if not self._copy:
                for out in self._out.encode():
                    self._container.mux(out)
        finally:
            self.close()

    def close(self) -> None:
        """Close the input file (again: a no-op)."""
        self._input.close()


# Audio codecs each muxer takes as they are (others are transcoded to the container's audio codec).
_COPYABLE = {
    "mp4": ("aac", "mp3", "alac", "ac3"),
    "mov": ("aac", "mp3", "alac", "ac3", "pcm_s16le", "pcm_s24le"),
    "matroska": ("aac", "mp3", "opus", "vorbis", "flac", "ac3", "pcm_s16le"),
    "webm": ("opus", "vorbis"),
    "avi": ("mp3", "ac3", "pcm_s16le"),
}


class PngSequenceSink:
    """Write frames as frame_000000.png, frame_000001.png, ... (RGB or RGBA) into a folder, each file atomically."""

    def __init__(self, folder):
        self.path = Path(folder)
        self._created = not self.path.exists()
        ensure_writable(self.path)
        self.frames = 0

    def write(self, image: np.ndarray, t: float) -> None:
        path = self.path / f"frame_{self.frames:06d}.png"
        try:
            save_image(path, image)
        except OSError as exc:
            raise WsshmError(f"cannot write {path} ({exc.strerror or exc})") from None
        self.frames += 1

    def close(self) -> None:
        pass

    def abort(self) -> None:
        """Frames already written are whole files and stay; a folder made for nothing is removed."""
        if self._created and self.frames == 0:
            with contextlib.suppress(OSError):
                self.path.rmdir()


def open_sink(path, fps: Fraction, size: tuple[int, int], alpha: bool = False, audio_from=None):
    """A PNG-sequence sink for a folder (or a path without suffix), else a video file sink."""
    if check_output(path, alpha) == "folder":
        return PngSequenceSink(path)
    return VideoFileSink(path, fps, size, alpha, audio_from)
