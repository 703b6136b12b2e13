"""Frame sources (camera, video file, image folder) and sinks (video file, PNG sequence) for the video pipeline.

Sources yield ``Frame``s of uint8 RGB; sinks take uint8 RGB or RGBA. Video files go through PyAV (the
``video`` extra), cameras through cv2.VideoCapture. A sink writes to a temporary name in the output's folder
and renames it at ``close()``, so an interrupted run never leaves a half-written file under the real name.

Alpha video, as supported by PyAV 18's bundled FFmpeg (checked by tests/test_video.py):
  .webm  VP9 yuva420p (libvpx-vp9). Alpha is stored as a side channel: players and FFmpeg's own vp9 decoder
         show only the colour; ``VideoFileSource`` decodes .webm with libvpx-vp9 so the alpha is read back.
  .mov   ProRes 4444 (prores_ks, yuva444p10le): large files, alpha read by every editor.
  .mkv   FFV1 yuva420p: lossless, alpha decoded by FFmpeg's native decoder.
  a folder  RGBA PNG sequence frame_000000.png, ...
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from .errors import WriteError, WsshmError, require
from .image_bytes import check_pixels
from .images import ensure_writable, list_images, load_image, quiet_opencv, save_image

log = logging.getLogger("wsshm_rt")

DEFAULT_FPS = Fraction(25)
MIN_FPS, MAX_FPS = 0.1, 1000.0  # a frame rate a folder of frames may be given
# suffix -> (FFmpeg muxer, video codec and pixel format without alpha, with alpha or None, audio codec to encode)
CONTAINERS = {
    ".mp4": ("mp4", ("libx264", "yuv420p"), None, "aac"),
    ".m4v": ("mp4", ("libx264", "yuv420p"), None, "aac"),
    ".mov": ("mov", ("libx264", "yuv420p"), ("prores_ks", "yuva444p10le"), "aac"),
    ".mkv": ("matroska", ("libx264", "yuv420p"), ("ffv1", "yuva420p"), "aac"),
    ".webm": ("webm", ("libvpx-vp9", "yuv420p"), ("libvpx-vp9", "yuva420p"), "libopus"),
    ".avi": ("avi", ("mpeg4", "yuv420p"), None, "mp3"),
}


@dataclass
class Frame:
    """One decoded frame: uint8 RGB Shape(H, W, 3), its time in seconds, and when it was captured (perf_counter)."""

    rgb: np.ndarray
    t: float
    captured: float


def _av():
    return require("av", "video")


# ---------------------------------------------------------------- sources


class VideoFileSource:
    """Decode a video file with PyAV. A decode error mid-stream ends the frames with a warning (``truncated``)."""

    live = False

    def __init__(self, path):
        av = _av()
        self.path = Path(path)
        if not self.path.is_file():
            raise WsshmError(f"{self.path} does not exist" if not self.path.exists() else f"{self.path} is not a file")
        if self.path.stat().st_size == 0:
            raise WsshmError(f"{self.path} is empty (0 bytes)")
        try:
            self._container = av.open(str(self.path))
        except av.error.FFmpegError:
            raise WsshmError(f"{self.path} is not a readable video (corrupt, truncated or unsupported format)"
                             ) from None
        if not self._container.streams.video:
            self._container.close()
            raise WsshmError(f"{self.path} has no video stream")
        self._stream = self._container.streams.video[0]
        self._decoder = self._pick_decoder(av)
        self.fps = Fraction(self._stream.average_rate or self._stream.guessed_rate or DEFAULT_FPS)
        # Phones store portrait video as landscape frames plus a display rotation; the people in them are only
        # upright (as the model needs them) once the frames are turned as a player turns them.
        self.turns = self._display_turns(av)
        w, h = self._stream.width, self._stream.height
        try:
            check_pixels(str(self.path), w, h)  # a header declaring a giant frame is refused before any decode
        except WsshmError:
            self._container.close()
            raise
        self.size = (h, w) if self.turns % 2 else (w, h)
        self.frame_count = self._stream.frames or self._estimate_frames()
        self.has_audio = bool(self._container.streams.audio)
        self.truncated = False

    def _pick_decoder(self, av):
        """FFmpeg's native vp9 decoder drops the alpha side channel; libvpx-vp9 keeps it (needed to read our .webm)."""
        ctx = self._stream.codec_context
        if ctx is None:
            self._container.close()
            raise WsshmError(f"{self.path}: the video codec is not supported by this FFmpeg build")
        if ctx.name == "vp9" and self._stream.metadata.get("alpha_mode") == "1":
            dec = av.codec.CodecContext.create("libvpx-vp9", "r")
            dec.extradata = ctx.extradata
            return dec
        return ctx

    def _display_turns(self, av) -> int:
        """Quarter turns counter-clockwise (0-3) that the first frame's display matrix asks for."""
        try:
            with av.open(str(self.path)) as probe:
                for frame in probe.decode(video=0):
                    return round((frame.rotation or 0) / 90) % 4
        except (av.error.FFmpegError, AttributeError, TypeError, ValueError):
            pass  # an undecodable file is reported by the decoding loop, in its own words
        return 0

    def _estimate_frames(self) -> int | None:
        duration = self._duration()
        return round(duration * float(self.fps)) if duration else None

    def __iter__(self):
        av = _av()
        index, t, t0 = 0, 0.0, None
        try:
            for packet in self._container.demux(self._stream):
                if packet.size == 0 and self._decoder is not self._stream.codec_context:
                    continue  # the libvpx decoder is flushed below, not by the demuxer's empty packet
                for frame in self._decoder.decode(packet):
                    rgb = frame.to_ndarray(format="rgb24")
                    if self.turns:
                        rgb = np.ascontiguousarray(np.rot90(rgb, self.turns))
                    # The frame's own time: a variable frame rate keeps its timing (and the audio its sync).
                    t0 = frame.time if t0 is None and frame.time is not None else t0
                    t = frame.time - t0 if frame.time is not None else index / float(self.fps)
                    yield Frame(rgb, t, time.perf_counter())
                    index += 1
        except av.error.FFmpegError as exc:
            self.truncated = True
            if index:  # with no frame at all the run fails, and its error is the one line the user needs
                log.warning("wsshm-rt: %s: decoding stopped after %d frames (%s); keeping what was read",
                            self.path, index, exc)
            return
        self._check_complete(index, t)

    def _check_complete(self, index: int, t: float) -> None:
        """FFmpeg ends a cut-off file quietly; the header's duration is what tells that frames are missing. Judged by
        the last frame's time, not by a count from the average rate, which a variable frame rate makes wrong."""
        duration, step = self._duration(), 1 / float(self.fps)
        if duration and (index == 0 or t + 2 * step < 0.9 * duration):
            self.truncated = True
            if index:
                log.warning("wsshm-rt: %s: the frames read end at %.1f s of %.1f s (truncated file?)",
                            self.path, t + step, duration)

    def _duration(self) -> float | None:
        stream = self._stream
        if stream.duration and stream.time_base:
            return float(stream.duration * stream.time_base)
        return self._container.duration / 1e6 if self._container.duration else None

    def close(self) -> None:
        self._container.close()


class CameraSource:
    """Frames from a camera through cv2.VideoCapture; timestamps are wall-clock seconds since opening."""

    live = True
    has_audio = False
    truncated = False
    frame_count = None

    def __init__(self, index: int, size: tuple[int, int] | None = None):
        import cv2

        self.path = None
        with quiet_opencv():  # OpenCV prints backend warnings for a missing camera; our own message says it better
            self._cap = cv2.VideoCapture(index)
        if size and self._cap.isOpened():
            self._cap.set(cv2.CAP_PROP_FRAME_WIDTH, size[0])
            self._cap.set(cv2.CAP_PROP_FRAME_HEIGHT, size[1])
        ok, first = self._cap.read() if self._cap.isOpened() else (False, None)
        if not ok or first is None:
            self._cap.release()
            raise WsshmError(f"no camera found at index {index}; pass --source with another camera index, "
                             "a video file or a folder of images")
        self._first = first
        fps = self._cap.get(cv2.CAP_PROP_FPS)
        self.fps = Fraction(fps).limit_denominator(1001) if 1 <= fps <= 240 else Fraction(30)
        self.size = (first.shape[1], first.shape[0])
        self._t0 = time.perf_counter()

    def __iter__(self):
        import cv2

        bgr, self._first = self._first, None
        while bgr is not None or self._cap.isOpened():
            if bgr is None:
                ok, bgr = self._cap.read()
                if not ok:
                    log.warning("wsshm-rt: the camera stopped delivering frames")
                    return
            now = time.perf_counter()
            yield Frame(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), now - self._t0, now)
            bgr = None

    def close(self) -> None:
        self._cap.release()


class ImageFolderSource:
    """Frames from a folder (or glob) of images in name order, at a given frame rate."""

    live = False
    has_audio = False
    truncated = False

    def __init__(self, spec, fps: float | None = None):
        self.path = Path(spec)
        self._files = list_images(spec)
        first = load_image(self._files[0])
        self.size = (first.shape[1], first.shape[0])
        if fps is not None and not (math.isfinite(fps) and MIN_FPS <= fps <= MAX_FPS):
            raise WsshmError(f"--fps must be a frame rate from {MIN_FPS:g} to {MAX_FPS:g}, not {fps:g}")
        self.fps = Fraction(fps).limit_denominator(1001) if fps else DEFAULT_FPS
        self.frame_count = len(self._files)

    def __iter__(self):
        for i, f in enumerate(self._files):
            try:
                rgb = self._read(f)
            except WsshmError as exc:
                # Like a truncated video file: end the clip here and keep the frames before, not lose them all.
                self.truncated = True
                log.warning("wsshm-rt: %s; stopping after %d frames, which are kept", exc, i)
                return
            yield Frame(rgb, i / float(self.fps), time.perf_counter())

    def _read(self, path: Path) -> np.ndarray:
        rgb = load_image(path)
        if (rgb.shape[1], rgb.shape[0]) != self.size:
            raise WsshmError(f"{path} is {rgb.shape[1]}x{rgb.shape[0]} but the first image is "
                             f"{self.size[0]}x{self.size[1]}; all frames must have the same size")
        return rgb

    def close(self) -> None:
        pass


def open_source(spec, fps: float | None = None, camera_size: tuple[int, int] | None = None):
    """A camera index ('0', 0), a video file, or a folder/glob of images -> a frame source."""
    text = str(spec)
    if isinstance(spec, int) or text.isdigit():
        return CameraSource(int(text), camera_size)
    path = Path(text)
    if path.is_dir() or any(ch in text for ch in "*?["):
        return ImageFolderSource(text, fps)
    if not path.exists():
        raise WsshmError(f"{path} does not exist; pass a video file, a folder of images or a camera index")
    return VideoFileSource(path)


# ---------------------------------------------------------------- sinks


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
